package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distkit/distkit/breaker"
)

var errDown = errors.New("backend down")

// A breaker that opens after three consecutive failures and then fails fast.
func Example() {
	b, err := breaker.New(breaker.Config{
		ConsecutiveFailures: 3,
		OpenDuration:        time.Minute,
		OnStateChange: func(from, to breaker.State) {
			fmt.Printf("breaker %v -> %v\n", from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	// Close stops the open state's timer, whose hook would otherwise print
	// "open -> half-open" a minute from now, whatever the program is doing then.
	defer b.Close()
	backend := func(context.Context) error { return errDown }
	for i := range 5 {
		err := b.Execute(context.Background(), backend)
		fmt.Printf("call %d: %v (rejected: %t)\n", i, err, errors.Is(err, breaker.ErrRejected))
	}
	m := b.Metrics()
	fmt.Printf("calls %d, failures %d, rejections %d, trips %d\n", m.Calls, m.Failures, m.Rejections, m.TransitionsTo[breaker.StateOpen])
	// Output:
	// call 0: backend down (rejected: false)
	// call 1: backend down (rejected: false)
	// breaker closed -> open
	// call 2: backend down (rejected: false)
	// call 3: breaker: open (rejected: true)
	// call 4: breaker: open (rejected: true)
	// calls 3, failures 3, rejections 2, trips 1
}

// The two-step API: admit a call, run it however it runs, report how it went.
func ExampleBreaker_Allow() {
	b, _ := breaker.New(breaker.Config{})
	tok, err := b.Allow()
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... send the request ...
	tok.Done(nil)
	fmt.Println(b.State(), b.Metrics().Successes)
	// Output: closed 1
}

// Do returns the function's value with its error.
func ExampleDo() {
	b, _ := breaker.New(breaker.Config{})
	n, err := breaker.Do(context.Background(), b, func(context.Context) (int, error) {
		return 42, nil
	})
	fmt.Println(n, err)
	// Output: 42 <nil>
}

// A failure-rate breaker over the last 10 calls, which also trips when half of them take a
// second or more. Not-found answers are successes: the backend is healthy.
func ExampleConfig() {
	errNotFound := errors.New("not found")
	b, err := breaker.New(breaker.Config{
		FailureRate:      0.5,
		SlowCallRate:     0.5,
		SlowCallDuration: time.Second,
		WindowSize:       10,
		MinimumCalls:     4,
		Classify: func(err error) breaker.Outcome {
			if errors.Is(err, errNotFound) {
				return breaker.Success
			}
			return breaker.DefaultClassify(err)
		},
	})
	if err != nil {
		panic(err)
	}
	for _, e := range []error{errNotFound, errDown, nil, errDown} {
		_ = b.Execute(context.Background(), func(context.Context) error { return e })
	}
	fmt.Println(b.State(), b.Metrics().Window)
	// Output: open {4 2 0}
}

// Forcing states by hand, for maintenance windows or incident response.
func ExampleBreaker_ForceOpen() {
	b, _ := breaker.New(breaker.Config{})
	b.ForceOpen()
	fmt.Println(b.Execute(context.Background(), func(context.Context) error { return nil }))
	b.MetricsOnly()
	fmt.Println(b.State())
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// breaker: open
	// metrics-only
	// closed
}
