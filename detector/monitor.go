package detector

import (
	"fmt"
	"sync"
	"time"
)

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// New creates the detector for a peer the first time it sends a
	// heartbeat. nil means a Phi detector with the default PhiConfig.
	New func() (Detector, error)
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg MonitorConfig) Validate() error { return nil }

// Monitor tracks many peers, each with its own Detector, keyed by K (for
// example a node ID). A heartbeat from a known peer takes a read lock and
// the peer's own lock, and does not allocate. Monitor is safe for concurrent
// use.
type Monitor[K comparable] struct {
	newDetector func() (Detector, error)

	mu    sync.RWMutex
	peers map[K]Detector
}

// NewMonitor returns an empty Monitor, or an error wrapping
// ErrInvalidConfig.
func NewMonitor[K comparable](cfg MonitorConfig) (*Monitor[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nd := cfg.New
	if nd == nil {
		nd = func() (Detector, error) { return NewPhi(PhiConfig{}) }
	}
	return &Monitor[K]{newDetector: nd, peers: make(map[K]Detector)}, nil
}

// Heartbeat records a heartbeat from peer at now, creating its detector on
// the first one. It returns an error only if creating the detector fails.
func (m *Monitor[K]) Heartbeat(peer K, now time.Time) error {
	m.mu.RLock()
	d, ok := m.peers[peer]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if d, ok = m.peers[peer]; !ok {
			var err error
			if d, err = m.newDetector(); err != nil {
				m.mu.Unlock()
				return fmt.Errorf("detector: creating detector: %w", err)
			}
			m.peers[peer] = d
		}
		m.mu.Unlock()
	}
	d.Heartbeat(now)
	return nil
}

func (m *Monitor[K]) get(peer K) Detector {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.peers[peer]
}

// Suspicion returns peer's suspicion level at now, and false if the peer
// has never sent a heartbeat (or was removed).
func (m *Monitor[K]) Suspicion(peer K, now time.Time) (float64, bool) {
	d := m.get(peer)
	if d == nil {
		return 0, false
	}
	return d.Suspicion(now), true
}

// Suspected reports whether peer is suspected at now. An unknown peer is
// not.
func (m *Monitor[K]) Suspected(peer K, now time.Time) bool {
	d := m.get(peer)
	return d != nil && d.Suspected(now)
}

// Suspects appends to dst every peer suspected at now, in no particular
// order, and returns the extended slice.
func (m *Monitor[K]) Suspects(dst []K, now time.Time) []K {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, d := range m.peers {
		if d.Suspected(now) {
			dst = append(dst, k)
		}
	}
	return dst
}

// Remove forgets peer; its next heartbeat starts a fresh detector.
func (m *Monitor[K]) Remove(peer K) {
	m.mu.Lock()
	delete(m.peers, peer)
	m.mu.Unlock()
}

// Len returns the number of tracked peers.
func (m *Monitor[K]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.peers)
}
