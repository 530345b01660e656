package hashring

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// These golden vectors pin placements across releases. If one of them
// changes, every user's keys would move on upgrade: that needs a new major
// version, not an updated vector.

func TestGoldenHash(t *testing.T) {
	// Canonical XXH64 with seed 0: the same values as the reference C
	// implementation and the xxhsum tool.
	for _, g := range []struct {
		key  string
		hash uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"hello", 0x26c7827d889f6da3},
		{"user:42", 0xdc1fea7da8d2d1c2},
		{"user:7919", 0xf5d79e27a7ed332a},
		{"session/8f14e45f", 0x9d32c3258ec3e68a},
		{"the quick brown fox jumps over the lazy dog", 0xed714233c5a9a792},
	} {
		require.Equal(t, g.hash, Hash(g.key), "%q", g.key)
		require.Equal(t, g.hash, HashBytes([]byte(g.key)), "%q", g.key)
	}
}

func TestGoldenPlacements(t *testing.T) {
	nodes := nodeNames("node", 10) // node-0 ... node-9, weight 1
	var r Ring
	var hrw Rendezvous
	var m Maglev
	require.NoError(t, r.Set(nodes...))
	require.NoError(t, hrw.Set(nodes...))
	require.NoError(t, m.Set(nodes...))
	for _, g := range []struct {
		key        string
		ring       string
		ringN      []string
		rendezvous string
		maglev     string
		jump       int
	}{
		{"", "node-6", []string{"node-6", "node-7", "node-3"}, "node-3", "node-6", 332},
		{"a", "node-6", []string{"node-6", "node-4", "node-7"}, "node-2", "node-2", 894},
		{"hello", "node-0", []string{"node-0", "node-8", "node-5"}, "node-8", "node-0", 309},
		{"user:42", "node-4", []string{"node-4", "node-1", "node-9"}, "node-6", "node-1", 717},
		{"user:7919", "node-0", []string{"node-0", "node-8", "node-9"}, "node-0", "node-0", 61},
		{"session/8f14e45f", "node-8", []string{"node-8", "node-1", "node-0"}, "node-0", "node-0", 793},
		{"the quick brown fox jumps over the lazy dog", "node-7", []string{"node-7", "node-4", "node-1"}, "node-5", "node-4", 37},
	} {
		require.Equal(t, g.ring, mustGet(t, &r, g.key), "ring %q", g.key)
		require.Equal(t, g.ringN, r.GetN(g.key, 3), "ring GetN %q", g.key)
		require.Equal(t, g.rendezvous, mustGet(t, &hrw, g.key), "rendezvous %q", g.key)
		require.Equal(t, g.maglev, mustGet(t, &m, g.key), "maglev %q", g.key)
		require.Equal(t, g.jump, JumpString(g.key, 1000), "jump %q", g.key)
	}
	for _, g := range []struct {
		key         uint64
		b10, b1000k int
	}{{0, 0, 0}, {1, 6, 985611}, {0xdeadbeef, 5, 479362}, {1 << 63, 5, 802256}} {
		require.Equal(t, g.b10, Jump(g.key, 10))
		require.Equal(t, g.b1000k, Jump(g.key, 1000000))
	}
}

// TestBytesKeysMatchStrings checks that every []byte entry point places a
// key exactly where its string form goes.
func TestBytesKeysMatchStrings(t *testing.T) {
	nodes := nodeNames("node", 7)
	var r Ring
	var hrw Rendezvous
	var m Maglev
	require.NoError(t, r.Set(nodes...))
	require.NoError(t, hrw.Set(nodes...))
	require.NoError(t, m.Set(nodes...))
	b1, _ := NewBounded(BoundedConfig{})
	b2, _ := NewBounded(BoundedConfig{})
	require.NoError(t, b1.Set(nodes...))
	require.NoError(t, b2.Set(nodes...))
	for _, k := range testKeys(100) {
		kb := []byte(k)
		for _, pair := range [][2]func() (string, error){
			{func() (string, error) { return r.Get(k) }, func() (string, error) { return r.GetBytes(kb) }},
			{func() (string, error) { return hrw.Get(k) }, func() (string, error) { return hrw.GetBytes(kb) }},
			{func() (string, error) { return m.Get(k) }, func() (string, error) { return m.GetBytes(kb) }},
			{func() (string, error) { return b1.Acquire(k) }, func() (string, error) { return b2.AcquireBytes(kb) }},
		} {
			a, errA := pair[0]()
			b, errB := pair[1]()
			require.NoError(t, errA)
			require.NoError(t, errB)
			require.Equal(t, a, b, "key %q", k)
		}
		require.Equal(t, r.GetN(k, 3), r.GetNBytes(kb, 3))
		require.Equal(t, hrw.GetN(k, 3), hrw.GetNBytes(kb, 3))
		require.Equal(t, JumpString(k, 50), JumpBytes(kb, 50))
	}
}
