package vclock

import (
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// intCodec encodes the int values the tests store: write numbers.
var intCodec = Codec[int]{
	Append: func(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) },
	Read: func(b []byte) (int, []byte, error) {
		v, rest, err := readUvarint(b, "int")
		return int(v), rest, err
	},
}

func encodeSet(s DVVSet[int]) []byte { return s.Encode(nil, intCodec) }

func TestDVVSetScenario(t *testing.T) {
	// Two clients read the empty key from server A and write concurrently.
	var a DVVSet[string]
	ctx := a.Context()
	require.Equal(t, Dot{"A", 1}, a.Update(ctx, "A", "v1"))
	require.Equal(t, Dot{"A", 2}, a.Update(ctx, "A", "v2"))
	require.Equal(t, []string{"v1", "v2"}, a.Values(), "concurrent writes are kept as siblings")

	// A third client reads both and writes over them through server B,
	// which has not seen them yet: B learns the context, and the write
	// replaces both siblings once the servers sync.
	var b DVVSet[string]
	b.Update(a.Context(), "B", "v3")
	require.Equal(t, []string{"v3"}, b.Values())
	require.Equal(t, "{A:2 B:1}", b.Context().String())
	a.Sync(b)
	require.Equal(t, []string{"v3"}, a.Values())
	require.Equal(t, Equal, a.Compare(b))

	// A stale writer that read only v1 creates a sibling of v3, not a lost
	// update of it.
	a.Update(NewVersionVector(Dot{"A", 1}), "A", "v4")
	require.Equal(t, []string{"v4", "v3"}, a.Values())
	require.Equal(t, After, a.Compare(b))

	var got []string
	for d, v := range a.All() {
		got = append(got, d.String()+"="+v)
	}
	require.Equal(t, []string{"A:3=v4", "B:1=v3"}, got)

	// Resolution.
	v, d, ok := a.Last(func(x, y string) bool { return x < y })
	require.True(t, ok)
	require.Equal(t, "v4", v)
	require.Equal(t, Dot{"A", 3}, d)
	c := a.Clone()
	require.Equal(t, Dot{"C", 1}, c.Reconcile("C", func(vs []string) string { return strings.Join(vs, "+") }))
	require.Equal(t, []string{"v4+v3"}, c.Values())
	require.Equal(t, Dot{}, c.Reconcile("C", func([]string) string { return "x" }), "one sibling: nothing to do")
	require.Equal(t, Dot{"A", 4}, a.LWW("A", func(x, y string) bool { return x < y }))
	require.Equal(t, []string{"v4"}, a.Values())
	b.Sync(a)
	require.Equal(t, []string{"v4"}, b.Values())
}

func TestDVVSetZeroValue(t *testing.T) {
	var s DVVSet[int]
	require.Zero(t, s.Len())
	require.Empty(t, s.Values())
	require.Zero(t, s.Context().Len())
	_, _, ok := s.Last(func(a, b int) bool { return a < b })
	require.False(t, ok)
	got, err := DecodeDVVSet(encodeSet(s), intCodec)
	require.NoError(t, err)
	require.Equal(t, encodeSet(s), encodeSet(got))
}

func TestDVVCompareTable(t *testing.T) {
	vv := NewVersionVector
	for _, tc := range []struct {
		name string
		x, y DVV
		want Ordering
	}{
		{"gap keeps writes apart", DVV{Dot{"r", 5}, vv(Dot{"r", 3})}, DVV{Dot{"r", 4}, vv(Dot{"r", 3})}, Concurrent},
		{"dot seen by context", DVV{Dot{"r", 4}, vv(Dot{"r", 3})}, DVV{Dot{"r", 5}, vv(Dot{"r", 4})}, Before},
		{"contiguous dot equals vector", DVV{Dot{"r", 3}, vv(Dot{"r", 2})}, DVV{Context: vv(Dot{"r", 3})}, Equal},
		{"empty", DVV{}, DVV{}, Equal},
		{"empty before", DVV{}, DVV{Dot: Dot{"r", 1}}, Before},
		{"other replica", DVV{Dot{"s", 1}, vv(Dot{"r", 2})}, DVV{Dot{"r", 3}, vv(Dot{"r", 2})}, Concurrent},
		{"context after", DVV{Dot{"s", 2}, vv(Dot{"r", 2}, Dot{"s", 1})}, DVV{Dot{"s", 1}, vv(Dot{"r", 1})}, After},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.x.Compare(tc.y))
			require.Equal(t, tc.want == After || tc.want == Equal, tc.x.Descends(tc.y))
		})
	}
	require.Equal(t, "r:5 {r:3}", DVV{Dot{"r", 5}, vv(Dot{"r", 3})}.String())
}

// kvWrite is one client write in the key-value model: its number (also the
// value stored), the dot the store gave it, the context it was written
// with, and its causal past (the writes it had seen).
type kvWrite struct {
	dot  Dot
	ctx  VersionVector
	past map[int]bool
}

// kvServer is one replica of the key: the DVVSet under test, and the oracle's
// set of every write the replica knows, replaced or not.
type kvServer struct {
	id    ReplicaID
	set   DVVSet[int]
	known map[int]bool
}

type kvClient struct {
	read bool
	ctx  VersionVector
	past map[int]bool
}

type kvModel struct {
	writes  []kvWrite
	servers []*kvServer
	clients []*kvClient
}

// live returns the writes of known that no other known write has seen: the
// siblings a store without false conflicts or lost siblings must hold.
func (m *kvModel) live(known map[int]bool) []int {
	var out []int
	for w := range known {
		dominated := false
		for u := range known {
			if m.writes[u].past[w] {
				dominated = true
				break
			}
		}
		if !dominated {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}

func (m *kvModel) write(s *kvServer, ctx VersionVector, past map[int]bool, apply func(w int) Dot) {
	w := len(m.writes)
	m.writes = append(m.writes, kvWrite{ctx: ctx.Clone(), past: maps.Clone(past)})
	m.writes[w].dot = apply(w)
	maps.Copy(s.known, past)
	s.known[w] = true
}

func (m *kvModel) check(t *rapid.T) {
	for _, s := range m.servers {
		got := s.set.Values()
		slices.Sort(got)
		want := m.live(s.known)
		if !slices.Equal(got, want) {
			t.Fatalf("server %s holds siblings %v, causal histories say %v", s.id, got, want)
		}
		for d, w := range s.set.All() {
			require.Equal(t, m.writes[w].dot, d, "sibling %d has the wrong dot", w)
		}
		// The context is exactly the set of known writes' dots.
		ctx := s.set.Context()
		dots := map[Dot]bool{}
		for w := range s.known {
			require.True(t, ctx.Contains(m.writes[w].dot), "context %v lost write %d", ctx, w)
			dots[m.writes[w].dot] = true
		}
		for d := range ctx.All() {
			for c := uint64(1); c <= d.Counter; c++ {
				require.True(t, dots[Dot{d.ID, c}], "context %v invents %v", ctx, Dot{d.ID, c})
			}
		}
	}
}

// TestDVVSetMatchesCausalHistories runs random interleavings of client reads
// and writes (with fresh, stale or no contexts) at several servers, server
// syncs, reconciliations and restarts from the encoding, and checks after
// every step that each server holds exactly the writes no other known write
// has seen: no false conflicts (a replaced write kept) and no lost siblings
// (a concurrent write dropped). It then checks DVV.Compare on the DVV of
// every pair of writes against their explicit histories.
func TestDVVSetMatchesCausalHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &kvModel{}
		for i, id := range replicaIDs(rapid.IntRange(1, 3).Draw(t, "servers")) {
			_ = i
			m.servers = append(m.servers, &kvServer{id: id, known: map[int]bool{}})
		}
		for range rapid.IntRange(1, 3).Draw(t, "clients") {
			m.clients = append(m.clients, &kvClient{})
		}
		server := func(t *rapid.T, label string) *kvServer {
			return m.servers[rapid.IntRange(0, len(m.servers)-1).Draw(t, label)]
		}
		client := func(t *rapid.T) *kvClient {
			return m.clients[rapid.IntRange(0, len(m.clients)-1).Draw(t, "client")]
		}
		t.Repeat(map[string]func(*rapid.T){
			"read": func(t *rapid.T) {
				c, s := client(t), server(t, "server")
				c.read, c.ctx, c.past = true, s.set.Context(), maps.Clone(s.known)
			},
			"write": func(t *rapid.T) {
				c, s := client(t), server(t, "server")
				ctx, past := VersionVector{}, map[int]bool{}
				if c.read && !rapid.Bool().Draw(t, "blind") {
					ctx, past = c.ctx, c.past
				}
				m.write(s, ctx, past, func(w int) Dot { return s.set.Update(ctx, s.id, w) })
			},
			"sync": func(t *rapid.T) {
				dst, src := server(t, "to"), server(t, "from")
				dst.set.Sync(src.set)
				maps.Copy(dst.known, src.known)
			},
			"reconcile": func(t *rapid.T) {
				s := server(t, "server")
				if s.set.Len() < 2 {
					t.Skip("nothing to reconcile")
				}
				m.write(s, s.set.Context(), s.known, func(w int) Dot {
					return s.set.Reconcile(s.id, func([]int) int { return w })
				})
			},
			"restart": func(t *rapid.T) {
				s := server(t, "server")
				b := encodeSet(s.set)
				got, err := DecodeDVVSet(b, intCodec)
				require.NoError(t, err)
				require.Equal(t, b, encodeSet(got))
				s.set = got
			},
			"": m.check,
		})
		// DVV of each write against the oracle's histories.
		hist := func(w int) map[int]bool {
			h := maps.Clone(m.writes[w].past)
			h[w] = true
			return h
		}
		for x := range m.writes {
			for y := range m.writes {
				want := history(dotsOf(m, hist(x))).order(history(dotsOf(m, hist(y))))
				dx := DVV{m.writes[x].dot, m.writes[x].ctx}
				dy := DVV{m.writes[y].dot, m.writes[y].ctx}
				if got := dx.Compare(dy); got != want {
					t.Fatalf("DVV %v vs %v: Compare %v, histories %v", dx, dy, got, want)
				}
			}
		}
	})
}

func dotsOf(m *kvModel, ws map[int]bool) map[Dot]bool {
	out := map[Dot]bool{}
	for w := range ws {
		out[m.writes[w].dot] = true
	}
	return out
}

// TestDVVSetSyncLaws checks on reachable states that Sync is commutative,
// associative and idempotent, comparing canonical encodings.
func TestDVVSetSyncLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := replicaIDs(3)
		sets := make([]DVVSet[int], 3)
		next := 0
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, 2).Draw(t, "replica")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				sets[i].Update(sets[i].Context(), ids[i], next)
			case 1:
				sets[i].Update(VersionVector{}, ids[i], next)
			default:
				sets[i].Sync(sets[rapid.IntRange(0, 2).Draw(t, "from")])
			}
			next++
		}
		a, b, c := sets[0], sets[1], sets[2]
		join := func(x, y DVVSet[int]) DVVSet[int] {
			z := x.Clone()
			z.Sync(y)
			return z
		}
		require.Equal(t, encodeSet(join(a, b)), encodeSet(join(b, a)))
		require.Equal(t, encodeSet(join(join(a, b), c)), encodeSet(join(a, join(b, c))))
		require.Equal(t, encodeSet(a), encodeSet(join(a, a)))
		ab := join(a, b)
		require.True(t, ab.Compare(a) == After || ab.Compare(a) == Equal)
		// Sync must not let later writes to one set leak into the other.
		before := encodeSet(a)
		b2 := b.Clone()
		b2.Sync(a)
		b2.Update(b2.Context(), ids[0], -1)
		b2.Update(VersionVector{}, ids[1], -2)
		require.Equal(t, before, encodeSet(a))
	})
}

// TestDVVSetSyncDoesNotShareWrites pins the bug the model test found while
// Update learned to work in place: after b.Sync(a), a write at a that
// replaced all of a's siblings reused a's value storage, which b shared, and
// changed b's siblings.
func TestDVVSetSyncDoesNotShareWrites(t *testing.T) {
	var a, b DVVSet[int]
	a.Update(VersionVector{}, "r1", 1)
	a.Update(VersionVector{}, "r1", 2)
	b.Sync(a)
	a.Update(a.Context(), "r1", 3)
	require.Equal(t, []int{3}, a.Values())
	require.Equal(t, []int{1, 2}, b.Values())
	b.Update(NewVersionVector(Dot{"r1", 1}), "r1", 4)
	require.Equal(t, []int{3}, a.Values())
}
