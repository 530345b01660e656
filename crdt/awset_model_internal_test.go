package crdt

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refSet is a reference add-wins set written from the ORSWOT definition
// with plain maps: an element's live dots, and every dot seen.
type refSet struct {
	store map[string]map[Dot]bool
	ctx   map[Dot]bool
}

func newRefSet() *refSet {
	return &refSet{store: map[string]map[Dot]bool{}, ctx: map[Dot]bool{}}
}

func (r *refSet) clone() *refSet {
	out := newRefSet()
	for e, ds := range r.store {
		out.store[e] = maps.Clone(ds)
	}
	maps.Copy(out.ctx, r.ctx)
	return out
}

func (r *refSet) next(id ReplicaID) Dot {
	var n uint64
	for d := range r.ctx {
		if d.ID == id {
			n = max(n, d.Counter)
		}
	}
	return Dot{ID: id, Counter: n + 1}
}

// add returns the delta: the new dot at e, in a context of the new dot and
// the dots it supersedes.
func (r *refSet) add(id ReplicaID, e string) *refSet {
	d := r.next(id)
	delta := newRefSet()
	for o := range r.store[e] {
		delta.ctx[o] = true
	}
	delta.ctx[d] = true
	delta.store[e] = map[Dot]bool{d: true}
	r.store[e] = map[Dot]bool{d: true}
	r.ctx[d] = true
	return delta
}

func (r *refSet) remove(e string) *refSet {
	delta := newRefSet()
	for o := range r.store[e] {
		delta.ctx[o] = true
	}
	delete(r.store, e)
	return delta
}

func (r *refSet) clear() *refSet {
	delta := newRefSet()
	for _, ds := range r.store {
		for o := range ds {
			delta.ctx[o] = true
		}
	}
	clear(r.store)
	return delta
}

// merge is the ORSWOT join: a dot survives if both sides hold it, or one
// side holds it and the other has not seen it.
func (r *refSet) merge(o *refSet) {
	out := map[string]map[Dot]bool{}
	keep := func(e string, d Dot) {
		if out[e] == nil {
			out[e] = map[Dot]bool{}
		}
		out[e][d] = true
	}
	for e, ds := range r.store {
		for d := range ds {
			if o.store[e][d] || !o.ctx[d] {
				keep(e, d)
			}
		}
	}
	for e, ds := range o.store {
		for d := range ds {
			if !r.ctx[d] {
				keep(e, d)
			}
		}
	}
	r.store = out
	maps.Copy(r.ctx, o.ctx)
}

// dump describes a state as sorted text: elements with their dots, then
// every dot of the context.
func (r *refSet) dump() string {
	var b strings.Builder
	for _, e := range slices.Sorted(maps.Keys(r.store)) {
		fmt.Fprintf(&b, "%s%v ", e, slices.SortedFunc(maps.Keys(r.store[e]), Dot.Compare))
	}
	fmt.Fprintf(&b, "| %v", slices.SortedFunc(maps.Keys(r.ctx), Dot.Compare))
	return b.String()
}

// refOf reads an AWSet's state into a refSet, expanding its vector.
func refOf(x *AWSet[string]) *refSet {
	r := newRefSet()
	for e, s := range x.c.store.all {
		r.store[e] = map[Dot]bool{}
		s.eachDot(func(d Dot) { r.store[e][d] = true })
	}
	b := x.c.ctx.body()
	for _, v := range b.vv {
		for n := uint64(1); n <= v.Counter; n++ {
			r.ctx[Dot{ID: v.ID, Counter: n}] = true
		}
	}
	for _, d := range b.cloud {
		r.ctx[d] = true
	}
	return r
}

// awFromRef builds an AWSet holding r's state through the store's general
// insertions, in the order given: a representation that may differ from
// the one operations reached, and must encode the same.
func awFromRef(r *refSet, order []string) *AWSet[string] {
	var x AWSet[string]
	var b ctxBody
	for _, d := range slices.SortedFunc(maps.Keys(r.ctx), Dot.Compare) {
		b.add(d)
	}
	x.c.ctx.set(b)
	for _, e := range order {
		if ds, ok := r.store[e]; ok {
			x.c.store.set(e, dotSetOf(slices.SortedFunc(maps.Keys(ds), Dot.Compare)))
		}
	}
	return &x
}

func mustEncode(t *rapid.T, x *AWSet[string]) []byte {
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// modelChecks is how many cases TestAWSetMatchesReference runs: each runs
// dozens of operations checked against the reference after every step,
// so it runs fewer cases than the laws whatever -rapid.checks says.
var modelChecks = flag.Int("crdt.modelchecks", 100, "cases of TestAWSetMatchesReference")

// keptDelta is a delta the test holds on to, its encoding when last
// changed on purpose, and its reference twin.
type keptDelta struct {
	x   *AWSet[string]
	enc []byte
	ref *refSet
	// private deltas had an Add of their own, whose dot another replica
	// may also mint: they are never merged anywhere.
	private bool
}

// TestAWSetMatchesReference runs operations on a few replicas of an AWSet
// and of the reference set side by side, checking after every step that
// each replica holds exactly the reference's dots and context, that equal
// states encode to equal bytes whatever their layout, and that no delta
// changes after it was returned: neither when the set that made it goes on
// changing, nor when the delta is merged into or merged from. Replica IDs
// are passed both as one shared string and as fresh copies, some of them
// prefixes sharing storage with a longer ID, so that every comparison of
// IDs by pointer meets equal strings at different addresses and different
// strings at the same address.
func TestAWSetMatchesReference(t *testing.T) {
	old := flag.Lookup("rapid.checks").Value.String()
	if err := flag.Set("rapid.checks", strconv.Itoa(*modelChecks)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("rapid.checks", old) })
	rapid.Check(t, func(t *rapid.T) {
		backing := strings.Clone("r1r10r2")
		ids := []ReplicaID{ReplicaID(backing[0:2]), ReplicaID(backing[0:5]), ReplicaID(backing[2:5]), ReplicaID(backing[5:7])}
		n := rapid.IntRange(1, 3).Draw(t, "replicas")
		reps := make([]*AWSet[string], n)
		refs := make([]*refSet, n)
		for i := range reps {
			reps[i], refs[i] = new(AWSet[string]), newRefSet()
		}
		// Few elements make adds collide; many make the tables of a
		// large set, past which merging a delta takes its shortcut.
		nelems := rapid.SampledFrom([]int{2, 6, 40, 400}).Draw(t, "elements")
		// A retired replica mints no dot again: some replica has
		// forgotten it.
		retired := make([]bool, len(ids))
		var kept []keptDelta
		keep := func(d *AWSet[string], r *refSet) {
			kept = append(kept, keptDelta{x: d, enc: mustEncode(t, d), ref: r})
		}
		// unchanged fails t if kept delta k changed since it was last
		// changed on purpose; checked before each use and at the end.
		unchanged := func(k int) {
			if e := mustEncode(t, kept[k].x); !bytes.Equal(e, kept[k].enc) {
				t.Fatalf("delta %d changed after it was returned:\n%x\n%x", k, kept[k].enc, e)
			}
		}
		elem := func() string {
			// Element 0 is the zero value, which an inline entry must
			// tell from no entry.
			if i := rapid.IntRange(0, nelems-1).Draw(t, "elem"); i > 0 {
				return "e" + strconv.Itoa(i)
			}
			return ""
		}
		id := func(i int) ReplicaID {
			if rapid.Bool().Draw(t, "fresh id") {
				return ReplicaID(strings.Clone(string(ids[i])))
			}
			return ids[i]
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				if retired[i] {
					t.Skip("retired")
				}
				e := elem()
				keep(reps[i].Add(id(i), e), refs[i].add(ids[i], e))
			},
			"add many": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				if retired[i] {
					t.Skip("retired")
				}
				for range rapid.IntRange(1, max(30, nelems)).Draw(t, "count") {
					e := elem()
					keep(reps[i].Add(id(i), e), refs[i].add(ids[i], e))
				}
			},
			"remove": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				e := elem()
				keep(reps[i].Remove(e), refs[i].remove(e))
			},
			"clear": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				keep(reps[i].Clear(), refs[i].clear())
			},
			"merge state": func(t *rapid.T) {
				i, j := rapid.IntRange(0, n-1).Draw(t, "to"), rapid.IntRange(0, n-1).Draw(t, "from")
				// Merged without a clone: the source must not change,
				// nor share memory the target changes later.
				reps[i].Merge(reps[j])
				refs[i].merge(refs[j].clone())
			},
			"merge delta": func(t *rapid.T) {
				if len(kept) == 0 {
					t.Skip("no delta")
				}
				i := rapid.IntRange(0, n-1).Draw(t, "to")
				k := rapid.IntRange(0, len(kept)-1).Draw(t, "delta")
				if kept[k].private {
					t.Skip("private delta")
				}
				unchanged(k)
				reps[i].Merge(kept[k].x)
				refs[i].merge(kept[k].ref)
			},
			"merge into delta": func(t *rapid.T) {
				if len(kept) == 0 {
					t.Skip("no delta")
				}
				k := rapid.IntRange(0, len(kept)-1).Draw(t, "delta")
				unchanged(k)
				d := &kept[k]
				if rapid.Bool().Draw(t, "from a replica") {
					j := rapid.IntRange(0, n-1).Draw(t, "from")
					d.x.Merge(reps[j])
					d.ref = d.ref.clone()
					d.ref.merge(refs[j])
				} else {
					j := rapid.IntRange(0, len(kept)-1).Draw(t, "other")
					if kept[j].private {
						t.Skip("private delta")
					}
					unchanged(j)
					d.x.Merge(kept[j].x)
					d.ref = d.ref.clone()
					d.ref.merge(kept[j].ref)
					kept[j].enc = mustEncode(t, kept[j].x) // checked unchanged below
				}
				d.enc = mustEncode(t, d.x)
			},
			"add to delta": func(t *rapid.T) {
				// A delta is an AWSet like any other.
				if len(kept) == 0 {
					t.Skip("no delta")
				}
				k := rapid.IntRange(0, len(kept)-1).Draw(t, "delta")
				unchanged(k)
				i := rapid.IntRange(0, len(ids)-1).Draw(t, "as")
				if retired[i] {
					t.Skip("retired")
				}
				e := elem()
				d := &kept[k]
				d.ref = d.ref.clone()
				dx, dr := d.x.Add(id(i), e), d.ref.add(ids[i], e)
				d.enc, d.private = mustEncode(t, d.x), true
				keep(dx, dr)
				kept[len(kept)-1].private = true
			},
			"restart": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				var y AWSet[string]
				if err := y.UnmarshalBinary(mustEncode(t, reps[i])); err != nil {
					t.Fatalf("decode: %v", err)
				}
				reps[i] = &y
			},
			"clone": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				reps[i] = reps[i].Clone()
			},
			"prune": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				j := rapid.IntRange(0, len(ids)-1).Draw(t, "retired")
				if i == j || retired[i] {
					t.Skip("self or retired")
				}
				before := refs[i]
				d := reps[i].Prune(ids[j], id(i))
				// Which fresh dot each element gets is the
				// implementation's choice; check the choice is valid
				// and adopt it.
				after := refOf(reps[i])
				next := before.next(ids[i]).Counter
				fresh := map[Dot]bool{}
				for e, ds := range before.store {
					var moved int
					for x := range ds {
						if x.ID == ids[j] {
							moved++
						} else if !after.store[e][x] {
							t.Fatalf("prune dropped %v of %s", x, e)
						}
					}
					for x := range after.store[e] {
						if ds[x] {
							continue
						}
						if x.ID != ids[i] || x.Counter < next || fresh[x] {
							t.Fatalf("prune gave %s the dot %v", e, x)
						}
						fresh[x] = true
						moved--
					}
					if moved != 0 {
						t.Fatalf("prune of %s: %d retired dots not replaced one for one", e, moved)
					}
				}
				if len(after.store) != len(before.store) {
					t.Fatalf("prune changed the elements: %s to %s", before.dump(), after.dump())
				}
				for x := range before.ctx {
					if !after.ctx[x] {
						t.Fatalf("prune forgot %v", x)
					}
				}
				for x := range after.ctx {
					if !before.ctx[x] && !fresh[x] {
						t.Fatalf("prune recorded %v, which no element holds", x)
					}
				}
				refs[i] = after
				keep(d, after.clone())
			},
			"forget": func(t *rapid.T) {
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				j := rapid.IntRange(0, len(ids)-1).Draw(t, "retired")
				if i == j {
					t.Skip("self")
				}
				live := false
				for _, ds := range refs[i].store {
					for x := range ds {
						live = live || x.ID == ids[j]
					}
				}
				err := reps[i].ForgetReplica(id(j))
				if live != (err != nil) {
					t.Fatalf("ForgetReplica with live dots %v: %v", live, err)
				}
				if err == nil {
					retired[j] = true
					for x := range refs[i].ctx {
						if x.ID == ids[j] {
							delete(refs[i].ctx, x)
						}
					}
				}
			},
			"": func(t *rapid.T) {
				for i := range reps {
					got, want := refOf(reps[i]), refs[i]
					if got.dump() != want.dump() {
						t.Fatalf("replica %d:\n got  %s\n want %s", i, got.dump(), want.dump())
					}
					if reps[i].Len() != len(want.store) {
						t.Fatalf("replica %d: Len %d, reference %d", i, reps[i].Len(), len(want.store))
					}
					// Rebuilt in a drawn rotation of sorted order: a
					// full permutation costs too many draws.
					order := slices.Sorted(maps.Keys(want.store))
					if len(order) > 1 {
						r := rapid.IntRange(0, len(order)-1).Draw(t, "rebuild rotation")
						order = slices.Concat(order[r:], order[:r])
					}
					if e, e2 := mustEncode(t, reps[i]), mustEncode(t, awFromRef(want, order)); !bytes.Equal(e, e2) {
						t.Fatalf("replica %d: equal states encode differently:\n%x\n%x", i, e, e2)
					}
				}
			},
		})
		// A delta that changed stays changed, so the deltas are checked
		// once, at the end.
		for k, d := range kept {
			unchanged(k)
			if got := refOf(d.x).dump(); got != d.ref.dump() {
				t.Fatalf("delta %d:\n got  %s\n want %s", k, got, d.ref.dump())
			}
		}
	})
}
