package breaker

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStaleReportsRacingReset reports failures admitted before a Reset concurrently with the
// Reset: none may count toward the new state's consecutive failures or window, whatever the
// interleaving. Each round checks the state left once every report has returned.
func TestStaleReportsRacingReset(t *testing.T) {
	const workers, rounds = 4, 2000
	b := mustNew(t, Config{ConsecutiveFailures: 1 << 30, FailureRate: 1, WindowSize: 1000, MinimumCalls: 1000})
	toks := make([]Token, workers)
	for r := range rounds {
		for i := range toks {
			tok, err := b.Allow()
			require.NoError(t, err)
			toks[i] = tok
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, tok := range toks {
			wg.Go(func() {
				<-start
				tok.Failure()
			})
		}
		close(start)
		b.Reset()
		wg.Wait()
		m := b.Metrics()
		// A report that saw the old word before the Reset may have landed in the old
		// window and counter; one that raced past the check must not reach the new ones.
		if m.ConsecutiveFailures != 0 || m.Window.Calls != 0 {
			b.Reset()
			require.Failf(t, "stale report counted after Reset", "round %d: consecutive %d, window %+v", r, m.ConsecutiveFailures, m.Window)
		}
	}
}

// TestUnknownOutcomeCountsAsIgnore checks that an outcome outside Success, Failure and Ignore,
// from Classify or Record, counts as Ignore everywhere: it used to break a run of consecutive
// failures like a success while Metrics counted it as ignored, and Record dropped it, leaking
// the token's half-open probe slot.
func TestUnknownOutcomeCountsAsIgnore(t *testing.T) {
	odd := errors.New("odd")
	b := mustNew(t, Config{ConsecutiveFailures: 2, OpenDuration: time.Second, Now: (&manualClock{now: time.Unix(0, 0)}).Now,
		Classify: func(err error) Outcome {
			if err == odd {
				return Outcome(9)
			}
			return DefaultClassify(err)
		}})
	ctx := context.Background()
	_ = b.Execute(ctx, fail)
	_ = b.Execute(ctx, func(context.Context) error { return odd })
	m := b.Metrics()
	require.Equal(t, uint64(1), m.Ignored)
	require.Equal(t, 1, m.ConsecutiveFailures, "an unknown outcome must not break the run")
	_ = b.Execute(ctx, fail)
	require.Equal(t, StateOpen, b.State())
}

func TestRecordUnknownOutcomeReleasesProbe(t *testing.T) {
	clock := &manualClock{now: time.Unix(0, 0)}
	b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Second, Now: clock.Now})
	_ = b.Execute(context.Background(), fail)
	clock.advance(time.Second)
	tok, err := b.Allow()
	require.NoError(t, err)
	require.Equal(t, StateHalfOpen, b.State())
	tok.Record(Outcome(9))
	require.Equal(t, 0, b.Metrics().HalfOpenInFlight)
	_, err = b.Allow()
	require.NoError(t, err, "the probe slot was released")
}

// TestHalfOpenCapAcrossCycles admits and reports probes from several goroutines while
// the breaker cycles through open and half-open: per half-open period, the probes in flight
// never exceed HalfOpenProbes, and once all reports have returned none is left counted.
func TestHalfOpenCapAcrossCycles(t *testing.T) {
	const probes = 3
	clock := &manualClock{now: time.Unix(0, 0)}
	b := mustNew(t, Config{ConsecutiveFailures: 1, OpenDuration: time.Millisecond, HalfOpenProbes: probes, HalfOpenSuccesses: 5, Now: clock.Now})
	var mu sync.Mutex
	inFlight := map[uint64]int{} // by state word: half-open probes admitted and not yet reported
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				if i%7 == g {
					clock.advance(time.Millisecond)
				}
				tok, err := b.Allow()
				if err != nil {
					continue
				}
				probe := wordState(tok.word) == StateHalfOpen
				if probe {
					mu.Lock()
					inFlight[tok.word]++
					n := inFlight[tok.word]
					mu.Unlock()
					if n > probes {
						t.Errorf("%d probes in flight", n)
						return
					}
					mu.Lock()
					inFlight[tok.word]--
					mu.Unlock()
				}
				tok.Record(Outcome((i + g) % 3))
			}
		})
	}
	wg.Wait()
	require.Greater(t, b.Metrics().TransitionsTo[StateHalfOpen], uint64(10), "the breaker cycled")
	if b.State() == StateHalfOpen {
		require.Equal(t, 0, b.Metrics().HalfOpenInFlight)
	}
}

// TestConsecutiveFailuresBound checks that Validate rejects a run longer than the packed
// counter can hold, which would silently never trip.
func TestConsecutiveFailuresBound(t *testing.T) {
	require.NoError(t, (&Config{ConsecutiveFailures: int(min(int64(math.MaxInt), MaxConsecutiveFailures))}).Validate())
	big := int64(MaxConsecutiveFailures) + 1
	if int64(int(big)) != big {
		t.Skip("int cannot exceed the bound on this platform")
	}
	require.ErrorIs(t, (&Config{ConsecutiveFailures: int(big)}).Validate(), ErrInvalidConfig)
}
