package hashring

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// Rendezvous is rendezvous or highest-random-weight hashing (Thaler and
// Ravishankar): every node scores the key and the highest score wins. It
// needs no virtual nodes, balances as well as chance allows, moves only the
// keys of a node that joins or leaves, and its top-k list is a natural
// replica set. A lookup costs O(n) for n nodes, so it suits tens to a few
// hundred nodes.
//
// Weighted nodes use the logarithmic method: node i scores
// w_i / -ln(u_i) for its uniform hash u_i, so it wins a share of keys
// exactly proportional to w_i. When all weights are equal the score is the
// hash itself, which ranks nodes identically and costs no logarithm.
//
// Lookups read an immutable snapshot through an atomic pointer and take no
// lock. The zero Rendezvous is empty and ready to use.
type Rendezvous struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[hrwSnapshot]
}

type hrwSnapshot struct {
	nodes    []Node    // sorted by ID
	seeds    []hrwSeed // seeds[i] belongs to nodes[i]
	weighted bool      // weights differ, so scores need the logarithm
}

// hrwSeed is what a node contributes to its scores: a value mixed into the
// key hash and an odd multiplier, both derived from Hash(ID).
type hrwSeed struct{ x, m uint64 }

// score is the rendezvous score of a node for key hash h: the 128-bit
// product of (h xor x) and the node's own odd multiplier m, folded by xor
// of its halves (wyhash's "mum" mix). One multiply-and-fold per node is
// about half the cost of a full 64-bit finalizer, and the per-node
// multiplier keeps different nodes' scores for one key unrelated.
func (sd hrwSeed) score(h uint64) uint64 {
	hi, lo := bits.Mul64(h^sd.x, sd.m)
	return hi ^ lo
}

func newHRWSnapshot(nodes []Node) *hrwSnapshot {
	s := &hrwSnapshot{nodes: nodes, seeds: make([]hrwSeed, len(nodes))}
	for i, n := range nodes {
		h := Hash(n.ID)
		s.seeds[i] = hrwSeed{x: h, m: mix64(h) | 1}
		if n.Weight != nodes[0].Weight {
			s.weighted = true
		}
	}
	return s
}

// Set replaces the membership with nodes.
func (r *Rendezvous) Set(nodes ...Node) error {
	sorted, err := normalizeNodes(nodes)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Store(newHRWSnapshot(sorted))
	return nil
}

// Add adds a node with the given weight (0 means 1) or changes the weight of
// a node already present.
func (r *Rendezvous) Add(id string, weight float64) error {
	if err := checkNode(id, weight); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var old []Node
	if s := r.snap.Load(); s != nil {
		old = s.nodes
	}
	nodes, _, _ := withNode(old, Node{ID: id, Weight: weightOf(weight)})
	r.snap.Store(newHRWSnapshot(nodes))
	return nil
}

// Remove removes a node and reports whether it was present.
func (r *Rendezvous) Remove(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	if s == nil {
		return false
	}
	nodes, _, ok := withoutNode(s.nodes, id)
	if ok {
		r.snap.Store(newHRWSnapshot(nodes))
	}
	return ok
}

// Nodes returns the nodes sorted by ID, with explicit weights.
func (r *Rendezvous) Nodes() []Node {
	if s := r.snap.Load(); s != nil {
		return slices.Clone(s.nodes)
	}
	return nil
}

// Get returns the node that owns key, or ErrNoNodes.
func (r *Rendezvous) Get(key string) (string, error) { return r.GetHash(Hash(key)) }

// GetBytes is Get for a []byte key.
func (r *Rendezvous) GetBytes(key []byte) (string, error) { return r.GetHash(HashBytes(key)) }

// GetHash returns the owner of a key whose Hash is h.
func (r *Rendezvous) GetHash(h uint64) (string, error) {
	s := r.snap.Load()
	if s == nil || len(s.nodes) == 0 {
		return "", ErrNoNodes
	}
	if s.weighted {
		return s.nodes[s.bestWeighted(h)].ID, nil
	}
	return s.nodes[bestUnweighted(s.seeds, h)].ID, nil
}

// bestUnweighted returns the index of the highest score for key hash h
// among seeds, which is not empty. Ties (equal 64-bit scores) go to the
// lower index, i.e. the smaller ID, because only a strictly greater score
// replaces. It is kept apart from GetHash so that GetHash inlines into Get
// and this loop gets a frame of its own.
func bestUnweighted(seeds []hrwSeed, h uint64) int {
	best, bestScore := 0, seeds[0].score(h)
	for i, seed := range seeds[1:] {
		if sc := seed.score(h); sc > bestScore {
			best, bestScore = i+1, sc
		}
	}
	return best
}

// bestWeighted is bestUnweighted for weighted nodes, comparing
// w / -ln(u) scores.
func (s *hrwSnapshot) bestWeighted(h uint64) int {
	best, bestScore := 0, -1.0
	for i := range s.seeds {
		if sc := s.score(h, i); sc > bestScore {
			best, bestScore = i, sc
		}
	}
	return best
}

// score is node i's weighted score for key hash h: w / -ln(u) with u in
// (0, 1) taken from the top 53 bits of the mixed hash.
func (s *hrwSnapshot) score(h uint64, i int) float64 {
	u := (float64(s.seeds[i].score(h)>>11) + 0.5) / (1 << 53)
	return s.nodes[i].Weight / -math.Log(u)
}

// GetN returns up to n distinct nodes for key, highest score first. Adding
// or removing a node changes a key's list only by inserting or deleting that
// node, and GetN(key, n) is a prefix of GetN(key, n+1).
func (r *Rendezvous) GetN(key string, n int) []string { return r.AppendNHash(nil, Hash(key), n) }

// GetNBytes is GetN for a []byte key.
func (r *Rendezvous) GetNBytes(key []byte, n int) []string {
	return r.AppendNHash(nil, HashBytes(key), n)
}

// AppendNHash appends to dst up to n distinct nodes for a key whose Hash is
// h, highest score first. It allocates nothing beyond growing dst when
// n <= 16; it costs O(nodes * n).
func (r *Rendezvous) AppendNHash(dst []string, h uint64, n int) []string {
	s := r.snap.Load()
	if s == nil || n <= 0 {
		return dst
	}
	n = min(n, len(s.nodes))
	// top holds the best n so far as (score, index), best first. Scores
	// are compared as float64 in the weighted case and as uint64
	// otherwise; ties keep the lower index first.
	type entry struct {
		u   uint64
		f   float64
		idx int
	}
	var small [16]entry
	top := small[:0]
	if n > len(small) {
		top = make([]entry, 0, n)
	}
	better := func(a, b entry) bool {
		if s.weighted {
			return a.f > b.f || (a.f == b.f && a.idx < b.idx)
		}
		return a.u > b.u || (a.u == b.u && a.idx < b.idx)
	}
	for i := range s.seeds {
		e := entry{idx: i}
		if s.weighted {
			e.f = s.score(h, i)
		} else {
			e.u = s.seeds[i].score(h)
		}
		if len(top) == n && !better(e, top[n-1]) {
			continue
		}
		if len(top) < n {
			top = append(top, e)
		} else {
			top[n-1] = e
		}
		for j := len(top) - 1; j > 0 && better(top[j], top[j-1]); j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	for _, e := range top {
		dst = append(dst, s.nodes[e.idx].ID)
	}
	return dst
}
