package hashring

import (
	"fmt"
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
func buildMaglev(nodes []Node, m int) []uint32 {
	n := len(nodes)
	if n == 0 {
		return nil
	}
	mm := uint32(m)              // m <= 2^31, so positions and sums fit in uint32
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
		next[i] = uint32(h % uint64(mm))
		skip[i] = uint32(mix64(h)%uint64(mm-1)) + 1
		share[i] = nd.Weight / maxW
	}
	// The bitmap of filled slots (M/8 bytes) stays in the L1 cache where
	// the table itself would not, which keeps the build's random probes
	// cheap: a build makes about M*ln(M) probes.
	filled := make([]uint64, (m+63)/64)
	table := make([]uint32, m)
	left := m
	for {
		for i := range nodes {
			credit[i] += share[i]
			for credit[i] >= 1 {
				credit[i]--
				c, sk := next[i], skip[i]
				for filled[c>>6]&(1<<(c&63)) != 0 {
					if c += sk; c >= mm {
						c -= mm
					}
				}
				filled[c>>6] |= 1 << (c & 63)
				table[c] = uint32(i)
				if c += sk; c >= mm {
					c -= mm
				}
				next[i] = c
				if left--; left == 0 {
					return table
				}
			}
		}
	}
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
