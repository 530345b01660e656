package balancer

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/hashring"
)

// Policy selects how a Balancer spreads requests.
type Policy uint8

// Policies. The zero value is RoundRobin.
const (
	// RoundRobin cycles through healthy endpoints in order.
	RoundRobin Policy = iota
	// WeightedRoundRobin is nginx's smooth weighted round robin: over every
	// cycle of W picks (W the total weight) each endpoint gets exactly its
	// weight, spread out rather than in bursts.
	WeightedRoundRobin
	// LeastOutstanding picks an endpoint with the fewest requests in
	// flight, rotating among ties.
	LeastOutstanding
	// PowerOfTwoChoices picks two distinct endpoints at random and keeps
	// the cheaper, cost being a peak-sensitive, time-decayed moving average
	// of latency times (outstanding requests + 1): the policy Finagle and
	// Envoy default to.
	PowerOfTwoChoices
	// ConsistentHash sends each key to its owner on a consistent-hash ring
	// with bounded loads (hashring.Bounded): requests for a key stick to
	// one endpoint until that endpoint holds more than (1+Epsilon) times
	// its share of the requests in flight, then spill to the next.
	ConsistentHash
)

var policyNames = [...]string{"RoundRobin", "WeightedRoundRobin", "LeastOutstanding", "PowerOfTwoChoices", "ConsistentHash"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// Endpoint is a backend requests can be sent to.
type Endpoint struct {
	// Name identifies the endpoint (an address, a host name).
	Name string
	// Weight is the endpoint's relative capacity, used by
	// WeightedRoundRobin and ConsistentHash: an integer in [0, MaxWeight],
	// zero meaning 1. ConsistentHash also needs Weight*VirtualNodes within
	// what package hashring can place.
	Weight int
}

// MaxWeight is the largest Endpoint.Weight. The bound keeps
// WeightedRoundRobin's running sums far from integer overflow, which would
// silently skew its proportions.
const MaxWeight = 1 << 20

// Config configures a Balancer. Only Policy and Endpoints matter to every
// policy; each other field says which policy reads it.
type Config struct {
	// Policy is the balancing policy. The zero value is RoundRobin.
	Policy Policy
	// Endpoints are the initial endpoints, all healthy. Names must be
	// unique and non-empty. It may be empty: Pick then returns
	// ErrNoEndpoints until SetEndpoints adds some.
	Endpoints []Endpoint
	// Seed seeds the random choices of PowerOfTwoChoices. The same seed and
	// the same sequence of calls give the same picks, which makes
	// simulations reproducible; the seeded sequence is one atomic counter
	// shared by all goroutines. Zero uses the runtime's per-thread random
	// source instead, which is faster under parallel Picks.
	Seed uint64
	// DecayTime is the time constant of PowerOfTwoChoices' latency average:
	// a sample's weight falls by e every DecayTime, and an endpoint that
	// stops getting requests sees its cost decay toward zero at that rate,
	// so it is tried again. Zero means 10 s, Finagle's default.
	DecayTime time.Duration
	// FailureLatency is the least latency a failed request (Done with a
	// non-nil error) counts for under PowerOfTwoChoices, so an endpoint
	// that fails fast does not look fast. Zero means 1 s.
	FailureLatency time.Duration
	// Now is PowerOfTwoChoices' clock, read once per Done. Nil means
	// time.Now; tests and simulations pass a virtual clock.
	Now func() time.Time
	// Epsilon is ConsistentHash's load slack (hashring.BoundedConfig).
	// Zero means hashring.DefaultEpsilon (0.25).
	Epsilon float64
	// MaxOutstanding, when positive, caps the requests in flight on any one
	// endpoint under ConsistentHash; Pick returns ErrOverloaded when all are
	// at the cap. Zero means no cap.
	MaxOutstanding int64
	// VirtualNodes is ConsistentHash's ring points per unit of weight.
	// Zero means hashring.DefaultVirtualNodes.
	VirtualNodes int
	// Logger receives health changes at Info level. Nil means silent.
	Logger *slog.Logger
}

const (
	defaultDecay          = 10 * time.Second
	defaultFailureLatency = time.Second
)

// Validate reports whether c can be used. It does not modify c.
func (c Config) Validate() error {
	if int(c.Policy) >= len(policyNames) {
		return fmt.Errorf("%w: unknown policy %d", ErrInvalidConfig, c.Policy)
	}
	if c.DecayTime < 0 || c.FailureLatency < 0 {
		return fmt.Errorf("%w: negative DecayTime or FailureLatency", ErrInvalidConfig)
	}
	if c.MaxOutstanding < 0 {
		return fmt.Errorf("%w: MaxOutstanding %d < 0", ErrInvalidConfig, c.MaxOutstanding)
	}
	if err := c.bounded().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return validateEndpoints(c.Endpoints)
}

func (c Config) bounded() hashring.BoundedConfig {
	return hashring.BoundedConfig{
		Ring:    hashring.RingConfig{VirtualNodes: c.VirtualNodes},
		Epsilon: c.Epsilon,
		MaxLoad: c.MaxOutstanding,
	}
}

func validateEndpoints(eps []Endpoint) error {
	seen := make(map[string]bool, len(eps))
	for _, e := range eps {
		if e.Name == "" {
			return fmt.Errorf("%w: endpoint with empty name", ErrInvalidConfig)
		}
		if e.Weight < 0 || e.Weight > MaxWeight {
			return fmt.Errorf("%w: endpoint %q has weight %d outside [0, %d]", ErrInvalidConfig, e.Name, e.Weight, MaxWeight)
		}
		if seen[e.Name] {
			return fmt.Errorf("%w: duplicate endpoint %q", ErrInvalidConfig, e.Name)
		}
		seen[e.Name] = true
	}
	return nil
}

// Picker is the interface every Balancer satisfies, whatever its policy:
// pick an endpoint for a request, and report how the request went when it
// finishes. Code that only sends requests should depend on Picker.
type Picker interface {
	// Pick chooses an endpoint for one request. The key matters only to
	// ConsistentHash; other policies ignore it.
	Pick(key string) (Pick, error)
	// Done reports that the request given p finished after latency, with
	// err its outcome (nil for success). Call it, or Cancel, exactly once
	// per Pick.
	Done(p Pick, latency time.Duration, err error)
	// Cancel releases p without reporting an outcome, for a request that
	// was never sent (a circuit breaker refused it, its context ended
	// first). It frees p's in-flight slot and records no latency sample,
	// so an abandoned pick neither counts against its endpoint nor looks
	// fast. Call it, or Done, exactly once per Pick.
	Cancel(p Pick)
}

// Pick is the result of Balancer.Pick: the endpoint to use, plus what Done
// needs to account for the request. The zero Pick is ignored by Done.
type Pick struct {
	Endpoint string
	ep       *epState
}

// epState is the live state of one endpoint name. It survives
// SetEndpoints and health changes, so in-flight requests are counted
// correctly whatever happens to membership.
type epState struct {
	name        string
	outstanding atomic.Int64
	ewma        atomic.Uint64 // float64 bits: latency average in ns, 0 = no sample yet
	stamp       atomic.Int64  // ns since Balancer.base of the last sample
	mu          sync.Mutex    // serializes EWMA updates
}

type endpoint struct {
	Endpoint
	up bool
	st *epState
}

// snapshot is one immutable view of the endpoints.
type snapshot struct {
	all      []endpoint
	up       []*epState // healthy endpoints, in configuration order
	upWeight []int      // their weights (at least 1)
	total    int        // sum of upWeight
	byName   map[string]int
}

// Balancer spreads requests over endpoints by one Policy. It is safe for
// concurrent use: Pick takes no lock for RoundRobin, LeastOutstanding,
// PowerOfTwoChoices and ConsistentHash (an atomic snapshot of the endpoints
// plus per-endpoint atomic counters); WeightedRoundRobin's Pick takes a
// short mutex because its state changes on every pick, and
// PowerOfTwoChoices' Done takes a per-endpoint mutex to update the average.
type Balancer struct {
	policy  Policy
	decay   float64 // ns
	failure float64 // ns
	now     func() time.Time
	base    time.Time
	logger  *slog.Logger
	snap    atomic.Pointer[snapshot]
	rr      atomic.Uint64
	rng     atomic.Uint64 // splitmix64 state when seeded
	seeded  bool
	lastNow atomic.Int64 // ns since base of the latest Done
	bounded *hashring.Bounded
	mu      sync.Mutex // serializes SetEndpoints and SetHealthy
	states  map[string]*epState
	wrrMu   sync.Mutex
	wrrSnap *snapshot
	wrrCur  []int
}

// New returns a Balancer configured by cfg.
func New(cfg Config) (*Balancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Balancer{
		policy:  cfg.Policy,
		decay:   float64(cmpOr(cfg.DecayTime, defaultDecay)),
		failure: float64(cmpOr(cfg.FailureLatency, defaultFailureLatency)),
		now:     cfg.Now,
		logger:  cfg.Logger,
		states:  make(map[string]*epState),
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.base = b.now()
	b.seeded = cfg.Seed != 0
	b.rng.Store(cfg.Seed)
	if b.policy == ConsistentHash {
		bd, err := hashring.NewBounded(cfg.bounded())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		b.bounded = bd
	}
	if err := b.SetEndpoints(cfg.Endpoints...); err != nil {
		return nil, err
	}
	return b, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// SetEndpoints replaces the endpoint set. Endpoints that stay keep their
// health and statistics; new ones start healthy. Requests in flight on a
// removed endpoint are still accounted for by Done.
func (b *Balancer) SetEndpoints(eps ...Endpoint) error {
	if err := validateEndpoints(eps); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.snap.Load()
	all := make([]endpoint, len(eps))
	for i, e := range eps {
		up := true
		if old != nil {
			if j, ok := old.byName[e.Name]; ok {
				up = old.all[j].up
			}
		}
		st := b.states[e.Name]
		if st == nil {
			st = &epState{name: e.Name}
			b.states[e.Name] = st
		}
		all[i] = endpoint{Endpoint: e, up: up, st: st}
	}
	if err := b.publishLocked(all); err != nil {
		return err
	}
	// Forget the state of endpoints that are gone and idle; one that still
	// has requests in flight keeps its state until a later change. This
	// waits for a successful publish: on failure the old snapshot, which
	// still uses these states, stays current.
	keep := make(map[string]bool, len(eps))
	for _, e := range eps {
		keep[e.Name] = true
	}
	for name, st := range b.states {
		if !keep[name] && st.outstanding.Load() == 0 {
			delete(b.states, name)
		}
	}
	return nil
}

// SetHealthy marks an endpoint up (true) or down (false). A down endpoint
// is never picked; its in-flight requests still finish and are counted.
func (b *Balancer) SetHealthy(name string, up bool) error {
	changed, err := b.setHealthy(name, up)
	// The logger is user code: call it after the lock is released.
	if changed && b.logger != nil {
		b.logger.Info("balancer: endpoint health changed", "endpoint", name, "up", up)
	}
	return err
}

func (b *Balancer) setHealthy(name string, up bool) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.snap.Load()
	i, ok := old.byName[name]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	if old.all[i].up == up {
		return false, nil
	}
	all := append([]endpoint(nil), old.all...)
	all[i].up = up
	if err := b.publishLocked(all); err != nil {
		return false, err
	}
	return true, nil
}

// publishLocked builds and stores a snapshot of all, and mirrors the
// healthy endpoints into the bounded-load ring for ConsistentHash.
func (b *Balancer) publishLocked(all []endpoint) error {
	s := &snapshot{all: all, byName: make(map[string]int, len(all))}
	var nodes []hashring.Node
	for i, e := range all {
		s.byName[e.Name] = i
		if !e.up {
			continue
		}
		w := max(e.Weight, 1)
		s.up = append(s.up, e.st)
		s.upWeight = append(s.upWeight, w)
		s.total += w
		nodes = append(nodes, hashring.Node{ID: e.Name, Weight: float64(w)})
	}
	if b.bounded != nil {
		if err := syncRing(b.bounded, nodes); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	b.snap.Store(s)
	return nil
}

// syncRing makes the bounded-load ring's membership equal to want, or
// leaves it unchanged and returns an error. A health flap changes one node:
// Add or Remove merges its points in O(P), where a full Set re-sorts all P
// points, so a few changes are applied one by one, and undone by a Set of
// the previous membership if one of them fails (a weight the ring cannot
// place), since the caller then keeps its previous snapshot.
func syncRing(bd *hashring.Bounded, want []hashring.Node) (err error) {
	prev := bd.Nodes()
	have := make(map[string]float64, len(prev))
	for _, n := range prev {
		have[n.ID] = n.Weight
	}
	wanted := make(map[string]bool, len(want))
	var add []hashring.Node
	for _, n := range want {
		wanted[n.ID] = true
		if w, ok := have[n.ID]; !ok || w != n.Weight {
			add = append(add, n)
		}
	}
	var remove []string
	for id := range have {
		if !wanted[id] {
			remove = append(remove, id)
		}
	}
	if len(add)+len(remove) > 4 {
		return bd.Set(want...)
	}
	defer func() {
		if err != nil {
			_ = bd.Set(prev...) // the previous membership was placed before
		}
	}()
	for _, n := range add {
		if err := bd.Add(n.ID, n.Weight); err != nil {
			return err
		}
	}
	for _, id := range remove {
		bd.Remove(id)
	}
	return nil
}

// Pick chooses an endpoint for one request; see Picker. It returns
// ErrNoEndpoints or ErrAllDown when no endpoint can be picked, and, under
// ConsistentHash with MaxOutstanding, ErrOverloaded.
func (b *Balancer) Pick(key string) (Pick, error) {
	s := b.snap.Load()
	if len(s.up) == 0 {
		if len(s.all) == 0 {
			return Pick{}, ErrNoEndpoints
		}
		return Pick{}, ErrAllDown
	}
	var ep *epState
	switch b.policy {
	case RoundRobin:
		ep = s.up[(b.rr.Add(1)-1)%uint64(len(s.up))]
	case WeightedRoundRobin:
		ep = b.pickWRR(s)
	case LeastOutstanding:
		ep = b.pickLeast(s)
	case PowerOfTwoChoices:
		ep = b.pickP2C(s)
	case ConsistentHash:
		var err error
		if ep, err = b.pickHash(key); err != nil {
			return Pick{}, err
		}
	}
	ep.outstanding.Add(1)
	return Pick{Endpoint: ep.name, ep: ep}, nil
}

// pickHash acquires key's endpoint on the bounded-load ring and finds its
// state in the endpoint snapshot. The ring is updated just before the
// snapshot is published, so for an instant the ring can name an endpoint
// the loaded snapshot lacks; then the load is given back and the pick
// retried. A writer in progress usually finishes within a yield or two; if
// it does not (it was preempted between the two updates), the pick waits
// for it on the writers' mutex rather than report ErrAllDown while healthy
// endpoints exist.
func (b *Balancer) pickHash(key string) (*epState, error) {
	for attempt := 0; ; attempt++ {
		name, err := b.bounded.Acquire(key)
		switch {
		case errors.Is(err, hashring.ErrAllFull):
			return nil, ErrOverloaded
		case err != nil:
			return nil, ErrAllDown // every endpoint went down since the snapshot load
		}
		s := b.snap.Load()
		if i, ok := s.byName[name]; ok && s.all[i].up {
			return s.all[i].st, nil
		}
		_ = b.bounded.Release(name)
		switch {
		case attempt == 100:
			return nil, ErrAllDown
		case attempt < 3:
			runtime.Gosched()
		default:
			b.mu.Lock() // held by the writer until its snapshot is published
			b.mu.Unlock()
		}
	}
}

// Done reports the outcome of a request; see Picker.
func (b *Balancer) Done(p Pick, latency time.Duration, err error) {
	if p.ep == nil {
		return
	}
	p.ep.outstanding.Add(-1)
	switch b.policy {
	case PowerOfTwoChoices:
		b.observe(p.ep, latency, err)
	case ConsistentHash:
		// Release can fail only for a Pick from another Balancer.
		_ = b.bounded.Release(p.Endpoint)
	}
}

// Cancel releases a pick whose request was never sent; see Picker. It
// undoes the pick's in-flight accounting and records nothing else.
func (b *Balancer) Cancel(p Pick) {
	if p.ep == nil {
		return
	}
	p.ep.outstanding.Add(-1)
	if b.policy == ConsistentHash {
		_ = b.bounded.Release(p.Endpoint)
	}
}

// EndpointStatus describes one endpoint.
type EndpointStatus struct {
	Name        string
	Weight      int
	Up          bool
	Outstanding int64         // requests picked and not yet Done
	Latency     time.Duration // PowerOfTwoChoices' latency average, 0 before any sample
}

// durationOf converts an average in nanoseconds to a Duration. An average
// of the largest Duration rounds to 2^63 as a float64, which converts to a
// negative Duration: clamp it.
func durationOf(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// Status returns the endpoints in configuration order.
func (b *Balancer) Status() []EndpointStatus {
	s := b.snap.Load()
	out := make([]EndpointStatus, len(s.all))
	for i, e := range s.all {
		out[i] = EndpointStatus{
			Name:        e.Name,
			Weight:      max(e.Weight, 1),
			Up:          e.up,
			Outstanding: e.st.outstanding.Load(),
			Latency:     durationOf(math.Float64frombits(e.st.ewma.Load())),
		}
	}
	return out
}
