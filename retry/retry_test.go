package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func mustNew(t testing.TB, cfg Config) *Retrier {
	t.Helper()
	r, err := New(cfg)
	require.NoError(t, err)
	return r
}

var errBoom = errors.New("boom")

func TestConfigValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{MaxAttempts: Unlimited}.Validate())
	for _, cfg := range []Config{
		{MaxAttempts: -2}, {MaxElapsed: -1}, {AttemptTimeout: -1}, {MaxDelay: -1},
	} {
		err := cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		_, err = New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

func TestFirstTrySuccessCancelsFnContextOnReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got context.Context
		stopped := make(chan struct{})
		err := Do(t.Context(), func(ctx context.Context) error {
			got = ctx
			require.NoError(t, ctx.Err())
			// Work left behind by fn must learn that the call is over.
			go func() { <-ctx.Done(); close(stopped) }()
			return nil
		})
		require.NoError(t, err)
		<-stopped
		require.ErrorIs(t, got.Err(), context.Canceled)
		require.NoError(t, t.Context().Err())
	})
}

func TestFnContextWithoutDoneIsStillCancelled(t *testing.T) {
	var got context.Context
	require.NoError(t, Do(context.Background(), func(ctx context.Context) error { got = ctx; return nil }))
	require.ErrorIs(t, got.Err(), context.Canceled)
	select {
	case <-got.Done():
	default:
		t.Fatal("Done not closed after Do returned")
	}
}

type ctxKey struct{}

func TestFnContextCarriesParentValuesDeadlineAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.WithValue(t.Context(), ctxKey{}, "v"), time.Hour)
		defer cancel()
		err := Do(parent, func(ctx context.Context) error {
			require.Equal(t, "v", ctx.Value(ctxKey{}))
			dl, ok := ctx.Deadline()
			require.True(t, ok)
			require.Equal(t, time.Now().Add(time.Hour), dl)
			done := ctx.Done()
			cancel()
			<-done // the parent's cancellation reaches fn's context
			require.ErrorIs(t, ctx.Err(), context.Canceled)
			return ctx.Err()
		})
		var e *Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, 1, e.Attempts)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestAttemptsExhaustedNoSleepAfterLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var retries []int
		r := mustNew(t, Config{
			MaxAttempts: 4,
			Backoff:     Constant(time.Second),
			OnRetry:     func(n int, err error, d time.Duration) { retries = append(retries, n) },
		})
		start := time.Now()
		calls := 0
		err := r.Do(t.Context(), func(context.Context) error {
			calls++
			return fmt.Errorf("attempt %d: %w", calls, errBoom)
		})
		// Three waits of 1 s between four attempts, none after the last.
		require.Equal(t, 3*time.Second, time.Since(start))
		require.Equal(t, 4, calls)
		require.Equal(t, []int{1, 2, 3}, retries)
		require.ErrorIs(t, err, ErrAttemptsExhausted)
		require.ErrorIs(t, err, errBoom)
		var e *Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, 4, e.Attempts)
		require.Len(t, e.Errs, 4)
		require.EqualError(t, e.Last(), "attempt 4: boom")
		require.Contains(t, err.Error(), "after 4 attempts")
	})
}

func TestErrorsIsMatchesAnyAttempt(t *testing.T) {
	e1, e2, e3 := errors.New("e1"), errors.New("e2"), errors.New("e3")
	seq := []error{e1, e2, e3}
	i := 0
	r := mustNew(t, Config{Backoff: Constant(0)})
	err := r.Do(context.Background(), func(context.Context) error { i++; return seq[i-1] })
	for _, e := range seq {
		require.ErrorIs(t, err, e)
	}
}

func TestMaxElapsedClampsLastSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delays []time.Duration
		var at []time.Duration
		r := mustNew(t, Config{
			MaxAttempts: Unlimited,
			MaxElapsed:  2500 * time.Millisecond,
			Backoff:     Constant(time.Second),
			OnRetry:     func(_ int, _ error, d time.Duration) { delays = append(delays, d) },
		})
		start := time.Now()
		err := r.Do(t.Context(), func(context.Context) error {
			at = append(at, time.Since(start))
			return errBoom
		})
		require.ErrorIs(t, err, ErrElapsedExceeded)
		require.Equal(t, []time.Duration{0, time.Second, 2 * time.Second, 2500 * time.Millisecond}, at)
		require.Equal(t, []time.Duration{time.Second, time.Second, 500 * time.Millisecond}, delays)
	})
}

func TestMaxElapsedFromFirstFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, Config{
			MaxAttempts:             Unlimited,
			MaxElapsed:              time.Second,
			ElapsedFromFirstFailure: true,
			Backoff:                 Constant(time.Second),
		})
		calls := 0
		err := r.Do(t.Context(), func(context.Context) error {
			calls++
			if calls == 1 {
				time.Sleep(time.Hour) // a slow first attempt in virtual time
			}
			return errBoom
		})
		require.ErrorIs(t, err, ErrElapsedExceeded)
		require.Equal(t, 2, calls, "the slow first attempt still gets its retry")
	})
}

func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := mustNew(t, Config{MaxAttempts: 3, AttemptTimeout: 200 * time.Millisecond, Backoff: Constant(0)})
		start := time.Now()
		calls := 0
		err := r.Do(t.Context(), func(ctx context.Context) error {
			calls++
			<-ctx.Done()
			return ctx.Err()
		})
		require.Equal(t, 3, calls)
		require.Equal(t, 600*time.Millisecond, time.Since(start))
		require.ErrorIs(t, err, ErrAttemptsExhausted)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestRetryablePredicateAndPermanent(t *testing.T) {
	errFatal := errors.New("fatal")
	r := mustNew(t, Config{MaxAttempts: 5, Backoff: Constant(0), Retryable: func(err error) bool { return !errors.Is(err, errFatal) }})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error { calls++; return fmt.Errorf("wrapped: %w", errFatal) })
	require.Equal(t, 1, calls)
	require.ErrorIs(t, err, ErrNotRetryable)
	require.ErrorIs(t, err, errFatal)

	calls = 0
	err = r.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 2 {
			// Permanent is found however deeply it is wrapped.
			return fmt.Errorf("outer: %w", errors.Join(errors.New("x"), fmt.Errorf("inner: %w", Permanent(errBoom))))
		}
		return errors.New("transient")
	})
	require.Equal(t, 2, calls)
	require.ErrorIs(t, err, ErrPermanent)
	require.ErrorIs(t, err, errBoom)
	require.NoError(t, Permanent(nil))
}

func TestRetryAfterClamped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delays []time.Duration
		r := mustNew(t, Config{
			MaxAttempts: 4,
			MaxDelay:    5 * time.Second,
			MaxElapsed:  8 * time.Second,
			Backoff:     Constant(time.Millisecond),
			OnRetry:     func(_ int, _ error, d time.Duration) { delays = append(delays, d) },
		})
		hints := []time.Duration{2 * time.Second, time.Hour, time.Hour}
		calls := 0
		err := r.Do(t.Context(), func(context.Context) error {
			calls++
			if calls > len(hints) {
				return errBoom
			}
			return RetryAfter(hints[calls-1], errBoom)
		})
		// 2 s as asked; 1 h clamped to MaxDelay 5 s; then clamped to the 1 s left.
		require.Equal(t, []time.Duration{2 * time.Second, 5 * time.Second, time.Second}, delays)
		require.ErrorIs(t, err, ErrAttemptsExhausted)
		require.ErrorIs(t, err, errBoom)
		var ra *RetryAfterError
		require.ErrorAs(t, err, &ra)
	})
}

func TestCancelDuringSleepReturnsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r := mustNew(t, Config{
			Backoff: Constant(time.Hour), MaxAttempts: Unlimited,
			OnRetry: func(int, error, time.Duration) { t.Error("OnRetry fired for a retry that never happened") },
		})
		start := time.Now()
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		calls := 0
		err := r.Do(ctx, func(context.Context) error { calls++; return errBoom })
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		require.Equal(t, 1, calls)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, errBoom)
	})
}

func TestPanicInFnStillCancelsItsContext(t *testing.T) {
	var got context.Context
	require.Panics(t, func() {
		_ = Do(context.Background(), func(ctx context.Context) error {
			got = ctx
			_ = ctx.Done() // with a Done channel, the slow path of finish runs
			panic("boom")
		})
	})
	require.ErrorIs(t, got.Err(), context.Canceled)
	<-got.Done()
}

func TestDoValue(t *testing.T) {
	r := mustNew(t, Config{Backoff: Constant(0)})
	calls := 0
	v, err := DoValue(context.Background(), r, func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "bad", errBoom
		}
		return "ok", nil
	})
	require.NoError(t, err)
	require.Equal(t, "ok", v)
	v, err = DoValue(context.Background(), r, func(context.Context) (string, error) { return "bad", errBoom })
	require.Error(t, err)
	require.Equal(t, "", v)
}

func TestBudgetStopsRetries(t *testing.T) {
	b, err := NewTokenBucket(TokenBucketConfig{MaxTokens: 4, TokenRatio: 1})
	require.NoError(t, err)
	r := mustNew(t, Config{MaxAttempts: 10, Backoff: Constant(0), Budget: b})
	calls := 0
	err = r.Do(context.Background(), func(context.Context) error { calls++; return errBoom })
	// 4 tokens: the first failure leaves 3 (> 2, retry), the second 2 (stop).
	require.Equal(t, 2, calls)
	require.ErrorIs(t, err, ErrBudgetExhausted)
	require.NoError(t, r.Do(context.Background(), func(context.Context) error { return nil }))
	require.Equal(t, 3.0, b.Tokens())
}

// TestLoopMatchesModel drives Do with generated outcomes and checks the call
// count, the OnRetry numbering, the virtual time spent and the reason against
// a straightforward model of the specification.
func TestLoopMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		maxAttempts := rapid.IntRange(1, 8).Draw(rt, "maxAttempts")
		delay := time.Duration(rapid.IntRange(0, 3).Draw(rt, "delaySec")) * time.Second
		maxElapsed := time.Duration(rapid.IntRange(0, 12).Draw(rt, "maxElapsedSec")) * time.Second
		outcomes := rapid.SliceOfN(rapid.SampledFrom([]string{"ok", "fail", "perm"}), 1, 10).Draw(rt, "outcomes")

		// The model.
		var (
			wantCalls   int
			wantRetries []int
			wantTime    time.Duration
			wantReason  error
		)
		now := time.Duration(0)
		for i := 0; ; i++ {
			wantCalls++
			o := "fail"
			if i < len(outcomes) {
				o = outcomes[i]
			}
			if o == "ok" {
				break
			}
			if o == "perm" {
				wantReason = ErrPermanent
				break
			}
			if wantCalls >= maxAttempts {
				wantReason = ErrAttemptsExhausted
				break
			}
			d := delay
			if maxElapsed > 0 {
				left := maxElapsed - now
				if left <= 0 {
					wantReason = ErrElapsedExceeded
					break
				}
				d = min(d, left)
			}
			wantRetries = append(wantRetries, wantCalls)
			now += d
		}
		wantTime = now

		synctest.Test(t, func(t *testing.T) {
			var retries []int
			r := mustNew(t, Config{
				MaxAttempts: maxAttempts, MaxElapsed: maxElapsed, Backoff: Constant(delay),
				OnRetry: func(n int, _ error, _ time.Duration) { retries = append(retries, n) },
			})
			start := time.Now()
			calls := 0
			err := r.Do(t.Context(), func(context.Context) error {
				o := "fail"
				if calls < len(outcomes) {
					o = outcomes[calls]
				}
				calls++
				switch o {
				case "ok":
					return nil
				case "perm":
					return Permanent(errBoom)
				}
				return errBoom
			})
			require.Equal(t, wantCalls, calls)
			require.Equal(t, wantRetries, retries)
			require.Equal(t, wantTime, time.Since(start))
			if wantReason == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, wantReason)
				var e *Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, wantCalls, e.Attempts)
			}
		})
	})
}

func TestFirstTrySuccessDoesNotAllocate(t *testing.T) {
	r := mustNew(t, Config{})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	// One 63-slot slab is allocated per 63 calls; averaged over 6400 runs
	// that rounds to 0, and the test fails if anything else allocates.
	allocs := testing.AllocsPerRun(6400, func() { _ = r.Do(ctx, fn) })
	require.Zero(t, allocs)
}

func BenchmarkDoFirstTrySuccess(b *testing.B) {
	r := mustNew(b, Config{})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Do(ctx, fn)
	}
}

// BenchmarkDoFirstTrySuccessDone is the first-try success of an operation
// that asks for its context's Done channel, as an HTTP call does, under a
// cancellable parent: the slow path of the call's context.
func BenchmarkDoFirstTrySuccessDone(b *testing.B) {
	r := mustNew(b, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fn := func(ctx context.Context) error {
		_ = ctx.Done()
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Do(ctx, fn)
	}
}

func BenchmarkDoThreeFailuresThenSuccess(b *testing.B) {
	r := mustNew(b, Config{MaxAttempts: 4, Backoff: Constant(0)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_ = r.Do(ctx, func(context.Context) error {
			n++
			if n < 4 {
				return errBoom
			}
			return nil
		})
	}
}
