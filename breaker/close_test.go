package breaker

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCloseStopsTimer checks that once Close returns no hook runs in the background: the
// open timer is stopped, the open state then ends on the first call after the wait (on the
// caller's goroutine, which runs the hook), and Close is idempotent.
func TestCloseStopsTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []transition
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, OnStateChange: func(from, to State) {
			mu.Lock()
			seen = append(seen, transition{from, to})
			mu.Unlock()
		}})
		hooks := func() []transition {
			mu.Lock()
			defer mu.Unlock()
			return append([]transition(nil), seen...)
		}
		_ = b.Execute(context.Background(), fail)
		require.NoError(t, b.Close())
		require.NoError(t, b.Close(), "Close is idempotent")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Equal(t, []transition{{StateClosed, StateOpen}}, hooks(), "no hook after Close returned")
		// The breaker still works: the open wait has elapsed, so the next call is a probe.
		require.NoError(t, b.Execute(context.Background(), ok))
		require.Equal(t, StateClosed, b.State())
		require.Equal(t, []transition{{StateClosed, StateOpen}, {StateOpen, StateHalfOpen}, {StateHalfOpen, StateClosed}}, hooks())
		// Tripping after Close arms no timer; a call before the wait is still rejected.
		_ = b.Execute(context.Background(), fail)
		time.Sleep(time.Second - 1)
		_, err := b.Allow()
		require.ErrorIs(t, err, ErrOpen)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, hooks(), 4, "no timer after Close")
		require.Equal(t, StateHalfOpen, b.State())
	})
}

// TestCloseWaitsForTimerHook checks that Close waits for a hook the open timer is
// delivering, so that the hook cannot run after Close returns.
func TestCloseWaitsForTimerHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{})
		release := make(chan struct{})
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, OnStateChange: func(from, to State) {
			if to == StateHalfOpen {
				close(entered)
				<-release
			}
		}})
		_ = b.Execute(context.Background(), fail)
		time.Sleep(time.Second)
		<-entered // the timer's goroutine is in the hook
		closed := make(chan struct{})
		go func() {
			_ = b.Close()
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while the timer's hook was running")
		default:
		}
		close(release)
		<-closed
		require.Equal(t, StateHalfOpen, b.State())
	})
}

// TestTransitionsByState checks the per-state transition counts.
func TestTransitionsByState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second})
		defer func() { _ = b.Close() }()
		_ = b.Execute(context.Background(), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		_ = b.Execute(context.Background(), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.NoError(t, b.Execute(context.Background(), ok))
		b.ForceOpen()
		b.Disable()
		b.MetricsOnly()
		b.Reset()
		m := b.Metrics()
		require.Equal(t, [StateMetricsOnly + 1]uint64{
			StateClosed: 2, StateOpen: 2, StateHalfOpen: 2, StateForcedOpen: 1, StateDisabled: 1, StateMetricsOnly: 1,
		}, m.TransitionsTo)
		require.Equal(t, uint64(9), m.Transitions)
	})
}

// TestCloseRacingTransitions closes a breaker while goroutines trip it and its timer ends
// the open state: the race detector checks the handover, and once Close has returned no
// hook may run unless a caller's own call caused it.
func TestCloseRacingTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inCall := 0 // goroutines inside a call of the breaker
		closed := false
		b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Millisecond, OnStateChange: func(from, to State) {
			mu.Lock()
			defer mu.Unlock()
			if closed && inCall == 0 {
				t.Errorf("hook %v -> %v ran in the background after Close", from, to)
			}
		}})
		call := func(fn func(context.Context) error) {
			mu.Lock()
			inCall++
			mu.Unlock()
			_ = b.Execute(context.Background(), fn)
			mu.Lock()
			inCall--
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 200 {
					if (i+g)%3 == 0 {
						call(fail)
					} else {
						call(ok)
					}
					time.Sleep(time.Duration(g+1) * 300 * time.Microsecond)
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, b.Close())
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
	})
}
