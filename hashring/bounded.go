package hashring

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// DefaultEpsilon is the load slack BoundedConfig.Epsilon defaults to: no node
// takes more than 1.25 times its fair share. Vimeo ran HAProxy's bounded
// loads with the same factor.
const DefaultEpsilon = 0.25

// BoundedConfig configures a Bounded. The zero value is the default.
type BoundedConfig struct {
	// Ring configures the underlying ring.
	Ring RingConfig
	// Epsilon is the slack over a fair share: with m keys held in total,
	// a node of weight w out of total weight W accepts a new key only while
	// it holds fewer than ceil((1+Epsilon) * m * w / W), m counting the new
	// key. Smaller values balance more tightly and move more keys away from
	// their ring owner; the expected number of keys moved by a membership
	// change grows like 1/Epsilon^2. Zero means DefaultEpsilon.
	Epsilon float64
	// MaxLoad, when positive, is a hard cap on the keys any one node holds,
	// whatever the average: with it, every node can be full, and Acquire
	// then returns ErrAllFull. Zero means no hard cap.
	MaxLoad int64
}

// Validate reports whether c can be used. It does not modify c.
func (c BoundedConfig) Validate() error {
	if err := c.Ring.Validate(); err != nil {
		return err
	}
	if c.Epsilon < 0 || math.IsNaN(c.Epsilon) || math.IsInf(c.Epsilon, 0) {
		return fmt.Errorf("%w: Epsilon %v, want a finite number >= 0", ErrInvalidConfig, c.Epsilon)
	}
	if c.MaxLoad < 0 {
		return fmt.Errorf("%w: MaxLoad %d < 0", ErrInvalidConfig, c.MaxLoad)
	}
	return nil
}

// Bounded is consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, 2016) on top of a Ring. It tracks how many keys (or
// requests, or sessions) each node holds. Acquire walks the ring clockwise
// from the key and takes the first node still under its bound, so keys stay
// with their ring owner until it is full and then spill to the next nodes.
//
// The bound holds at every assignment: Acquire never raises a node above
// ceil((1+Epsilon) * m * w/W) (and MaxLoad), m being the total held
// including the new key. Release lowers m, so a node can be left above the
// new, smaller bound until its own keys are released; Bounded never moves a
// key that is held. Acquire visits each ring point at most once, so it ends
// even when every node is full, and then returns ErrAllFull.
//
// All methods are safe for concurrent use; Acquire and Release are lock-free
// (atomic counters over an immutable ring snapshot). Concurrent Acquires
// each respect the bound computed from the total they observed.
type Bounded struct {
	eps     float64
	maxLoad int64
	ring    Ring
	mu      sync.Mutex // serializes membership changes and counter bookkeeping
	counts  map[string]*atomic.Int64
	st      atomic.Pointer[boundedState]
	total   atomic.Int64
}

// boundedState pairs one ring snapshot with its nodes' load counters.
type boundedState struct {
	snap   *ringSnapshot
	loads  []*atomic.Int64 // loads[i] counts keys held by snap.nodes[i]
	byID   map[string]*atomic.Int64
	weight float64 // total weight of snap.nodes
}

// NewBounded returns an empty Bounded configured by cfg.
func NewBounded(cfg BoundedConfig) (*Bounded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eps := cfg.Epsilon
	if eps == 0 {
		eps = DefaultEpsilon
	}
	return &Bounded{
		eps:     eps,
		maxLoad: cfg.MaxLoad,
		ring:    Ring{cfg: cfg.Ring},
		counts:  make(map[string]*atomic.Int64),
	}, nil
}

// rebuildLocked publishes a state for the ring's current snapshot. Nodes
// that left keep their counter while they still hold keys, so Release
// works for them; counters that reach zero for absent nodes are dropped.
func (b *Bounded) rebuildLocked() {
	snap := b.ring.load()
	st := &boundedState{snap: snap, byID: make(map[string]*atomic.Int64)}
	member := make(map[string]bool)
	if snap != nil {
		st.loads = make([]*atomic.Int64, len(snap.nodes))
		for i, n := range snap.nodes {
			c := b.counts[n.ID]
			if c == nil {
				c = new(atomic.Int64)
				b.counts[n.ID] = c
			}
			st.loads[i] = c
			st.weight += n.Weight
			member[n.ID] = true
		}
	}
	for id, c := range b.counts {
		// A retired counter is negative, so an Acquire still using an
		// older snapshot treats the node as full instead of counting a
		// key that no Release could find.
		if !member[id] && c.CompareAndSwap(0, retired) {
			delete(b.counts, id)
			continue
		}
		st.byID[id] = c
	}
	b.st.Store(st)
}

// Set replaces the membership with nodes. Held loads are kept.
func (b *Bounded) Set(nodes ...Node) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ring.Set(nodes...); err != nil {
		return err
	}
	b.rebuildLocked()
	return nil
}

// Add adds a node with the given weight (0 means 1) or changes its weight.
func (b *Bounded) Add(id string, weight float64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ring.Add(id, weight); err != nil {
		return err
	}
	b.rebuildLocked()
	return nil
}

// Remove removes a node and reports whether it was present. Keys it holds
// still count until they are released.
func (b *Bounded) Remove(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := b.ring.Remove(id)
	if ok {
		b.rebuildLocked()
	}
	return ok
}

// Nodes returns the nodes sorted by ID, with explicit weights.
func (b *Bounded) Nodes() []Node { return b.ring.Nodes() }

// Acquire places key on a node, counts it there, and returns the node. The
// caller must Release that node when the key is no longer held. It returns
// ErrNoNodes when there are no nodes and ErrAllFull when every node is at
// its bound.
func (b *Bounded) Acquire(key string) (string, error) { return b.AcquireHash(Hash(key)) }

// AcquireBytes is Acquire for a []byte key.
func (b *Bounded) AcquireBytes(key []byte) (string, error) { return b.AcquireHash(HashBytes(key)) }

// AcquireHash is Acquire for a key whose Hash is h.
func (b *Bounded) AcquireHash(h uint64) (string, error) {
	st := b.st.Load()
	if st == nil || st.snap == nil || len(st.snap.pairs) == 0 {
		return "", ErrNoNodes
	}
	m := b.total.Add(1)
	limit := (1 + b.eps) * float64(m) / st.weight
	s := st.snap
	i := s.index(h)
	prev := uint32(math.MaxUint32)
	for range s.pairs {
		if o := uint32(s.pairs[i]); o != prev {
			prev = o
			bound := boundOf(limit, s.nodes[o].Weight, b.maxLoad)
			c := st.loads[o]
			for cur := c.Load(); cur >= 0 && cur < bound; cur = c.Load() {
				if c.CompareAndSwap(cur, cur+1) {
					return s.nodes[o].ID, nil
				}
			}
		}
		if i++; i == len(s.pairs) {
			i = 0
		}
	}
	b.total.Add(-1)
	return "", ErrAllFull
}

// retired marks the counter of a node that left and holds no keys.
const retired = math.MinInt64 / 2

// boundOf returns a node's bound: ceil(limit*weight), capped by maxLoad.
func boundOf(limit, weight float64, maxLoad int64) int64 {
	bound := int64(math.Ceil(limit * weight))
	if maxLoad > 0 {
		bound = min(bound, maxLoad)
	}
	return bound
}

// Release gives back one key held by node. It returns ErrUnknownNode if the
// node holds none.
func (b *Bounded) Release(node string) error {
	st := b.st.Load()
	if st == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNode, node)
	}
	c := st.byID[node]
	if c == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNode, node)
	}
	for cur := c.Load(); cur > 0; cur = c.Load() {
		if c.CompareAndSwap(cur, cur-1) {
			b.total.Add(-1)
			return nil
		}
	}
	return fmt.Errorf("%w: %q holds no keys", ErrUnknownNode, node)
}

// Load returns the number of keys node holds.
func (b *Bounded) Load(node string) int64 {
	if st := b.st.Load(); st != nil {
		if c := st.byID[node]; c != nil {
			return max(0, c.Load())
		}
	}
	return 0
}

// Total returns the number of keys held over all nodes.
func (b *Bounded) Total() int64 { return b.total.Load() }

// Bound returns the most keys node may hold after one more Acquire: the
// bound that Acquire applies next. It is 0 for a node that is not a member.
func (b *Bounded) Bound(node string) int64 {
	st := b.st.Load()
	if st == nil || st.snap == nil {
		return 0
	}
	i, ok := st.snap.find(node)
	if !ok {
		return 0
	}
	limit := (1 + b.eps) * float64(b.total.Load()+1) / st.weight
	return boundOf(limit, st.snap.nodes[i].Weight, b.maxLoad)
}
