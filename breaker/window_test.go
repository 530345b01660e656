package breaker

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestTimeWindowMatchesNaive drives the time window with records and snapshots at times
// that jump forward by anything from nothing to many window lengths, and sometimes step
// back, against a list of every record: the window holds exactly the records whose bucket
// is among the last len(buckets) up to the newest bucket seen, a record from before the
// newest bucket counting in the newest one.
func TestTimeWindowMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		width := rapid.Int64Range(1, 1000).Draw(t, "width")
		n := rapid.IntRange(1, 12).Draw(t, "buckets")
		now := rapid.Int64Range(0, 1e6).Draw(t, "start")
		w := newTimeWindow(width, n, now)
		head := now / width
		type rec struct {
			epoch         int64
			failure, slow bool
		}
		var recs []rec
		naive := func() WindowCounts {
			var c WindowCounts
			for _, r := range recs {
				if r.epoch > head-int64(n) {
					c.Calls++
					if r.failure {
						c.Failures++
					}
					if r.slow {
						c.SlowCalls++
					}
				}
			}
			return c
		}
		for range rapid.IntRange(1, 100).Draw(t, "steps") {
			switch rapid.IntRange(0, 3).Draw(t, "move") {
			case 0: // stay
			case 1:
				now += rapid.Int64Range(1, 2*width).Draw(t, "small")
			case 2:
				now += rapid.Int64Range(0, 3*int64(n)*width).Draw(t, "large")
			case 3:
				now = max(0, now-rapid.Int64Range(1, 2*width).Draw(t, "back"))
			}
			head = max(head, now/width)
			if rapid.Bool().Draw(t, "record") {
				r := rec{epoch: head, failure: rapid.Bool().Draw(t, "failure"), slow: rapid.Bool().Draw(t, "slow")}
				recs = append(recs, r)
				require.Equal(t, naive(), w.record(now, r.failure, r.slow), "after record")
			} else {
				require.Equal(t, naive(), w.counts(now), "snapshot")
			}
		}
	})
}

// TestCountWindowConcurrentTotals records from several goroutines at once, wrapping the
// window many times: once they have returned, the running totals equal the slots' sum.
func TestCountWindowConcurrentTotals(t *testing.T) {
	for _, size := range []int{1, 3, 64} {
		w := newCountWindow(size)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 5000 {
					w.record(0, (i+g)%3 == 0, (i*g)%5 == 0)
				}
			})
		}
		wg.Wait()
		var want WindowCounts
		for i := range w.slots {
			v := w.slots[i].Load()
			if v&slotSet != 0 {
				want.Calls++
			}
			if v&slotFail != 0 {
				want.Failures++
			}
			if v&slotSlow != 0 {
				want.SlowCalls++
			}
		}
		require.Equal(t, size, want.Calls)
		require.Equal(t, want, w.counts(0), "window of %d", size)
	}
}
