package breaker

import (
	"sync"
	"testing"

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
