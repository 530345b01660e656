package crdt_test

import (
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/stretchr/testify/require"
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
