package breaker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

var errBoom = errors.New("boom")

func ok(context.Context) error   { return nil }
func fail(context.Context) error { return errBoom }

func mustNew(t *testing.T, cfg Config) *Breaker {
	t.Helper()
	b, err := New(cfg)
	require.NoError(t, err)
	return b
}

func TestValidate(t *testing.T) {
	var zero Config
	require.NoError(t, zero.Validate())
	bad := []Config{
		{ConsecutiveFailures: -1},
		{FailureRate: 1.5},
		{FailureRate: -0.1},
		{SlowCallRate: 2},
		{SlowCallRate: 0.5},
		{SlowCallDuration: -1},
		{WindowSize: -1},
		{WindowDuration: -time.Second},
		{WindowDuration: 5, WindowBuckets: 10},
		{WindowBuckets: -1},
		{MinimumCalls: -1},
		{WindowSize: 5, MinimumCalls: 6},
		{OpenDuration: -1},
		{MaxOpenDuration: -1},
		{OpenDuration: time.Minute, MaxOpenDuration: time.Second},
		{OpenBackoff: 0.5},
		{OpenJitter: 1},
		{OpenJitter: -0.1},
		{HalfOpenProbes: -1},
		{HalfOpenSuccesses: -1},
	}
	for _, cfg := range bad {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			before := cfg
			err := cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Equal(t, fmt.Sprintf("%+v", before), fmt.Sprintf("%+v", cfg), "Validate mutated the config")
			_, err = New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestConsecutiveFailuresTrip(t *testing.T) {
	b := mustNew(t, Config{ConsecutiveFailures: 3})
	ctx := context.Background()
	require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	require.NoError(t, b.Execute(ctx, ok), "a success resets the run")
	require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	require.Equal(t, StateClosed, b.State())
	require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	require.Equal(t, StateOpen, b.State())
	err := b.Execute(ctx, ok)
	require.ErrorIs(t, err, ErrOpen)
	require.ErrorIs(t, err, ErrRejected)
	m := b.Metrics()
	require.Equal(t, uint64(6), m.Calls)
	require.Equal(t, uint64(5), m.Failures)
	require.Equal(t, uint64(1), m.Rejections)
	require.Equal(t, uint64(1), m.Transitions)
}

func TestDefaultConfigTripsAfterFiveFailures(t *testing.T) {
	b := mustNew(t, Config{})
	for range DefaultConsecutiveFailures - 1 {
		_ = b.Execute(context.Background(), fail)
	}
	require.Equal(t, StateClosed, b.State())
	_ = b.Execute(context.Background(), fail)
	require.Equal(t, StateOpen, b.State())
}

func TestCountWindowFailureRate(t *testing.T) {
	b := mustNew(t, Config{FailureRate: 0.5, WindowSize: 4, MinimumCalls: 4})
	ctx := context.Background()
	// Three failures out of three calls: above the rate but below the minimum.
	for range 3 {
		_ = b.Execute(ctx, fail)
	}
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, WindowCounts{Calls: 3, Failures: 3}, b.Metrics().Window)
	require.NoError(t, b.Execute(ctx, ok))
	require.Equal(t, StateOpen, b.State(), "3 of 4 failed")
}

func TestCountWindowSlides(t *testing.T) {
	b := mustNew(t, Config{FailureRate: 0.75, WindowSize: 4, MinimumCalls: 4})
	ctx := context.Background()
	_ = b.Execute(ctx, fail)
	for range 4 {
		require.NoError(t, b.Execute(ctx, ok))
	}
	// The failure has slid out of the window.
	require.Equal(t, WindowCounts{Calls: 4}, b.Metrics().Window)
	_ = b.Execute(ctx, fail)
	_ = b.Execute(ctx, fail)
	require.Equal(t, WindowCounts{Calls: 4, Failures: 2}, b.Metrics().Window)
	require.Equal(t, StateClosed, b.State())
	_ = b.Execute(ctx, fail)
	require.Equal(t, StateOpen, b.State())
}

func TestTimeWindowFailureRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Config{FailureRate: 0.5, WindowDuration: 10 * time.Second, WindowBuckets: 10, MinimumCalls: 3})
		ctx := context.Background()
		_ = b.Execute(ctx, fail)
		_ = b.Execute(ctx, fail)
		time.Sleep(10 * time.Second)
		// Both failures have expired; the window is empty.
		require.Equal(t, WindowCounts{}, b.Metrics().Window)
		require.NoError(t, b.Execute(ctx, ok))
		require.NoError(t, b.Execute(ctx, ok))
		_ = b.Execute(ctx, fail)
		require.Equal(t, StateClosed, b.State(), "1 of 3 failed")
		time.Sleep(time.Second)
		_ = b.Execute(ctx, fail)
		require.Equal(t, StateOpen, b.State(), "2 of 4 failed")
	})
}

func TestSlowCallRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Config{SlowCallRate: 0.5, SlowCallDuration: time.Second, WindowSize: 4, MinimumCalls: 2})
		slow := func(context.Context) error { time.Sleep(time.Second); return nil }
		ctx := context.Background()
		require.NoError(t, b.Execute(ctx, ok))
		require.NoError(t, b.Execute(ctx, slow))
		m := b.Metrics()
		require.Equal(t, uint64(1), m.SlowCalls)
		require.Equal(t, StateOpen, m.State, "1 of 2 calls slow")
	})
}

func TestHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, HalfOpenProbes: 2, HalfOpenSuccesses: 3})
		_ = b.Execute(context.Background(), fail)
		require.Equal(t, StateOpen, b.State())
		time.Sleep(time.Second - 1)
		synctest.Wait()
		require.Equal(t, StateOpen, b.State(), "one nanosecond early")
		_, err := b.Allow()
		require.ErrorIs(t, err, ErrOpen)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Equal(t, StateHalfOpen, b.State())

		p1, err := b.Allow()
		require.NoError(t, err)
		p2, err := b.Allow()
		require.NoError(t, err)
		_, err = b.Allow()
		require.ErrorIs(t, err, ErrProbeLimit)
		require.ErrorIs(t, err, ErrRejected)
		require.Equal(t, 2, b.Metrics().HalfOpenInFlight)
		p1.Success()
		p2.Ignore()
		require.Equal(t, 0, b.Metrics().HalfOpenInFlight)
		p3, err := b.Allow()
		require.NoError(t, err)
		p3.Success()
		require.Equal(t, StateHalfOpen, b.State(), "two of three successes")
		p4, err := b.Allow()
		require.NoError(t, err)
		p4.Success()
		require.Equal(t, StateClosed, b.State())
	})
}

func TestHalfOpenFailureReopensWithGrowingWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, MaxOpenDuration: 5 * time.Second, OpenBackoff: 2})
		ctx := context.Background()
		_ = b.Execute(ctx, fail)
		for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
			start := time.Now()
			for b.State() == StateOpen {
				time.Sleep(time.Millisecond)
				synctest.Wait()
			}
			require.Equal(t, wait, time.Since(start).Truncate(time.Millisecond))
			_ = b.Execute(ctx, fail) // the probe fails: open again, for longer
		}
		for b.State() == StateOpen {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		require.NoError(t, b.Execute(ctx, ok))
		require.Equal(t, StateClosed, b.State())
		// Closing resets the backoff.
		_ = b.Execute(ctx, fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, StateHalfOpen, b.State())
	})
}

func TestOpenJitterIsSeededAndBounded(t *testing.T) {
	waits := func(seed uint64) []time.Duration {
		var out []time.Duration
		clock := &manualClock{now: time.Unix(0, 0)}
		b := mustNew(t, Config{
			ConsecutiveFailures: 1, OpenDuration: time.Second, MaxOpenDuration: 8 * time.Second,
			OpenJitter: 0.5, Rand: rand.New(rand.NewPCG(seed, 1)), Now: clock.Now,
		})
		_ = b.Execute(context.Background(), fail)
		for i := range 6 {
			d := time.Duration(0)
			for b.State() == StateOpen {
				clock.advance(time.Millisecond)
				d += time.Millisecond
			}
			full := min(time.Second<<i, 8*time.Second)
			require.GreaterOrEqual(t, d, full/2, "wait %d below its jitter bound", i)
			require.LessOrEqual(t, d, full, "wait %d above its cap", i)
			out = append(out, d)
			_ = b.Execute(context.Background(), fail)
		}
		return out
	}
	require.Equal(t, waits(7), waits(7), "same seed, same waits")
	require.NotEqual(t, waits(7), waits(8))
}

func TestInjectedClockEndsOpenLazily(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Minute, Now: clock.Now})
	_ = b.Execute(context.Background(), fail)
	clock.advance(time.Minute - 1)
	_, err := b.Allow()
	require.ErrorIs(t, err, ErrOpen)
	clock.advance(1)
	tok, err := b.Allow()
	require.NoError(t, err, "the wait has elapsed: this call is the probe")
	require.Equal(t, StateHalfOpen, b.State())
	tok.Success()
	require.Equal(t, StateClosed, b.State())
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	t.Run("default ignores cancellation", func(t *testing.T) {
		b := mustNew(t, Config{ConsecutiveFailures: 1})
		err := b.Execute(ctx, func(context.Context) error { return fmt.Errorf("call: %w", context.Canceled) })
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, StateClosed, b.State())
		m := b.Metrics()
		require.Equal(t, uint64(1), m.Ignored)
		require.Equal(t, uint64(1), m.Calls)
		_ = b.Execute(ctx, func(context.Context) error { return context.DeadlineExceeded })
		require.Equal(t, StateOpen, b.State(), "a deadline is a failure")
	})
	t.Run("custom", func(t *testing.T) {
		notFound := errors.New("not found")
		b := mustNew(t, Config{ConsecutiveFailures: 1, Classify: func(err error) Outcome {
			if errors.Is(err, notFound) {
				return Success // the dependency answered
			}
			return DefaultClassify(err)
		}})
		require.ErrorIs(t, b.Execute(ctx, func(context.Context) error { return notFound }), notFound)
		require.Equal(t, StateClosed, b.State())
		require.Equal(t, uint64(1), b.Metrics().Successes)
	})
	require.Equal(t, Success, DefaultClassify(nil))
	require.Equal(t, Failure, DefaultClassify(errBoom))
	require.Equal(t, Ignore, DefaultClassify(context.Canceled))
}

func TestExecuteAndDo(t *testing.T) {
	b := mustNew(t, Config{ConsecutiveFailures: 1})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, b.Execute(canceled, ok), context.Canceled)
	_, err := Do(canceled, b, func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, uint64(0), b.Metrics().Calls, "a done context is refused before admission")

	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	v, err := Do(ctx, b, func(ctx context.Context) (string, error) { return ctx.Value(key{}).(string), nil })
	require.NoError(t, err)
	require.Equal(t, "v", v)

	v, err = Do(ctx, b, func(context.Context) (string, error) { return "partial", errBoom })
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, "partial", v)
	v, err = Do(ctx, b, func(context.Context) (string, error) { return "x", nil })
	require.ErrorIs(t, err, ErrOpen)
	require.Equal(t, "", v)
}

func TestPanicCountsAsFailure(t *testing.T) {
	b := mustNew(t, Config{ConsecutiveFailures: 1})
	require.PanicsWithValue(t, "kaboom", func() {
		_ = b.Execute(context.Background(), func(context.Context) error { panic("kaboom") })
	})
	require.Equal(t, StateOpen, b.State())
	b.Reset()
	require.Panics(t, func() {
		_, _ = Do(context.Background(), b, func(context.Context) (int, error) { panic("kaboom") })
	})
	require.Equal(t, StateOpen, b.State())
}

func TestManualStates(t *testing.T) {
	ctx := context.Background()
	b := mustNew(t, Config{ConsecutiveFailures: 1})

	b.ForceOpen()
	require.Equal(t, StateForcedOpen, b.State())
	require.ErrorIs(t, b.Execute(ctx, ok), ErrOpen)

	b.Disable()
	require.Equal(t, StateDisabled, b.State())
	before := b.Metrics()
	for range 10 {
		require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	}
	after := b.Metrics()
	require.Equal(t, StateDisabled, after.State, "disabled never trips")
	require.Equal(t, before.Calls, after.Calls, "disabled records nothing")

	b.MetricsOnly()
	for range 10 {
		require.ErrorIs(t, b.Execute(ctx, fail), errBoom)
	}
	m := b.Metrics()
	require.Equal(t, StateMetricsOnly, m.State, "metrics-only never trips")
	require.Equal(t, uint64(10), m.Failures-after.Failures)
	require.Equal(t, 10, m.ConsecutiveFailures)

	b.Reset()
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, 0, b.Metrics().ConsecutiveFailures)
	_ = b.Execute(ctx, fail)
	require.Equal(t, StateOpen, b.State())
}

func TestStaleTokensDoNotCount(t *testing.T) {
	b := mustNew(t, Config{ConsecutiveFailures: 2})
	stale, err := b.Allow()
	require.NoError(t, err)
	_ = b.Execute(context.Background(), fail)
	b.Reset()
	stale.Failure() // admitted before the reset: it must not count toward the new run
	_ = b.Execute(context.Background(), fail)
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, uint64(3), b.Metrics().Failures, "the lifetime metrics still count it")
	var zero Token
	zero.Done(errBoom) // the zero token ignores reports
	zero.Success()
	zero.Failure()
	zero.Ignore()
	zero.Record(Failure)
}

func TestHookOutsideLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b *Breaker
		var mu sync.Mutex
		var seen []string
		b = mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, OnStateChange: func(from, to State) {
			// Each of these takes the breaker's locks: a hook run under a lock deadlocks here.
			m := b.Metrics()
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%v->%v state=%v metrics=%v", from, to, b.State(), m.State))
			if to == StateHalfOpen {
				b.ForceOpen() // a transition from inside a hook is delivered after this one
			}
		}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = b.Execute(context.Background(), fail)
			time.Sleep(time.Second)
		}()
		<-done
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []string{
			"closed->open state=open metrics=open",
			"open->half-open state=half-open metrics=half-open",
			"half-open->forced-open state=forced-open metrics=forced-open",
		}, seen)
	})
}

func TestHookPanicDoesNotWedgeDelivery(t *testing.T) {
	calls := 0
	b := mustNew(t, Config{ConsecutiveFailures: 1, OnStateChange: func(from, to State) {
		calls++
		if calls == 1 {
			panic("hook")
		}
	}})
	require.Panics(t, func() { _ = b.Execute(context.Background(), fail) })
	b.Reset()
	require.Equal(t, 2, calls)
}

func TestZeroAllocations(t *testing.T) {
	ctx := context.Background()
	b := mustNew(t, Config{})
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Execute(ctx, ok) }))
	require.Zero(t, testing.AllocsPerRun(100, func() {
		tok, err := b.Allow()
		if err == nil {
			tok.Done(nil)
		}
	}))
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = Do(ctx, b, func(context.Context) (int, error) { return 1, nil }) }))
	w := mustNew(t, Config{FailureRate: 0.5, SlowCallRate: 0.5, SlowCallDuration: time.Second})
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = w.Execute(ctx, ok) }))
	tw := mustNew(t, Config{FailureRate: 0.5, WindowDuration: time.Second})
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = tw.Execute(ctx, ok) }))
	b.ForceOpen()
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Execute(ctx, ok) }))
}

// TestConcurrentMetricsAddUp runs many goroutines through one breaker; under -race this also
// checks the lock-free paths for data races. Whatever the interleaving, every attempt is
// either rejected or reported exactly once.
func TestConcurrentMetricsAddUp(t *testing.T) {
	for _, cfg := range []Config{
		{ConsecutiveFailures: 3, OpenDuration: time.Millisecond, HalfOpenProbes: 2},
		{FailureRate: 0.3, WindowSize: 20, OpenDuration: time.Millisecond, HalfOpenProbes: 3},
		{FailureRate: 0.3, WindowDuration: time.Second, OpenDuration: time.Millisecond},
	} {
		t.Run("", func(t *testing.T) {
			b := mustNew(t, cfg)
			const workers, per = 8, 500
			var admitted, rejected atomic.Uint64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 0))
					for range per {
						err := b.Execute(context.Background(), func(context.Context) error {
							admitted.Add(1)
							if r.IntN(4) == 0 {
								return errBoom
							}
							return nil
						})
						if errors.Is(err, ErrRejected) {
							rejected.Add(1)
						}
					}
				})
			}
			wg.Wait()
			m := b.Metrics()
			require.Equal(t, admitted.Load(), m.Calls)
			require.Equal(t, rejected.Load(), m.Rejections)
			require.Equal(t, uint64(workers*per), m.Calls+m.Rejections)
			if cfg.WindowSize > 0 {
				require.LessOrEqual(t, m.Window.Calls, cfg.WindowSize)
			}
		})
	}
}

func TestStringers(t *testing.T) {
	require.Equal(t, "half-open", StateHalfOpen.String())
	require.Equal(t, "metrics-only", StateMetricsOnly.String())
	require.Equal(t, "state(9)", State(9).String())
	require.Equal(t, "ignore", Ignore.String())
	require.Equal(t, "outcome(7)", Outcome(7).String())
	require.Equal(t, "breaker: open", ErrOpen.Error())
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	b := mustNew(t, Config{Name: "db", ConsecutiveFailures: 1, Logger: logger})
	_ = b.Execute(context.Background(), fail)
	require.Equal(t, "level=INFO msg=\"breaker state change\" name=db from=closed to=open\n", buf.String())
}

func TestHalfOpenCapUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const probes, callers = 3, 32
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, HalfOpenProbes: probes, HalfOpenSuccesses: 100})
		_ = b.Execute(context.Background(), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, StateHalfOpen, b.State())
		release := make(chan struct{})
		var inFlight, peak atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range 20 {
					_ = b.Execute(context.Background(), func(context.Context) error {
						n := inFlight.Add(1)
						for {
							p := peak.Load()
							if n <= p || peak.CompareAndSwap(p, n) {
								break
							}
						}
						<-release
						inFlight.Add(-1)
						return nil
					})
				}
			})
		}
		synctest.Wait()
		require.Equal(t, int64(probes), inFlight.Load(), "the cap is filled")
		close(release)
		wg.Wait()
		require.Equal(t, int64(probes), peak.Load(), "and never exceeded")
		require.Equal(t, StateHalfOpen, b.State())
		require.Equal(t, 0, b.Metrics().HalfOpenInFlight)
	})
}
