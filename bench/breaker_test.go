package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distkit/distkit/breaker"
	"github.com/sony/gobreaker/v2"
)

// The breaker comparisons configure both sides alike: trip after consecutive failures (five
// for distkit; gobreaker's default ReadyToTrip trips above five), a 60 s open timeout, and a
// successful function that does nothing, so the figures are the breakers' own overhead.

var errBreakerTest = errors.New("bench: boom")

func breakerOK(context.Context) error { return nil }

func breakerNew(b *testing.B) *breaker.Breaker {
	br, err := breaker.New(breaker.Config{ConsecutiveFailures: 5, OpenDuration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func breakerGobreaker() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench", Timeout: time.Minute})
}

func breakerGobreakerOK() (struct{}, error) { return struct{}{}, nil }

func BenchmarkBreakerSuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("distkit", func(b *testing.B) {
		br := breakerNew(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, breakerOK); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := breakerGobreaker()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(breakerGobreakerOK); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBreakerSuccessParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("distkit", func(b *testing.B) {
		br := breakerNew(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.Execute(ctx, breakerOK); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := breakerGobreaker()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cb.Execute(breakerGobreakerOK); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkBreakerRejectOpen(b *testing.B) {
	ctx := context.Background()
	fail := func(context.Context) error { return errBreakerTest }
	b.Run("distkit", func(b *testing.B) {
		br := breakerNew(b)
		for range 5 {
			_ = br.Execute(ctx, fail)
		}
		if br.State() != breaker.StateOpen {
			b.Fatalf("state %v, want open", br.State())
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, breakerOK); !errors.Is(err, breaker.ErrOpen) {
				b.Fatalf("err %v, want ErrOpen", err)
			}
		}
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := breakerGobreaker()
		for range 6 {
			_, _ = cb.Execute(func() (struct{}, error) { return struct{}{}, errBreakerTest })
		}
		if cb.State() != gobreaker.StateOpen {
			b.Fatalf("state %v, want open", cb.State())
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(breakerGobreakerOK); !errors.Is(err, gobreaker.ErrOpenState) {
				b.Fatalf("err %v, want ErrOpenState", err)
			}
		}
	})
}

// BenchmarkBreakerTwoStep admits a call and reports its success in a separate step.
func BenchmarkBreakerTwoStep(b *testing.B) {
	b.Run("distkit", func(b *testing.B) {
		br := breakerNew(b)
		b.ReportAllocs()
		for b.Loop() {
			tok, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			tok.Done(nil)
		}
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench", Timeout: time.Minute})
		b.ReportAllocs()
		for b.Loop() {
			done, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
}

// BenchmarkBreakerTimeWindow trips on a 50% failure rate over a 10 s window of 1 s buckets,
// with at least 10 calls: gobreaker's rolling counts (BucketPeriod) with the rate computed in
// ReadyToTrip, against distkit's time-based window.
func BenchmarkBreakerTimeWindow(b *testing.B) {
	ctx := context.Background()
	b.Run("distkit", func(b *testing.B) {
		br, err := breaker.New(breaker.Config{
			FailureRate: 0.5, MinimumCalls: 10, WindowDuration: 10 * time.Second, WindowBuckets: 10, OpenDuration: time.Minute,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, breakerOK); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name: "bench", Interval: 10 * time.Second, BucketPeriod: time.Second, Timeout: time.Minute,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.Requests >= 10 && float64(c.TotalFailures) >= 0.5*float64(c.Requests)
			},
		})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(breakerGobreakerOK); err != nil {
				b.Fatal(err)
			}
		}
	})
}
