package hashring

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// MaglevConfig configures a Maglev. The zero value is the default.
type MaglevConfig struct {
	// TableSize is the number of lookup-table entries, M. It must be a prime
	// (every node's preference list is then a permutation of the table) and
	// should be at least 100 times the number of nodes: each node gets
	// floor(M/N) or ceil(M/N) entries, so the busiest node carries at most
	// 1+N/M times the mean. The table costs 4*M bytes.
	//
	// Zero picks, at each build, the first size in the fixed ladder of
	// primes 65537, 131101, 262147, ... (the smallest prime >= 2^k) that is
	// at least 100*N. Crossing a rung as the fleet grows (past 655, 1310,
	// 2621, ... nodes) changes M and so remaps most keys; set TableSize
	// explicitly to the rung for the largest fleet you expect to avoid that.
	TableSize int
}

// maxMaglevTable bounds the table at 2^31 entries so indices fit in uint32.
const maxMaglevTable = 1 << 31

// Validate reports whether c can be used. It does not modify c.
func (c MaglevConfig) Validate() error {
	if c.TableSize == 0 {
		return nil
	}
	if c.TableSize < 2 || c.TableSize > maxMaglevTable || !isPrime(uint64(c.TableSize)) {
		return fmt.Errorf("%w: TableSize %d is not a prime in [2, 2^31]", ErrInvalidConfig, c.TableSize)
	}
	return nil
}

// tableSize returns M for n nodes.
func (c MaglevConfig) tableSize(n int) int {
	if c.TableSize != 0 {
		return c.TableSize
	}
	for k := 16; ; k++ {
		p := nextPrime(uint64(1) << k)
		if p >= uint64(100*n) || p >= maxMaglevTable/2 {
			return int(p)
		}
	}
}

// isPrime reports whether x is prime, by trial division: x is at most 2^31,
// so this takes at most about 23,000 divisions and runs once per build.
func isPrime(x uint64) bool {
	if x < 2 {
		return false
	}
	for d := uint64(2); d*d <= x; d++ {
		if x%d == 0 {
			return false
		}
	}
	return true
}

func nextPrime(x uint64) uint64 {
	for !isPrime(x) {
		x++
	}
	return x
}

// Maglev is Maglev hashing (Eisenbud et al., NSDI 2016): each node fills a
// prime-sized lookup table in turn from its own permutation of the slots,
// and a key's owner is one table read. It gives the best balance and the
// fastest lookup of the package; in exchange a membership change rebuilds
// the table (O(M log M)) and moves a small extra fraction of keys between
// surviving nodes, unlike a ring.
//
// The build keeps O(N) state (each node's offset, skip and position in its
// permutation) and a bitmap of filled slots, not an N*M permutation matrix.
// Weights set how many slots a node claims per round, so shares follow
// weights. Lookups read an immutable snapshot through an atomic pointer and
// take no lock. The zero Maglev is empty and uses the default configuration.
type Maglev struct {
	cfg  MaglevConfig
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[maglevSnapshot]
}

type maglevSnapshot struct {
	nodes []Node   // sorted by ID
	table []uint32 // table[slot] is an index into nodes
}

// NewMaglev returns an empty Maglev configured by cfg.
func NewMaglev(cfg MaglevConfig) (*Maglev, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Maglev{cfg: cfg}, nil
}

// Set replaces the membership with nodes and rebuilds the table.
func (m *Maglev) Set(nodes ...Node) error {
	sorted, err := normalizeNodes(nodes)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.Store(&maglevSnapshot{nodes: sorted, table: buildMaglev(sorted, m.cfg.tableSize(len(sorted)))})
	return nil
}

// Add adds a node with the given weight (0 means 1), or changes the weight
// of a node already present, and rebuilds the table.
func (m *Maglev) Add(id string, weight float64) error {
	if err := checkNode(id, weight); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var old []Node
	if s := m.snap.Load(); s != nil {
		old = s.nodes
	}
	nodes, _, _ := withNode(old, Node{ID: id, Weight: weightOf(weight)})
	m.snap.Store(&maglevSnapshot{nodes: nodes, table: buildMaglev(nodes, m.cfg.tableSize(len(nodes)))})
	return nil
}

// Remove removes a node, rebuilds the table, and reports whether the node
// was present.
func (m *Maglev) Remove(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.snap.Load()
	if s == nil {
		return false
	}
	nodes, _, ok := withoutNode(s.nodes, id)
	if ok {
		m.snap.Store(&maglevSnapshot{nodes: nodes, table: buildMaglev(nodes, m.cfg.tableSize(len(nodes)))})
	}
	return ok
}

// buildMaglev fills a table of size m (prime) from sorted nodes. Node i's
// preference list is offset_i + j*skip_i mod m for j = 0, 1, ..., a
// permutation of the slots because m is prime and 0 < skip_i < m. In each
// round every node claims its next unfilled preferred slots, as many as its
// weight earns, until the table is full.
//
// Probing a preference list for a free slot costs m/e probes when e slots
// are free, so a plain build makes about m*ln(m) probes, most of them at the
// end. Once at most sqrt(m) slots are free the build switches to the
// equivalent rule "take the free slot that comes first in my preference
// list" and computes each free slot's rank j = (slot-offset_i)/skip_i mod m
// directly: e ranks per claim instead of m/e probes. Every slot before a
// node's current position in its list is already filled (the node walked
// past it), so the first free slot in list order is the free slot of
// smallest rank, and both phases fill the same table.
func buildMaglev(nodes []Node, m int) []uint32 {
	n := len(nodes)
	if n == 0 {
		return nil
	}
	mm := uint32(m)              // m <= 2^31, so positions and sums fit in uint32
	offset := make([]uint32, n)  // node i's first preference
	next := make([]uint32, n)    // next position in node i's permutation
	skip := make([]uint32, n)    // node i's permutation step
	credit := make([]float64, n) // slots earned and not yet claimed
	share := make([]float64, n)  // slots earned per round: weight / max weight
	maxW := 0.0
	for _, nd := range nodes {
		maxW = max(maxW, nd.Weight)
	}
	for i, nd := range nodes {
		h := Hash(nd.ID)
		offset[i] = uint32(h % uint64(mm))
		next[i] = offset[i]
		skip[i] = uint32(mix64(h)%uint64(mm-1)) + 1
		share[i] = nd.Weight / maxW
	}
	// The bitmap of filled slots (M/8 bytes) stays in the L1 cache where
	// the table itself would not, which keeps the random probes cheap.
	filled := make([]uint64, (m+63)/64)
	table := make([]uint32, m)
	left := m
	switchAt := int(math.Sqrt(float64(m)))
	var free []uint32 // the free slots, once left <= switchAt
	var inv []uint64  // inv[i] = skip[i]^-1 mod m, or 0 until node i needs it
	red := newModReducer(uint64(m))
	// With equal weights every share is exactly 1, so every node claims
	// exactly one slot per round and the credit arithmetic can be skipped.
	equal := true
	for _, sh := range share {
		equal = equal && sh == 1
	}
	start := 0
	if equal {
		// Probe in a function of its own, which keeps the loop's state in
		// registers, up to the switch; then fall into the loop below,
		// resuming the round at the node whose turn it is.
		start = probeRoundsEqual(filled, table, next, skip, mm, m-switchAt)
		left = switchAt
		free, inv = freeSlots(filled, m, left), make([]uint64, n)
	}
	for {
		for i := start; i < n; i++ {
			if !equal {
				credit[i] += share[i]
			}
			for equal || credit[i] >= 1 {
				if !equal {
					credit[i]--
				}
				var c uint32
				if free == nil {
					c = next[i]
					skm := skip[i] - mm
					for filled[c>>6]&(1<<(c&63)) != 0 {
						c = addModNeg(c, skm, mm)
					}
					filled[c>>6] |= 1 << (c & 63)
					next[i] = addModNeg(c, skm, mm)
				} else {
					if inv[i] == 0 {
						// Only the nodes that claim one of the last
						// sqrt(M) slots need their inverse.
						inv[i] = inverse(skip[i], uint64(m))
					}
					bestAt := firstRanked(free, inv[i], red.mod(uint64(offset[i])*inv[i]), red)
					c = free[bestAt]
					free[bestAt] = free[len(free)-1]
					free = free[:len(free)-1]
				}
				table[c] = uint32(i)
				if left--; left == 0 {
					return table
				}
				if left == switchAt && free == nil {
					free, inv = freeSlots(filled, m, left), make([]uint64, n)
				}
				if equal {
					break
				}
			}
		}
		start = 0
	}
}

// probeRoundsEqual makes the first claims of buildMaglev when all weights
// are equal: nodes take turns, one slot each, every node taking the first
// free slot of its preference list (next[i], next[i]+skip[i], ... mod m).
// It returns the index of the node whose turn comes next.
func probeRoundsEqual(filled []uint64, table, next, skip []uint32, m uint32, claims int) int {
	skip = skip[:len(next)]
	i := 0
	for ; claims > 0; claims-- {
		c, skm := next[i], skip[i]-m
		for filled[c>>6]&(1<<(c&63)) != 0 {
			c = addModNeg(c, skm, m)
		}
		filled[c>>6] |= 1 << (c & 63)
		table[c] = uint32(i)
		next[i] = addModNeg(c, skm, m)
		if i++; i == len(next) {
			i = 0
		}
	}
	return i
}

// addModNeg returns (c + sk) mod m for c, sk < m <= 2^31 without a
// branch, given skm = sk - m (mod 2^32). Whether a step wraps past m is a
// coin flip for a random skip, and as a branch it mispredicted on about
// half of all probes, which cost more than the probes themselves. The
// compiler keeps min and if-else on this loop-carried value as branches,
// so the wrap is an explicit mask: d = c+sk-m has its top bit set exactly
// when c+sk < m (the subtraction wrapped, and m <= 2^31), and then m is
// added back. The probe loops compute skm once per claim: Go does not
// hoist sk - m out of the loop, and keeping it in the loop put one more
// instruction on the loop-carried chain of every probe (4 instead of 5
// deep now; about 4% off the whole build at 1,000 nodes in paired
// alternated runs).
func addModNeg(c, skm, m uint32) uint32 {
	d := c + skm
	return d + m&uint32(int32(d)>>31)
}

// firstRanked returns the index in free of the slot that comes first in a
// node's preference list, the one of smallest rank (slot - offset)/skip
// mod m = slot*inv - base mod m, where inv is skip's inverse and base is
// offset*inv mod m. Ties cannot happen: ranks of distinct slots differ. It
// is a function of its own so that the scan's state stays in registers;
// buildMaglev's loop has too many live values and kept it on the stack,
// hence also the noinline.
//
//go:noinline
func firstRanked(free []uint32, inv, base uint64, red modReducer) int {
	bestAt, bestRank := 0, uint64(math.MaxUint64)
	for k, slot := range free {
		// rank - base wraps below zero for half of the slots,
		// unpredictably: add m back by a mask rather than a branch.
		rank := red.mod(uint64(slot)*inv) - base
		if rank += red.m & uint64(int64(rank)>>63); rank < bestRank {
			bestAt, bestRank = k, rank
		}
	}
	return bestAt
}

// freeSlots lists the clear bits of filled below m, of which there are
// count, skipping full words.
func freeSlots(filled []uint64, m, count int) []uint32 {
	out := make([]uint32, 0, count)
	for w, word := range filled {
		for empty := ^word; empty != 0; empty &= empty - 1 {
			if c := w*64 + bits.TrailingZeros64(empty); c < m {
				out = append(out, uint32(c))
			}
		}
	}
	return out
}

// inverse returns skip's multiplicative inverse modulo the prime m, by the
// extended Euclidean algorithm; 0 < skip < m, so it exists and is not 0.
// The remainders stay below m <= 2^31, so they are divided as uint32: a
// 32-bit division takes a fraction of the cycles of a 64-bit one on x86-64,
// and a build computes up to sqrt(M) inverses of about 20 divisions each.
// The coefficients are bounded by m in absolute value and stay int64.
func inverse(skip uint32, m uint64) uint64 {
	r0, r1 := uint32(m), skip
	t0, t1 := int64(0), int64(1)
	for r1 != 0 {
		q := r0 / r1
		r0, r1 = r1, r0-q*r1
		t0, t1 = t1, t0-int64(q)*t1
	}
	if t0 < 0 {
		t0 += int64(m)
	}
	return uint64(t0)
}

// modReducer computes x mod m for x < 2^62 without a division (Barrett
// reduction with r = floor(2^64/m)).
type modReducer struct{ m, r uint64 }

func newModReducer(m uint64) modReducer { return modReducer{m: m, r: math.MaxUint64 / m} }

func (d modReducer) mod(x uint64) uint64 {
	q, _ := bits.Mul64(x, d.r)
	x -= q * d.m
	for x >= d.m {
		x -= d.m
	}
	return x
}

// Get returns the node that owns key, or ErrNoNodes.
func (m *Maglev) Get(key string) (string, error) { return m.GetHash(Hash(key)) }

// GetBytes is Get for a []byte key.
func (m *Maglev) GetBytes(key []byte) (string, error) { return m.GetHash(HashBytes(key)) }

// GetHash returns the owner of a key whose Hash is h.
func (m *Maglev) GetHash(h uint64) (string, error) {
	s := m.snap.Load()
	if s == nil || len(s.table) == 0 {
		return "", ErrNoNodes
	}
	return s.nodes[s.table[reduce(h, uint64(len(s.table)))]].ID, nil
}

// Nodes returns the nodes sorted by ID, with explicit weights.
func (m *Maglev) Nodes() []Node {
	if s := m.snap.Load(); s != nil {
		return slices.Clone(s.nodes)
	}
	return nil
}

// TableSize returns the size of the current table (0 when empty).
func (m *Maglev) TableSize() int {
	if s := m.snap.Load(); s != nil {
		return len(s.table)
	}
	return 0
}

// Shares returns each node's exact fraction of the keyspace: its share of
// the table's slots.
func (m *Maglev) Shares() map[string]float64 {
	out := make(map[string]float64)
	s := m.snap.Load()
	if s == nil {
		return out
	}
	for _, o := range s.table {
		out[s.nodes[o].ID] += 1 / float64(len(s.table))
	}
	return out
}
