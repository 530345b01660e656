package hashring

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultVirtualNodes is the number of ring points a node of weight 1 gets
// when RingConfig.VirtualNodes is zero. A node's share of the keyspace
// deviates from its fair share by about 1/sqrt(VirtualNodes) (one standard
// deviation), so 2000 points keep the busiest of 100 nodes within about 10%
// of the mean (at most 1.093 over 100 random node sets); 160 points, the
// usual ketama figure, leave it 20-30% over.
const DefaultVirtualNodes = 2000

// maxVirtualNodes bounds the points of one node so that the ring's uint32
// owner and table indices cannot overflow.
const maxVirtualNodes = 1 << 24

// RingConfig configures a Ring. The zero value is the default configuration.
type RingConfig struct {
	// VirtualNodes is the number of points a node of weight 1 places on the
	// ring; a node of weight w places round(w*VirtualNodes), at least one.
	// More points give better balance (deviation about 1/sqrt(points)) and
	// cost 8-10 bytes each; lookups stay O(1) because of the prefix table.
	// Zero means DefaultVirtualNodes. Changing it moves almost every key.
	VirtualNodes int
}

// Validate reports whether c can be used. It does not modify c.
func (c RingConfig) Validate() error {
	if c.VirtualNodes < 0 || c.VirtualNodes > maxVirtualNodes {
		return fmt.Errorf("%w: VirtualNodes %d outside [0, %d]", ErrInvalidConfig, c.VirtualNodes, maxVirtualNodes)
	}
	return nil
}

func (c RingConfig) vnodes() int {
	if c.VirtualNodes == 0 {
		return DefaultVirtualNodes
	}
	return c.VirtualNodes
}

// Ring is a consistent-hash ring with virtual nodes (Karger et al.). A key
// belongs to the node owning the first ring point at or after the key's
// hash; adding or removing a node moves only the keys of the arcs that node
// gains or loses.
//
// Lookups read an immutable snapshot through an atomic pointer: they take no
// lock, allocate nothing, and run in parallel with each other and with
// membership changes, which build a new snapshot and swap it in. The zero
// Ring is empty and uses the default configuration.
type Ring struct {
	cfg  RingConfig
	mu   sync.Mutex // serializes writers; readers never take it
	snap atomic.Pointer[ringSnapshot]
}

// NewRing returns an empty ring configured by cfg.
func NewRing(cfg RingConfig) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Ring{cfg: cfg}, nil
}

// ringSnapshot is one immutable ring. Ring points are 32-bit positions:
// with at most a few million points, 32 bits leave arcs that differ from the
// exact ones by a 2^-32 fraction of the keyspace. Each point is packed with
// its owner's index into one uint64, point<<32 | owner, so a lookup reads
// the point and its owner from the same cache line, and comparing packed
// values orders by point first and owner (node ID) second.
type ringSnapshot struct {
	nodes []Node   // sorted by ID; owner indices point into it
	pairs []uint64 // sorted point<<32 | owner
	// table[b] is the index of the first point whose top bits are >= b, for
	// b in [0, 2^tableBits]; table[2^tableBits] == len(points). It turns
	// the binary search into one load and a scan of about 2-4 points.
	table []uint32
	shift uint // 32 - tableBits
}

func (r *Ring) load() *ringSnapshot { return r.snap.Load() }

// pointsOf appends the ring points of a node with the given ID and point
// count, packed as point<<32 | owner. Point j depends only on the ID and j,
// so raising a node's weight keeps its old points and only adds new ones.
func pointsOf(dst []uint64, id string, count int, owner uint32) []uint64 {
	base := Hash(id)
	for j := range count {
		p := uint32(mix64(base+uint64(j+1)*golden) >> 32)
		dst = append(dst, uint64(p)<<32|uint64(owner))
	}
	return dst
}

// vnodeCount returns how many points a node of weight w gets.
func vnodeCount(w float64, perUnit int) (int, error) {
	c := math.Round(weightOf(w) * float64(perUnit))
	if c > maxVirtualNodes {
		return 0, fmt.Errorf("%w: weight %v gives more than %d virtual nodes", ErrInvalidNode, w, maxVirtualNodes)
	}
	return max(1, int(c)), nil
}

// newRingSnapshot builds a snapshot from sorted nodes and packed, sorted
// point<<32|owner pairs. Sorting pairs by point and then by owner index
// (that is, by node ID) makes equal points resolve the same way whatever
// the insertion order.
func newRingSnapshot(nodes []Node, packed []uint64) *ringSnapshot {
	s := &ringSnapshot{nodes: nodes, pairs: packed}
	tableBits := 0
	if len(packed) > 1 {
		// About one table entry per 2-4 points: at most 2 bytes per point.
		tableBits = bits.Len(uint(len(packed))) - 2
	}
	s.shift = uint(32 - tableBits)
	s.table = make([]uint32, 1<<tableBits+1)
	i := 0
	for b := range len(s.table) - 1 {
		start := uint64(b) << s.shift
		for i < len(packed) && packed[i]>>32 < start {
			i++
		}
		s.table[b] = uint32(i)
	}
	s.table[len(s.table)-1] = uint32(len(packed))
	return s
}

// packed returns the snapshot's pairs re-packed, with owner indices passed
// through remap (which must be monotone) and owners for which remap returns
// -1 dropped.
func (s *ringSnapshot) packed(dst []uint64, remap func(uint32) int64) []uint64 {
	for _, p := range s.pairs {
		o := remap(uint32(p))
		if o < 0 {
			continue
		}
		dst = append(dst, p&^0xffffffff|uint64(o))
	}
	return dst
}

// Set replaces the ring's membership with nodes. It rebuilds the ring from
// scratch, in O(P log P) for P points; Add and Remove are O(P).
func (r *Ring) Set(nodes ...Node) error {
	sorted, err := normalizeNodes(nodes)
	if err != nil {
		return err
	}
	per := r.cfg.vnodes()
	var packed []uint64
	for i, n := range sorted {
		c, err := vnodeCount(n.Weight, per)
		if err != nil {
			return err
		}
		packed = pointsOf(packed, n.ID, c, uint32(i))
	}
	slices.Sort(packed)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Store(newRingSnapshot(sorted, packed))
	return nil
}

// Add adds a node with the given weight (0 means 1), or changes the weight
// of a node already present. Only keys moving to or from that node change
// owner.
func (r *Ring) Add(id string, weight float64) error {
	if err := checkNode(id, weight); err != nil {
		return err
	}
	per := r.cfg.vnodes()
	count, err := vnodeCount(weight, per)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load()
	if old == nil {
		old = &ringSnapshot{}
	}
	if i, ok := old.find(id); ok {
		if old.nodes[i].Weight == weightOf(weight) {
			return nil
		}
		old = old.without(i)
	}
	r.snap.Store(old.with(Node{ID: id, Weight: weightOf(weight)}, count))
	return nil
}

// Remove removes the node with the given ID and reports whether it was
// present. Only that node's keys change owner.
func (r *Ring) Remove(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load()
	if old == nil {
		return false
	}
	i, ok := old.find(id)
	if !ok {
		return false
	}
	r.snap.Store(old.without(i))
	return true
}

// find returns the index of id in the snapshot's nodes.
func (s *ringSnapshot) find(id string) (int, bool) {
	return slices.BinarySearchFunc(s.nodes, id, func(a Node, id string) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
}

// with returns a new snapshot with n (not present in s) added with count
// points, merging its sorted points into the existing ones in O(P).
func (s *ringSnapshot) with(n Node, count int) *ringSnapshot {
	nodes, at, _ := withNode(s.nodes, n)
	fresh := pointsOf(make([]uint64, 0, count), n.ID, count, uint32(at))
	slices.Sort(fresh)
	shifted := s.packed(make([]uint64, 0, len(s.pairs)), func(o uint32) int64 {
		if int(o) >= at {
			return int64(o) + 1
		}
		return int64(o)
	})
	merged := make([]uint64, 0, len(shifted)+len(fresh))
	i, j := 0, 0
	for i < len(shifted) && j < len(fresh) {
		if shifted[i] < fresh[j] {
			merged = append(merged, shifted[i])
			i++
		} else {
			merged = append(merged, fresh[j])
			j++
		}
	}
	merged = append(merged, shifted[i:]...)
	merged = append(merged, fresh[j:]...)
	return newRingSnapshot(nodes, merged)
}

// without returns a new snapshot without the node at index at.
func (s *ringSnapshot) without(at int) *ringSnapshot {
	nodes, _, _ := withoutNode(s.nodes, s.nodes[at].ID)
	packed := s.packed(make([]uint64, 0, len(s.pairs)), func(o uint32) int64 {
		switch {
		case int(o) == at:
			return -1
		case int(o) > at:
			return int64(o) - 1
		}
		return int64(o)
	})
	return newRingSnapshot(nodes, packed)
}

// index returns the index of the first point at or after hash h, wrapping
// to 0 past the last point. The snapshot must not be empty.
func (s *ringSnapshot) index(h uint64) int {
	k := uint32(h >> 32)
	b := k >> s.shift
	i, end := s.table[b], s.table[b+1]
	pairs := s.pairs
	// A pair is below k<<32 exactly when its point is below k.
	for k64 := uint64(k) << 32; i < end && pairs[i] < k64; {
		i++
	}
	if int(i) >= len(pairs) {
		return 0
	}
	return int(i)
}

// Get returns the node that owns key, or ErrNoNodes if the ring is empty.
func (r *Ring) Get(key string) (string, error) { return r.GetHash(Hash(key)) }

// GetBytes is Get for a []byte key.
func (r *Ring) GetBytes(key []byte) (string, error) { return r.GetHash(HashBytes(key)) }

// GetHash returns the owner of a key whose Hash is h.
func (r *Ring) GetHash(h uint64) (string, error) {
	s := r.load()
	if s == nil || len(s.pairs) == 0 {
		return "", ErrNoNodes
	}
	return s.nodes[uint32(s.pairs[s.index(h)])].ID, nil
}

// GetN returns up to n distinct nodes for key in ring order: the owner
// first, then the next distinct nodes clockwise, which is where replicas
// go. It returns fewer than n only when the ring has fewer nodes, and
// GetN(key, n) is always a prefix of GetN(key, n+1).
func (r *Ring) GetN(key string, n int) []string { return r.AppendNHash(nil, Hash(key), n) }

// GetNBytes is GetN for a []byte key.
func (r *Ring) GetNBytes(key []byte, n int) []string { return r.AppendNHash(nil, HashBytes(key), n) }

// AppendNHash appends to dst the up to n distinct nodes for a key whose
// Hash is h, as GetN does. It allocates nothing beyond growing dst when
// n <= 16.
func (r *Ring) AppendNHash(dst []string, h uint64, n int) []string {
	s := r.load()
	if s == nil || len(s.pairs) == 0 || n <= 0 {
		return dst
	}
	n = min(n, len(s.nodes))
	var small [16]uint32
	var seen []uint64 // bitset over owner indices, only for n > len(small)
	if n > len(small) {
		seen = make([]uint64, (len(s.nodes)+63)/64)
	}
	found := 0
	i := s.index(h)
	// One lap visits every point, so it finds every node: the walk ends.
	for range s.pairs {
		o := uint32(s.pairs[i])
		dup := false
		if seen != nil {
			dup = seen[o/64]&(1<<(o%64)) != 0
			seen[o/64] |= 1 << (o % 64)
		} else {
			for _, x := range small[:found] {
				if x == o {
					dup = true
					break
				}
			}
			if !dup {
				small[found] = o
			}
		}
		if !dup {
			dst = append(dst, s.nodes[o].ID)
			found++
			if found == n {
				break
			}
		}
		if i++; i == len(s.pairs) {
			i = 0
		}
	}
	return dst
}

// Nodes returns the ring's nodes sorted by ID, with explicit weights.
func (r *Ring) Nodes() []Node {
	s := r.load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.nodes)
}

// Len returns the number of nodes.
func (r *Ring) Len() int {
	s := r.load()
	if s == nil {
		return 0
	}
	return len(s.nodes)
}

// RingStatus describes one ring snapshot.
type RingStatus struct {
	Nodes        int // members
	VirtualNodes int // ring points over all members
	Bytes        int // memory held by the points, owners and prefix table
}

// Status returns the size of the current ring.
func (r *Ring) Status() RingStatus {
	s := r.load()
	if s == nil {
		return RingStatus{}
	}
	return RingStatus{
		Nodes:        len(s.nodes),
		VirtualNodes: len(s.pairs),
		Bytes:        8*cap(s.pairs) + 4*cap(s.table),
	}
}

// Shares returns each node's exact fraction of the keyspace (the total
// length of the arcs it owns), keyed by node ID. It is how balance is
// measured without sampling keys.
func (r *Ring) Shares() map[string]float64 {
	s := r.load()
	out := make(map[string]float64)
	if s == nil || len(s.pairs) == 0 {
		return out
	}
	const space = 1 << 32
	prev := int64(s.pairs[len(s.pairs)-1]>>32) - space
	for _, pair := range s.pairs {
		p := int64(pair >> 32)
		out[s.nodes[uint32(pair)].ID] += float64(p-prev) / space
		prev = p
	}
	return out
}
