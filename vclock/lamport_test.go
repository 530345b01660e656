package vclock

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestLamportTable(t *testing.T) {
	var l Lamport
	require.Equal(t, uint64(0), l.Time())
	require.Equal(t, uint64(1), l.Tick())
	got, err := l.Observe(10)
	require.NoError(t, err)
	require.Equal(t, uint64(11), got, "receive is after the remote event")
	got, err = l.Observe(3)
	require.NoError(t, err)
	require.Equal(t, uint64(12), got, "an old remote time still ticks")
	require.Equal(t, LamportTime{13, "r"}, l.Stamp("r"))
	_, err = l.Observe(MaxLamportTime + 1)
	require.ErrorIs(t, err, ErrOutOfRange)
	require.Equal(t, uint64(13), l.Time())
}

func TestLamportTimeTotalOrder(t *testing.T) {
	stamps := []LamportTime{{2, "b"}, {1, "z"}, {2, "a"}, {1, "a"}}
	slices.SortFunc(stamps, LamportTime.Compare)
	require.Equal(t, []LamportTime{{1, "a"}, {1, "z"}, {2, "a"}, {2, "b"}}, stamps)
	require.True(t, LamportTime{1, "z"}.Less(LamportTime{2, "a"}))
	require.Equal(t, "2@a", LamportTime{2, "a"}.String())
}

// TestLamportHappenedBefore runs random executions of replicas exchanging
// messages and checks the clock condition against explicit causal
// histories: if e happened before f then L(e) < L(f), and stamps with replica
// tie breaks never collide.
func TestLamportHappenedBefore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 4).Draw(t, "replicas")
		ids := replicaIDs(n)
		clocks := make([]Lamport, n)
		hist := make([]history, n) // events each replica has seen
		for i := range hist {
			hist[i] = history{}
		}
		type event struct {
			stamp LamportTime
			past  history // events that happened before it
		}
		var events []event
		type msg struct {
			to   int
			time uint64
			past history
		}
		var inflight []msg
		seq := make([]uint64, n)
		newEvent := func(i int, s LamportTime) {
			seq[i]++
			events = append(events, event{s, hist[i].clone()})
			hist[i][Dot{ids[i], seq[i]}] = true
		}
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "replica")
			if len(inflight) > 0 && rapid.Bool().Draw(t, "receive") {
				k := rapid.IntRange(0, len(inflight)-1).Draw(t, "message")
				m := inflight[k]
				inflight = slices.Delete(inflight, k, k+1)
				got, err := clocks[m.to].Observe(m.time)
				require.NoError(t, err)
				hist[m.to] = hist[m.to].union(m.past)
				newEvent(m.to, LamportTime{got, ids[m.to]})
				continue
			}
			s := clocks[i].Stamp(ids[i])
			newEvent(i, s)
			to := rapid.IntRange(0, n-1).Draw(t, "to")
			inflight = append(inflight, msg{to, s.Time, hist[i].clone()})
		}
		// Event k of replica r is Dot{r, k}; find each event's dot.
		dotOf := map[LamportTime]Dot{}
		count := map[ReplicaID]uint64{}
		for _, e := range events {
			count[e.stamp.Replica]++
			dotOf[e.stamp] = Dot{e.stamp.Replica, count[e.stamp.Replica]}
		}
		for _, f := range events {
			for _, e := range events {
				if f.past[dotOf[e.stamp]] {
					require.Less(t, e.stamp.Time, f.stamp.Time, "%v happened before %v", e.stamp, f.stamp)
				}
				if e.stamp != f.stamp {
					require.NotZero(t, e.stamp.Compare(f.stamp), "distinct events must be ordered")
				}
			}
		}
	})
}

func TestLamportConcurrent(t *testing.T) {
	var l Lamport
	var wg sync.WaitGroup
	seen := make([][]uint64, 4)
	for g := range seen {
		wg.Go(func() {
			for i := range 1000 {
				if i%3 == 0 {
					x, err := l.Observe(uint64(i))
					require.NoError(t, err)
					seen[g] = append(seen[g], x)
				} else {
					seen[g] = append(seen[g], l.Tick())
				}
			}
		})
	}
	wg.Wait()
	all := map[uint64]bool{}
	for _, s := range seen {
		for _, x := range s {
			require.False(t, all[x], "time %d issued twice", x)
			all[x] = true
		}
	}
}
