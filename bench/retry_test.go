package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/distkit/distkit/retry"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
)

// BenchmarkRetrySuccess measures the cost a retry loop adds to a call whose
// first attempt succeeds, the common case in a healthy system. Every side is
// configured the same way as far as the libraries allow: at most 3 attempts,
// exponential backoff with jitter from 100 ms, the caller's context honoured.
// Each side uses its library's idiomatic entry point.
func BenchmarkRetrySuccess(b *testing.B) {
	ctx := context.Background()

	b.Run("distkit", func(b *testing.B) {
		r, err := retry.New(retry.Config{
			MaxAttempts: 3,
			Backoff:     retry.FullJitter(retry.Exponential(100*time.Millisecond, 10*time.Second)),
		})
		if err != nil {
			b.Fatal(err)
		}
		op := func(context.Context) error { return nil }
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, op); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("backoff", func(b *testing.B) {
		op := func() (struct{}, error) { return struct{}{}, nil }
		b.ReportAllocs()
		for b.Loop() {
			// backoff.Retry builds its default ExponentialBackOff (500 ms,
			// ±50% jitter) on every call: its state is not shareable.
			if _, err := backoff.Retry(ctx, op, backoff.WithMaxTries(3)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("retrygo", func(b *testing.B) {
		op := func() error { return nil }
		b.ReportAllocs()
		for b.Loop() {
			// The default delay is BackOffDelay plus RandomDelay from 100 ms.
			if err := retrygo.Do(op, retrygo.Context(ctx), retrygo.Attempts(3)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("failsafe", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[any]().
			WithMaxAttempts(3).
			WithBackoff(100*time.Millisecond, 10*time.Second).
			WithJitterFactor(0.5).
			Build()
		exec := failsafe.With[any](rp)
		op := func() error { return nil }
		b.ReportAllocs()
		for b.Loop() {
			if err := exec.WithContext(ctx).Run(op); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRetryThreeFailures measures the loop itself: three failures, then
// a success, with zero delay so that no time is spent sleeping.
func BenchmarkRetryThreeFailures(b *testing.B) {
	ctx := context.Background()
	errFlaky := errors.New("flaky")

	b.Run("distkit", func(b *testing.B) {
		r, err := retry.New(retry.Config{MaxAttempts: 4, Backoff: retry.Constant(0)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := r.Do(ctx, func(context.Context) error {
				if n++; n < 4 {
					return errFlaky
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("backoff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if _, err := backoff.Retry(ctx, func() (struct{}, error) {
				if n++; n < 4 {
					return struct{}{}, errFlaky
				}
				return struct{}{}, nil
			}, backoff.WithBackOff(&backoff.ZeroBackOff{}), backoff.WithMaxTries(4)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("retrygo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := retrygo.Do(func() error {
				if n++; n < 4 {
					return errFlaky
				}
				return nil
			}, retrygo.Context(ctx), retrygo.Attempts(4), retrygo.Delay(0), retrygo.DelayType(retrygo.FixedDelay)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("failsafe", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[any]().WithMaxAttempts(4).WithDelay(0).Build()
		exec := failsafe.With[any](rp)
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := exec.WithContext(ctx).Run(func() error {
				if n++; n < 4 {
					return errFlaky
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
