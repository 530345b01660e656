package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distkit/distkit/retry"
)

func ExampleRetrier_Do() {
	r, err := retry.New(retry.Config{
		MaxAttempts: 5,
		Backoff:     retry.Constant(time.Millisecond),
		OnRetry: func(n int, err error, _ time.Duration) {
			fmt.Printf("retry %d after: %v\n", n, err)
		},
	})
	if err != nil {
		panic(err)
	}
	calls := 0
	err = r.Do(context.Background(), func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("flaky call %d", calls)
		}
		return nil
	})
	fmt.Println("err:", err, "calls:", calls)
	// Output:
	// retry 1 after: flaky call 1
	// retry 2 after: flaky call 2
	// err: <nil> calls: 3
}

func ExampleError() {
	errUnavailable := errors.New("unavailable")
	r, _ := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant(0)})
	err := r.Do(context.Background(), func(context.Context) error { return errUnavailable })

	var e *retry.Error
	if errors.As(err, &e) {
		fmt.Println("attempts:", e.Attempts)
	}
	fmt.Println(errors.Is(err, retry.ErrAttemptsExhausted), errors.Is(err, errUnavailable))
	fmt.Println(err)
	// Output:
	// attempts: 3
	// true true
	// retry: attempts exhausted after 3 attempts: unavailable
}

func ExamplePermanent() {
	r, _ := retry.New(retry.Config{MaxAttempts: 10, Backoff: retry.Constant(0)})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error {
		calls++
		return fmt.Errorf("request rejected: %w", retry.Permanent(errors.New("bad request")))
	})
	fmt.Println(calls, errors.Is(err, retry.ErrPermanent))
	// Output: 1 true
}

func ExampleDoValue() {
	r, _ := retry.New(retry.Config{Backoff: retry.Constant(0)})
	calls := 0
	v, err := retry.DoValue(context.Background(), r, func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("cold cache")
		}
		return 42, nil
	})
	fmt.Println(v, err)
	// Output: 42 <nil>
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	d, ok := retry.ParseRetryAfter("120", now)
	fmt.Println(d, ok)
	d, ok = retry.ParseRetryAfter("Fri, 27 Nov 2026 18:00:30 GMT", now)
	fmt.Println(d, ok)
	header := map[string][]string{"Retry-After": {"Friday, 27-Nov-26 18:01:00 GMT"}} // an http.Header works too
	d, ok = retry.HeaderRetryAfter(header, now)
	fmt.Println(d, ok)
	_, ok = retry.ParseRetryAfter("soon", now)
	fmt.Println(ok)
	// Output:
	// 2m0s true
	// 30s true
	// 1m0s true
	// false
}

func ExampleExponential() {
	s := retry.Exponential(100*time.Millisecond, time.Second)
	for n := range 6 {
		fmt.Print(s.Delay(n, 0), " ")
	}
	fmt.Println()
	// Output: 100ms 200ms 400ms 800ms 1s 1s
}

func ExampleRatioBudget() {
	// 20% of requests plus 1 retry per second, over a 10 s window.
	b, _ := retry.NewRatioBudget(retry.RatioBudgetConfig{Percent: 0.2, MinPerSecond: 1, TTL: 10 * time.Second})
	for range 100 {
		b.Request()
	}
	fmt.Println(b.Available())
	// Output: 30
}

func ExampleTokenBucket() {
	b, _ := retry.NewTokenBucket(retry.TokenBucketConfig{MaxTokens: 10, TokenRatio: 0.1})
	allowed := 0
	for b.Withdraw() { // a burst of failures drains the bucket to half
		allowed++
	}
	fmt.Println(allowed, b.Tokens())
	// Output: 4 5
}
