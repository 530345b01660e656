package crdt_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/crdt/crdttest"
	"github.com/distkit/distkit/vclock"
	"pgregory.net/rapid"
)

// Small domains make concurrent operations collide on the same elements,
// which is where CRDTs go wrong.
var (
	elems = rapid.SampledFrom([]string{"a", "b", "c", "d"})
	keys  = rapid.SampledFrom([]string{"k1", "k2", "k3"})
)

type set = map[string]bool

func sortedElems(seq func(func(string) bool)) string {
	return fmt.Sprint(slices.Sorted(seq))
}

func modelSet(m set) string {
	var out []string
	for e, ok := range m {
		if ok {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

func checkSet(t *rapid.T, got string, m set) {
	if want := modelSet(m); got != want {
		t.Fatalf("value %s, model %s", got, want)
	}
}

func awsetSpec() crdttest.Spec[*crdt.AWSet[string], set] {
	return crdttest.Spec[*crdt.AWSet[string], set]{
		New: func() *crdt.AWSet[string] { return new(crdt.AWSet[string]) },
		Mutate: func(t *rapid.T, x *crdt.AWSet[string], r crdttest.Replica, m *set) *crdt.AWSet[string] {
			e := elems.Draw(t, "elem")
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1, 2:
				if m != nil {
					(*m)[e] = true
				}
				return x.Add(r.ID, e)
			case 5:
				if m != nil {
					clear(*m)
				}
				return x.Clear()
			}
			if m != nil {
				delete(*m, e)
			}
			return x.Remove(e)
		},
		NewModel: func() set { return set{} },
		Check: func(t *rapid.T, x *crdt.AWSet[string], m set) {
			checkSet(t, sortedElems(x.All()), m)
		},
		Value: func(x *crdt.AWSet[string]) string { return sortedElems(x.All()) },
	}
}

func rwsetSpec() crdttest.Spec[*crdt.RWSet[string], set] {
	return crdttest.Spec[*crdt.RWSet[string], set]{
		New: func() *crdt.RWSet[string] { return new(crdt.RWSet[string]) },
		Mutate: func(t *rapid.T, x *crdt.RWSet[string], r crdttest.Replica, m *set) *crdt.RWSet[string] {
			e := elems.Draw(t, "elem")
			if rapid.Bool().Draw(t, "add") {
				if m != nil {
					(*m)[e] = true
				}
				return x.Add(r.ID, e)
			}
			if m != nil {
				delete(*m, e)
			}
			return x.Remove(r.ID, e)
		},
		NewModel: func() set { return set{} },
		Check: func(t *rapid.T, x *crdt.RWSet[string], m set) {
			checkSet(t, sortedElems(x.All()), m)
		},
		Compact: func(x *crdt.RWSet[string], all []*crdt.RWSet[string]) {
			x.CompactTombstones(frontier(all))
		},
		Value: func(x *crdt.RWSet[string]) string { return sortedElems(x.All()) },
	}
}

// frontier is the pointwise minimum of the replicas' contexts: the dots
// every replica has seen.
func frontier[T interface{ Context() vclock.VersionVector }](all []T) vclock.VersionVector {
	f := all[0].Context().Clone()
	for _, x := range all[1:] {
		c := x.Context()
		for d := range f.All() {
			f.Set(d.ID, min(d.Counter, c.Get(d.ID)))
		}
	}
	return f
}

func gsetSpec() crdttest.Spec[*crdt.GSet[string], set] {
	return crdttest.Spec[*crdt.GSet[string], set]{
		New: func() *crdt.GSet[string] { return new(crdt.GSet[string]) },
		Mutate: func(t *rapid.T, x *crdt.GSet[string], r crdttest.Replica, m *set) *crdt.GSet[string] {
			e := elems.Draw(t, "elem")
			if m != nil {
				(*m)[e] = true
			}
			return x.Add(e)
		},
		NewModel: func() set { return set{} },
		Check: func(t *rapid.T, x *crdt.GSet[string], m set) {
			checkSet(t, sortedElems(x.All()), m)
		},
	}
}

// twoP is the model of a 2P-set: present elements and removed ones.
type twoP struct{ in, gone set }

func twoPSpec() crdttest.Spec[*crdt.TwoPSet[string], twoP] {
	return crdttest.Spec[*crdt.TwoPSet[string], twoP]{
		New: func() *crdt.TwoPSet[string] { return new(crdt.TwoPSet[string]) },
		Mutate: func(t *rapid.T, x *crdt.TwoPSet[string], r crdttest.Replica, m *twoP) *crdt.TwoPSet[string] {
			e := elems.Draw(t, "elem")
			if rapid.IntRange(0, 2).Draw(t, "op") > 0 {
				if m != nil && !m.gone[e] {
					m.in[e] = true
				}
				return x.Add(e)
			}
			if m != nil && m.in[e] {
				delete(m.in, e)
				m.gone[e] = true
			}
			return x.Remove(e)
		},
		NewModel: func() twoP { return twoP{in: set{}, gone: set{}} },
		Check: func(t *rapid.T, x *crdt.TwoPSet[string], m twoP) {
			checkSet(t, sortedElems(x.All()), m.in)
		},
	}
}

func lwwSetSpec(bias crdt.Bias) crdttest.Spec[*crdt.LWWSet[string], set] {
	return crdttest.Spec[*crdt.LWWSet[string], set]{
		New: func() *crdt.LWWSet[string] { return crdt.NewLWWSet[string](bias) },
		Mutate: func(t *rapid.T, x *crdt.LWWSet[string], r crdttest.Replica, m *set) *crdt.LWWSet[string] {
			e := elems.Draw(t, "elem")
			if rapid.Bool().Draw(t, "add") {
				if m != nil {
					(*m)[e] = true
				}
				return x.Add(e, r.Now())
			}
			if m != nil {
				delete(*m, e)
			}
			return x.Remove(e, r.Now())
		},
		NewModel: func() set { return set{} },
		Check: func(t *rapid.T, x *crdt.LWWSet[string], m set) {
			checkSet(t, sortedElems(x.All()), m)
		},
		CompactBelow: func(x *crdt.LWWSet[string], f vclock.Timestamp) { x.CompactTombstones(f) },
		Value:        func(x *crdt.LWWSet[string]) string { return sortedElems(x.All()) },
	}
}

type counterModel struct{ v int64 }

func gcounterSpec() crdttest.Spec[*crdt.GCounter, counterModel] {
	return crdttest.Spec[*crdt.GCounter, counterModel]{
		New: func() *crdt.GCounter { return new(crdt.GCounter) },
		Mutate: func(t *rapid.T, x *crdt.GCounter, r crdttest.Replica, m *counterModel) *crdt.GCounter {
			n := rapid.Uint64Range(0, 5).Draw(t, "n")
			if m != nil {
				m.v += int64(n)
			}
			return x.Inc(r.ID, n)
		},
		NewModel: func() counterModel { return counterModel{} },
		Check: func(t *rapid.T, x *crdt.GCounter, m counterModel) {
			if int64(x.Value()) != m.v {
				t.Fatalf("value %d, model %d", x.Value(), m.v)
			}
		},
	}
}

func pnSpec() crdttest.Spec[*crdt.PNCounter, counterModel] {
	return crdttest.Spec[*crdt.PNCounter, counterModel]{
		New: func() *crdt.PNCounter { return new(crdt.PNCounter) },
		Mutate: func(t *rapid.T, x *crdt.PNCounter, r crdttest.Replica, m *counterModel) *crdt.PNCounter {
			n := rapid.Uint64Range(0, 5).Draw(t, "n")
			if rapid.Bool().Draw(t, "inc") {
				if m != nil {
					m.v += int64(n)
				}
				return x.Inc(r.ID, n)
			}
			if m != nil {
				m.v -= int64(n)
			}
			return x.Dec(r.ID, n)
		},
		NewModel: func() counterModel { return counterModel{} },
		Check: func(t *rapid.T, x *crdt.PNCounter, m counterModel) {
			if x.Value() != m.v {
				t.Fatalf("value %d, model %d", x.Value(), m.v)
			}
		},
	}
}

func boundedSpec() crdttest.Spec[*crdt.BoundedCounter, counterModel] {
	return crdttest.Spec[*crdt.BoundedCounter, counterModel]{
		New: func() *crdt.BoundedCounter { return new(crdt.BoundedCounter) },
		Mutate: func(t *rapid.T, x *crdt.BoundedCounter, r crdttest.Replica, m *counterModel) *crdt.BoundedCounter {
			n := rapid.Uint64Range(0, 5).Draw(t, "n")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				if m != nil {
					m.v += int64(n)
				}
				return x.Inc(r.ID, n)
			case 1:
				d, err := x.Dec(r.ID, n)
				if err != nil {
					if x.Rights(r.ID) >= n {
						t.Fatalf("Dec refused with enough rights")
					}
					return new(crdt.BoundedCounter)
				}
				if m != nil {
					m.v -= int64(n)
				}
				return d
			}
			to := vclock.ReplicaID(rapid.SampledFrom([]string{"r0", "r1", "r2"}).Draw(t, "to"))
			d, err := x.Transfer(r.ID, to, n)
			if err != nil {
				return new(crdt.BoundedCounter)
			}
			return d
		},
		NewModel: func() counterModel { return counterModel{} },
		Check: func(t *rapid.T, x *crdt.BoundedCounter, m counterModel) {
			if int64(x.Value()) != m.v {
				t.Fatalf("value %d, model %d", x.Value(), m.v)
			}
		},
	}
}

type regModel struct {
	v   string
	set bool
}

func mvSpec() crdttest.Spec[*crdt.MVRegister[string], regModel] {
	return crdttest.Spec[*crdt.MVRegister[string], regModel]{
		New: func() *crdt.MVRegister[string] { return new(crdt.MVRegister[string]) },
		Mutate: func(t *rapid.T, x *crdt.MVRegister[string], r crdttest.Replica, m *regModel) *crdt.MVRegister[string] {
			if rapid.IntRange(0, 4).Draw(t, "op") == 0 {
				if m != nil {
					*m = regModel{}
				}
				return x.Reset()
			}
			v := elems.Draw(t, "value")
			if m != nil {
				*m = regModel{v: v, set: true}
			}
			return x.Write(r.ID, v)
		},
		NewModel: func() regModel { return regModel{} },
		Check: func(t *rapid.T, x *crdt.MVRegister[string], m regModel) {
			want := []string{}
			if m.set {
				want = []string{m.v}
			}
			if got := x.Values(); !slices.Equal(got, want) {
				t.Fatalf("values %v, model %v", got, want)
			}
		},
	}
}

func lwwRegSpec() crdttest.Spec[*crdt.LWWRegister[string], regModel] {
	return crdttest.Spec[*crdt.LWWRegister[string], regModel]{
		New: func() *crdt.LWWRegister[string] { return new(crdt.LWWRegister[string]) },
		Mutate: func(t *rapid.T, x *crdt.LWWRegister[string], r crdttest.Replica, m *regModel) *crdt.LWWRegister[string] {
			v := elems.Draw(t, "value")
			if m != nil {
				*m = regModel{v: v, set: true}
			}
			return x.Set(r.ID, v, r.Now())
		},
		NewModel: func() regModel { return regModel{} },
		Check: func(t *rapid.T, x *crdt.LWWRegister[string], m regModel) {
			v, ok := x.Get()
			if ok != m.set || v != m.v {
				t.Fatalf("value %q %v, model %q %v", v, ok, m.v, m.set)
			}
		},
	}
}

type flagModel struct{ on bool }

func ewSpec() crdttest.Spec[*crdt.EWFlag, flagModel] {
	return crdttest.Spec[*crdt.EWFlag, flagModel]{
		New: func() *crdt.EWFlag { return new(crdt.EWFlag) },
		Mutate: func(t *rapid.T, x *crdt.EWFlag, r crdttest.Replica, m *flagModel) *crdt.EWFlag {
			on := rapid.Bool().Draw(t, "enable")
			if m != nil {
				m.on = on
			}
			if on {
				return x.Enable(r.ID)
			}
			return x.Disable()
		},
		NewModel: func() flagModel { return flagModel{} },
		Check: func(t *rapid.T, x *crdt.EWFlag, m flagModel) {
			if x.Value() != m.on {
				t.Fatalf("value %v, model %v", x.Value(), m.on)
			}
		},
	}
}

func dwSpec() crdttest.Spec[*crdt.DWFlag, flagModel] {
	return crdttest.Spec[*crdt.DWFlag, flagModel]{
		New: func() *crdt.DWFlag { return new(crdt.DWFlag) },
		Mutate: func(t *rapid.T, x *crdt.DWFlag, r crdttest.Replica, m *flagModel) *crdt.DWFlag {
			on := rapid.Bool().Draw(t, "enable")
			if m != nil {
				m.on = on
			}
			if on {
				return x.Enable(r.ID)
			}
			return x.Disable(r.ID)
		},
		NewModel: func() flagModel { return flagModel{} },
		Check: func(t *rapid.T, x *crdt.DWFlag, m flagModel) {
			if x.Value() != m.on {
				t.Fatalf("value %v, model %v", x.Value(), m.on)
			}
		},
		Compact: func(x *crdt.DWFlag, all []*crdt.DWFlag) { x.CompactTombstones(frontier(all)) },
		Value:   func(x *crdt.DWFlag) string { return fmt.Sprint(x.Value()) },
	}
}

type cartT = crdt.ORMap[string, *crdt.PNCounter]

func cartValue(x *cartT) string {
	out := map[string]int64{}
	for k, c := range x.All() {
		out[k] = c.Value()
	}
	return fmt.Sprint(out)
}

func cartSpec() crdttest.Spec[*cartT, map[string]int64] {
	return crdttest.Spec[*cartT, map[string]int64]{
		New: func() *cartT { return new(cartT) },
		Mutate: func(t *rapid.T, x *cartT, r crdttest.Replica, m *map[string]int64) *cartT {
			k := keys.Draw(t, "key")
			if rapid.IntRange(0, 3).Draw(t, "op") == 0 {
				if m != nil {
					delete(*m, k)
				}
				return x.Remove(k)
			}
			n := rapid.Uint64Range(1, 5).Draw(t, "n")
			if m != nil {
				(*m)[k] += int64(n)
			}
			return x.Update(k, func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc(r.ID, n) })
		},
		NewModel: func() map[string]int64 { return map[string]int64{} },
		Check: func(t *rapid.T, x *cartT, m map[string]int64) {
			if got, want := cartValue(x), fmt.Sprint(m); got != want {
				t.Fatalf("value %s, model %s", got, want)
			}
		},
	}
}

type nestedT = crdt.ORMap[string, *crdt.ORMap[string, *crdt.AWSet[string]]]

func nestedValue(x *nestedT) string {
	out := map[string]map[string][]string{}
	for k, inner := range x.All() {
		out[k] = map[string][]string{}
		for k2, s := range inner.All() {
			out[k][k2] = slices.Sorted(s.All())
		}
	}
	return fmt.Sprint(out)
}

func nestedSpec() crdttest.Spec[*nestedT, map[string]map[string]set] {
	type inner = crdt.ORMap[string, *crdt.AWSet[string]]
	return crdttest.Spec[*nestedT, map[string]map[string]set]{
		New: func() *nestedT { return new(nestedT) },
		Mutate: func(t *rapid.T, x *nestedT, r crdttest.Replica, m *map[string]map[string]set) *nestedT {
			k, k2, e := keys.Draw(t, "key"), keys.Draw(t, "inner key"), elems.Draw(t, "elem")
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0:
				if m != nil {
					delete(*m, k)
				}
				return x.Remove(k)
			case 1:
				if m != nil && (*m)[k] != nil {
					delete((*m)[k], k2)
					if len((*m)[k]) == 0 {
						delete(*m, k)
					}
				}
				return x.Update(k, func(in *inner) *inner { return in.Remove(k2) })
			case 2:
				if m != nil && (*m)[k] != nil && (*m)[k][k2] != nil {
					delete((*m)[k][k2], e)
					if len((*m)[k][k2]) == 0 {
						delete((*m)[k], k2)
					}
					if len((*m)[k]) == 0 {
						delete(*m, k)
					}
				}
				return x.Update(k, func(in *inner) *inner {
					return in.Update(k2, func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Remove(e) })
				})
			}
			if m != nil {
				if (*m)[k] == nil {
					(*m)[k] = map[string]set{}
				}
				if (*m)[k][k2] == nil {
					(*m)[k][k2] = set{}
				}
				(*m)[k][k2][e] = true
			}
			return x.Update(k, func(in *inner) *inner {
				return in.Update(k2, func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add(r.ID, e) })
			})
		},
		NewModel: func() map[string]map[string]set { return map[string]map[string]set{} },
		Check: func(t *rapid.T, x *nestedT, m map[string]map[string]set) {
			want := map[string]map[string][]string{}
			for k, in := range m {
				want[k] = map[string][]string{}
				for k2, s := range in {
					want[k][k2] = slices.Sorted(maps.Keys(s))
				}
			}
			if got := nestedValue(x); got != fmt.Sprint(want) {
				t.Fatalf("value %s, model %s", got, fmt.Sprint(want))
			}
		},
	}
}

func lwwMapSpec() crdttest.Spec[*crdt.LWWMap[string, string], map[string]string] {
	return crdttest.Spec[*crdt.LWWMap[string, string], map[string]string]{
		New: func() *crdt.LWWMap[string, string] { return new(crdt.LWWMap[string, string]) },
		Mutate: func(t *rapid.T, x *crdt.LWWMap[string, string], r crdttest.Replica, m *map[string]string) *crdt.LWWMap[string, string] {
			k := keys.Draw(t, "key")
			if rapid.IntRange(0, 2).Draw(t, "op") == 0 {
				if m != nil {
					delete(*m, k)
				}
				return x.Delete(r.ID, k, r.Now())
			}
			v := elems.Draw(t, "value")
			if m != nil {
				(*m)[k] = v
			}
			return x.Set(r.ID, k, v, r.Now())
		},
		NewModel: func() map[string]string { return map[string]string{} },
		Check: func(t *rapid.T, x *crdt.LWWMap[string, string], m map[string]string) {
			got := map[string]string{}
			for k, v := range x.All() {
				got[k] = v
			}
			if fmt.Sprint(got) != fmt.Sprint(m) {
				t.Fatalf("value %v, model %v", got, m)
			}
		},
		CompactBelow: func(x *crdt.LWWMap[string, string], f vclock.Timestamp) { x.CompactTombstones(f) },
		Value: func(x *crdt.LWWMap[string, string]) string {
			return fmt.Sprint(maps.Collect(x.All()))
		},
	}
}

func TestLaws(t *testing.T) {
	t.Run("AWSet", func(t *testing.T) { crdttest.Laws(t, awsetSpec()) })
	t.Run("RWSet", func(t *testing.T) { crdttest.Laws(t, rwsetSpec()) })
	t.Run("GSet", func(t *testing.T) { crdttest.Laws(t, gsetSpec()) })
	t.Run("TwoPSet", func(t *testing.T) { crdttest.Laws(t, twoPSpec()) })
	t.Run("LWWSet/AddWins", func(t *testing.T) { crdttest.Laws(t, lwwSetSpec(crdt.AddWins)) })
	t.Run("LWWSet/RemoveWins", func(t *testing.T) { crdttest.Laws(t, lwwSetSpec(crdt.RemoveWins)) })
	t.Run("GCounter", func(t *testing.T) { crdttest.Laws(t, gcounterSpec()) })
	t.Run("PNCounter", func(t *testing.T) { crdttest.Laws(t, pnSpec()) })
	t.Run("BoundedCounter", func(t *testing.T) { crdttest.Laws(t, boundedSpec()) })
	t.Run("MVRegister", func(t *testing.T) { crdttest.Laws(t, mvSpec()) })
	t.Run("LWWRegister", func(t *testing.T) { crdttest.Laws(t, lwwRegSpec()) })
	t.Run("EWFlag", func(t *testing.T) { crdttest.Laws(t, ewSpec()) })
	t.Run("DWFlag", func(t *testing.T) { crdttest.Laws(t, dwSpec()) })
	t.Run("ORMap/PNCounter", func(t *testing.T) { crdttest.Laws(t, cartSpec()) })
	t.Run("ORMap/ORMap/AWSet", func(t *testing.T) { crdttest.Laws(t, nestedSpec()) })
	t.Run("LWWMap", func(t *testing.T) { crdttest.Laws(t, lwwMapSpec()) })
}

func TestCluster(t *testing.T) {
	setFlag(t, "rapid.checks", strconv.Itoa(*clusterChecks))
	t.Run("AWSet", func(t *testing.T) { crdttest.Cluster(t, awsetSpec()) })
	t.Run("RWSet", func(t *testing.T) { crdttest.Cluster(t, rwsetSpec()) })
	t.Run("DWFlag", func(t *testing.T) { crdttest.Cluster(t, dwSpec()) })
	t.Run("ORMap/PNCounter", func(t *testing.T) { crdttest.Cluster(t, cartSpec()) })
	t.Run("ORMap/ORMap/AWSet", func(t *testing.T) { crdttest.Cluster(t, nestedSpec()) })
	t.Run("LWWMap", func(t *testing.T) { crdttest.Cluster(t, lwwMapSpec()) })
	t.Run("LWWSet/AddWins", func(t *testing.T) { crdttest.Cluster(t, lwwSetSpec(crdt.AddWins)) })
	t.Run("LWWSet/RemoveWins", func(t *testing.T) { crdttest.Cluster(t, lwwSetSpec(crdt.RemoveWins)) })
	t.Run("BoundedCounter", func(t *testing.T) { crdttest.Cluster(t, boundedSpec()) })
}
