package crdt_test

import (
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestDeltaBuffer(t *testing.T) {
	_, err := crdt.NewDeltaBuffer[*crdt.GCounter](crdt.DeltaBufferConfig{MaxDeltas: -1})
	require.ErrorIs(t, err, crdt.ErrInvalidConfig)

	var c crdt.GCounter
	buf, err := crdt.NewDeltaBuffer[*crdt.GCounter](crdt.DeltaBufferConfig{MaxDeltas: 3})
	require.NoError(t, err)

	_, _, _, ok := buf.Prepare("p", &c)
	require.False(t, ok, "nothing to send yet")

	s1 := buf.Add(c.Inc("a", 1))
	msg, seq, full, ok := buf.Prepare("p", &c)
	require.True(t, ok)
	require.True(t, full, "a peer that acknowledged nothing gets the full state")
	require.Equal(t, s1, seq)
	require.Equal(t, uint64(1), msg.Value())

	buf.Ack("p", seq)
	require.Zero(t, buf.Len(), "acknowledged by every peer: dropped")
	buf.Add(c.Inc("a", 1))
	buf.Add(c.Inc("a", 1))
	msg, seq, full, ok = buf.Prepare("p", &c)
	require.True(t, ok)
	require.False(t, full)
	require.Equal(t, uint64(3), msg.Value(), "the interval joins both deltas")

	// Stale and impossible acknowledgements change nothing.
	buf.Ack("p", seq+100)
	buf.Ack("p", 0)
	_, seq2, _, ok := buf.Prepare("p", &c)
	require.True(t, ok)
	require.Equal(t, seq, seq2)

	// A second peer that lags holds deltas until MaxDeltas, then gets the
	// full state.
	buf.AddPeer("q")
	buf.Ack("p", seq)
	for range 4 {
		buf.Add(c.Inc("a", 1))
	}
	require.Equal(t, 3, buf.Len())
	_, _, full, _ = buf.Prepare("q", &c)
	require.True(t, full)
	_, _, full, _ = buf.Prepare("p", &c)
	require.True(t, full, "p's next delta was dropped too")

	buf.RemovePeer("q")
	require.Equal(t, []crdt.ReplicaID{"p"}, buf.Peers())
}

// TestAddDeltaIsSmall: the delta of one add to a 100,000-element set
// encodes in a few bytes beyond its element, independent of the set.
func TestAddDeltaIsSmall(t *testing.T) {
	var s crdt.AWSet[uint64]
	for i := range uint64(100_000) {
		s.Add(crdt.ReplicaID("r"+string(rune('0'+i%20))), i)
	}
	d := s.Add("r7", 123_456_789)
	b, err := d.MarshalBinary()
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), 64)
	t.Logf("delta of one add to a 100,000-element set: %d bytes", len(b))
}

func TestDeltaBufferRecycle(t *testing.T) {
	counters, err := crdt.NewDeltaBuffer[*crdt.GCounter](crdt.DeltaBufferConfig{})
	require.NoError(t, err)
	var c crdt.GCounter
	counters.Add(c.Inc("a", 1))
	counters.Ack("p", counters.Latest())
	counters.RemovePeer("q")
	_, ok := counters.Recycle()
	require.False(t, ok, "a GCounter has no Reset")

	var a crdt.AWSet[string]
	buf, err := crdt.NewDeltaBuffer[*crdt.AWSet[string]](crdt.DeltaBufferConfig{})
	require.NoError(t, err)
	_, ok = buf.Recycle()
	require.False(t, ok, "nothing dropped yet")
	g1, g2 := new(crdt.AWSet[string]), new(crdt.AWSet[string])
	a.AddTo(g1, "a", "x")
	buf.Add(g1)
	a.AddTo(g2, "a", "y")
	buf.Add(g2)
	buf.Add(g2) // the same group twice: recycled only once it has left the buffer
	buf.AddPeer("p")
	buf.Ack("p", buf.Latest()-1)
	got, ok := buf.Recycle()
	require.True(t, ok)
	require.Same(t, g1, got)
	require.Zero(t, got.Len(), "recycled groups come back empty")
	_, ok = buf.Recycle()
	require.False(t, ok, "g2 is still in the buffer")
	buf.Ack("p", buf.Latest())
	got, ok = buf.Recycle()
	require.True(t, ok)
	require.Same(t, g2, got)
	_, ok = buf.Recycle()
	require.False(t, ok, "g2 is recycled once")
}

// TestLawRecycledGroupsConverge replicates one replica's batched adds and
// removes through a delta buffer whose groups are recycled, over a link
// that loses messages and acknowledgements, and checks that the peer
// converges after a final exchange: a recycled group still in use would
// corrupt a buffered delta.
func TestLawRecycledGroupsConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a, b crdt.AWSet[string]
		buf, err := crdt.NewDeltaBuffer[*crdt.AWSet[string]](crdt.DeltaBufferConfig{
			MaxDeltas: rapid.IntRange(1, 8).Draw(t, "maxDeltas"),
		})
		require.NoError(t, err)
		group := new(crdt.AWSet[string])
		send := func(deliver, ack bool) {
			msg, seq, _, ok := buf.Prepare("b", &a)
			if ok && deliver {
				b.Merge(msg)
				if ack {
					buf.Ack("b", seq)
				}
			}
		}
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			e := elems.Draw(t, "elem")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				a.AddTo(group, "a", e)
			case 2:
				group.Merge(a.Remove(e))
			default:
				buf.Add(group)
				if g, ok := buf.Recycle(); ok {
					group = g
				} else {
					group = new(crdt.AWSet[string])
				}
				send(rapid.Bool().Draw(t, "deliver"), rapid.Bool().Draw(t, "ack"))
			}
		}
		buf.Add(group)
		for range 2 {
			send(true, true)
		}
		require.Equal(t, encoded(t, &a), encoded(t, &b))
	})
}
