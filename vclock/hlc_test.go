package vclock

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// base is an arbitrary physical time for tests, in Unix milliseconds.
const base = 1_800_000_000_000

func ts(t require.TestingT, wall int64, logical uint16) Timestamp {
	x, err := MakeTimestamp(wall, logical)
	require.NoError(t, err)
	return x
}

func manualHLC(t require.TestingT, maxOffset time.Duration) (*HLC, *ManualClock) {
	c := NewManualClock(time.UnixMilli(base))
	h, err := NewHLC(HLCConfig{Clock: c.Now, MaxOffset: maxOffset})
	require.NoError(t, err)
	return h, c
}

func TestHLCConfigValidate(t *testing.T) {
	require.NoError(t, HLCConfig{}.Validate())
	require.NoError(t, HLCConfig{MaxOffset: time.Millisecond}.Validate())
	for _, bad := range []time.Duration{-time.Second, time.Microsecond} {
		cfg := HLCConfig{MaxOffset: bad}
		require.ErrorIs(t, cfg.Validate(), ErrInvalidConfig)
		h, err := NewHLC(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Nil(t, h)
		require.Equal(t, bad, cfg.MaxOffset, "Validate must not change the config")
	}
}

func TestTimestampLayout(t *testing.T) {
	x := ts(t, base, 7)
	require.Equal(t, Timestamp(uint64(base)<<16|7), x)
	require.Equal(t, int64(base), x.WallMillis())
	require.Equal(t, uint16(7), x.Logical())
	require.Equal(t, TimestampParts{WallMillis: base, Logical: 7}, x.Parts())
	back, err := x.Parts().Pack()
	require.NoError(t, err)
	require.Equal(t, x, back)
	require.Equal(t, "2027-01-15T08:00:00.000Z/7", x.String())
	require.Equal(t, time.UnixMilli(base).UTC(), x.Time())
	// Adding one to the largest logical part carries into the wall part.
	require.Equal(t, ts(t, base+1, 0), ts(t, base, 0xffff)+1)
	_, err = MakeTimestamp(-1, 0)
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = MakeTimestamp(MaxWallMillis+1, 0)
	require.ErrorIs(t, err, ErrOutOfRange)
	require.Equal(t, -1, TimestampParts{1, 5}.Compare(TimestampParts{2, 0}))
	require.Equal(t, 1, TimestampParts{2, 5}.Compare(TimestampParts{2, 4}))
	require.Equal(t, 0, TimestampParts{2, 5}.Compare(TimestampParts{2, 5}))
}

func TestHLCNowTable(t *testing.T) {
	h, c := manualHLC(t, 0)
	require.Equal(t, ts(t, base, 0), h.Now())
	require.Equal(t, ts(t, base, 1), h.Now(), "same millisecond: the logical part counts")
	c.Advance(3 * time.Millisecond)
	require.Equal(t, ts(t, base+3, 0), h.Now(), "physical time moved: the logical part resets")
	c.Advance(-time.Hour)
	require.Equal(t, ts(t, base+3, 1), h.Now(), "physical time went back: the clock does not")
	require.Equal(t, ts(t, base+3, 1), h.Last())
}

func TestHLCLogicalOverflowCarries(t *testing.T) {
	h, _ := manualHLC(t, 0)
	h.Restore(ts(t, base, 0xfffe))
	require.Equal(t, ts(t, base, 0xffff), h.Now())
	require.Equal(t, ts(t, base+1, 0), h.Now(), "overflow carries into the wall part")
	got, err := h.Update(ts(t, base+1, 0xffff))
	require.NoError(t, err)
	require.Equal(t, ts(t, base+2, 0), got)
}

func TestHLCEndOfRangeSaturates(t *testing.T) {
	h, _ := manualHLC(t, 0)
	h.Restore(Timestamp(^uint64(0)))
	require.Equal(t, Timestamp(^uint64(0)), h.Now())
}

func TestHLCUpdate(t *testing.T) {
	h, c := manualHLC(t, 100*time.Millisecond)
	got, err := h.Update(ts(t, base+50, 3))
	require.NoError(t, err)
	require.Equal(t, ts(t, base+50, 4), got, "remote ahead within the offset: adopt it and tick")
	got, err = h.Update(ts(t, base-10, 9))
	require.NoError(t, err)
	require.Equal(t, ts(t, base+50, 5), got, "remote behind: tick the local clock")
	c.Advance(time.Second)
	got, err = h.Update(ts(t, base, 0))
	require.NoError(t, err)
	require.Equal(t, ts(t, base+1000, 0), got, "physical time ahead of both")
	// Exactly MaxOffset ahead is accepted; one millisecond more is not.
	got, err = h.Update(ts(t, base+1100, 0))
	require.NoError(t, err)
	require.Equal(t, ts(t, base+1100, 1), got)
}

func TestHLCUpdateRejectsBeyondMaxOffset(t *testing.T) {
	h, _ := manualHLC(t, 100*time.Millisecond)
	before := h.Now()
	remote := ts(t, base+101, 0)
	got, err := h.Update(remote)
	require.ErrorIs(t, err, ErrClockOffset)
	var oe *OffsetError
	require.True(t, errors.As(err, &oe))
	require.Equal(t, remote, oe.Remote)
	require.Equal(t, int64(base), oe.PhysicalMillis)
	require.Equal(t, 100*time.Millisecond, oe.MaxOffset)
	require.Contains(t, err.Error(), "101ms ahead")
	require.Zero(t, got)
	require.Equal(t, before, h.Last(), "a rejected remote leaves the clock unchanged")
}

func TestHLCZeroValue(t *testing.T) {
	var h HLC
	a := h.Now()
	b := h.Now()
	require.Less(t, a, b)
	require.InDelta(t, time.Now().UnixMilli(), a.WallMillis(), 2000)
	_, err := h.Update(Timestamp(uint64(time.Now().Add(time.Hour).UnixMilli()) << 16))
	require.ErrorIs(t, err, ErrClockOffset, "the zero value uses DefaultMaxOffset")
}

// TestHLCSystemClockFollowsVirtualTime runs the default system clock under
// synctest: its wall part must follow the (virtual) wall clock, including
// after the once-a-second resync.
func TestHLCSystemClockFollowsVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := NewHLC(HLCConfig{})
		require.NoError(t, err)
		require.Equal(t, time.Now().UnixMilli(), h.Now().WallMillis())
		for _, d := range []time.Duration{time.Millisecond, 250 * time.Millisecond, 3 * time.Second, time.Hour} {
			time.Sleep(d) // advances the bubble's virtual clock; nothing is waited for
			require.Equal(t, time.Now().UnixMilli(), h.Now().WallMillis())
		}
	})
}

// TestHLCConcurrentNowUnique checks that timestamps issued concurrently are
// unique: the lock-free paths never hand out the same value twice.
func TestHLCConcurrentNowUnique(t *testing.T) {
	h, c := manualHLC(t, 0)
	const goroutines, per = 4, 2000
	out := make([][]Timestamp, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				if i%100 == 0 {
					c.Advance(time.Millisecond)
				}
				if i%7 == 0 {
					x, err := h.Update(h.Last())
					require.NoError(t, err)
					out[g] = append(out[g], x)
					continue
				}
				out[g] = append(out[g], h.Now())
			}
		})
	}
	wg.Wait()
	seen := map[Timestamp]bool{}
	for _, s := range out {
		for i, x := range s {
			require.False(t, seen[x], "timestamp %v issued twice", x)
			seen[x] = true
			if i > 0 {
				require.Less(t, s[i-1], x, "one goroutine's timestamps must increase")
			}
		}
	}
}

// TestHLCMonotonicUnderArbitraryClock drives one clock with a physical
// clock that jumps arbitrarily, forwards and backwards, and checks that
// every timestamp it issues is greater than the one before and than any
// remote it accepted, and that it rejects exactly the remotes beyond the
// offset.
func TestHLCMonotonicUnderArbitraryClock(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxOffset := time.Duration(rapid.IntRange(1, 1000).Draw(t, "max offset ms")) * time.Millisecond
		h, c := manualHLC(t, maxOffset)
		var prev Timestamp
		t.Repeat(map[string]func(*rapid.T){
			"jump": func(t *rapid.T) {
				c.Advance(time.Duration(rapid.Int64Range(-3_600_000, 3_600_000).Draw(t, "jump ms")) * time.Millisecond)
			},
			"now": func(t *rapid.T) {
				x := h.Now()
				require.Greater(t, x, prev)
				require.GreaterOrEqual(t, x.WallMillis(), c.Now().UnixMilli())
				prev = x
			},
			"burst": func(t *rapid.T) {
				for range rapid.IntRange(1, 40).Draw(t, "burst") {
					x := h.Now()
					if x <= prev {
						t.Fatalf("Now went from %v to %v", prev, x)
					}
					prev = x
				}
			},
			"near overflow": func(t *rapid.T) {
				// Jump to a few events short of a full logical part, so
				// that a following burst carries into the wall part.
				gap := rapid.Uint16Range(0, 20).Draw(t, "events before overflow")
				near := Timestamp(uint64(prev)|logicalMask) - Timestamp(gap)
				if near > prev {
					h.Restore(near)
					prev = near
				}
			},
			"update": func(t *rapid.T) {
				pt := c.Now().UnixMilli()
				ahead := rapid.Int64Range(-10_000, 2*maxOffset.Milliseconds()).Draw(t, "remote ahead ms")
				remote := ts(t, pt+ahead, rapid.Uint16().Draw(t, "remote logical"))
				x, err := h.Update(remote)
				if ahead > maxOffset.Milliseconds() {
					require.ErrorIs(t, err, ErrClockOffset)
					require.Equal(t, prev, h.Last())
					return
				}
				require.NoError(t, err)
				require.Greater(t, x, prev)
				require.Greater(t, x, remote)
				prev = x
			},
			"": func(t *rapid.T) {
				require.Equal(t, prev, h.Last())
			},
		})
	})
}

// hlcEvent is one event of the simulated cluster, at true time trueMs.
type hlcEvent struct {
	trueMs int64
	ts     Timestamp
}

// TestHLCClusterBounds simulates replicas whose physical clocks stay within
// eps of a true clock (each may jump around, backwards too, inside that
// band) and exchange timestamped messages. With MaxOffset = 2·eps it checks
// the guarantees of Kulkarni et al.: no remote is rejected; every node's
// timestamps increase; a receive is after the send; the wall part never
// runs more than 2·eps ahead of the local physical clock; and the logical
// part is bounded by the events of the last 2·eps of true time, because it
// only counts events that share a wall time, all of which happened in that
// window.
func TestHLCClusterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eps := rapid.Int64Range(0, 20).Draw(t, "eps ms")
		n := rapid.IntRange(2, 4).Draw(t, "nodes")
		trueMs := int64(base)
		offsets := make([]int64, n)
		clocks := make([]*ManualClock, n)
		nodes := make([]*HLC, n)
		prev := make([]Timestamp, n)
		for i := range nodes {
			clocks[i] = NewManualClock(time.UnixMilli(trueMs))
			h, err := NewHLC(HLCConfig{Clock: clocks[i].Now, MaxOffset: time.Duration(2*eps+1) * time.Millisecond})
			require.NoError(t, err)
			nodes[i] = h
		}
		type msg struct {
			to int
			ts Timestamp
		}
		var inflight []msg
		var events []hlcEvent
		setClock := func(i int) { clocks[i].Set(time.UnixMilli(trueMs + offsets[i])) }
		record := func(i int, x Timestamp) {
			require.Greater(t, x, prev[i], "node %d went back", i)
			prev[i] = x
			events = append(events, hlcEvent{trueMs, x})
			window := 0
			for _, e := range events {
				if e.trueMs >= trueMs-2*eps {
					window++
				}
			}
			require.Less(t, int(x.Logical()), window, "logical part %d exceeds the %d events of the last 2·eps", x.Logical(), window)
		}
		t.Repeat(map[string]func(*rapid.T){
			"tick": func(t *rapid.T) {
				trueMs += rapid.Int64Range(0, 3).Draw(t, "advance ms")
				for i := range clocks {
					setClock(i)
				}
			},
			"skew": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "node")
				offsets[i] = rapid.Int64Range(-eps, eps).Draw(t, "offset ms")
				setClock(i)
			},
			"send": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "from")
				x := nodes[i].Now()
				record(i, x)
				inflight = append(inflight, msg{rapid.IntRange(0, n-1).Draw(t, "to"), x})
			},
			"receive": func(t *rapid.T) {
				if len(inflight) == 0 {
					t.Skip("nothing in flight")
				}
				k := rapid.IntRange(0, len(inflight)-1).Draw(t, "message")
				m := inflight[k]
				inflight = append(inflight[:k], inflight[k+1:]...)
				x, err := nodes[m.to].Update(m.ts)
				require.NoError(t, err, "a remote within the skew bound was rejected")
				require.Greater(t, x, m.ts, "receive not after send")
				record(m.to, x)
			},
			"": func(t *rapid.T) {
				for i, h := range nodes {
					if h.Last() == 0 {
						continue
					}
					drift := h.Last().WallMillis() - clocks[i].Now().UnixMilli()
					require.LessOrEqual(t, drift, 2*eps, "node %d runs %dms ahead of its physical clock", i, drift)
				}
			},
		})
	})
}
