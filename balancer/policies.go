package balancer

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
)

// pickWRR is nginx's smooth weighted round robin. Every pick adds each
// endpoint's weight to its current value, picks the largest current value
// (first in order on ties) and subtracts the total weight from it. The
// current values always sum to zero, which is why over each cycle of total
// picks every endpoint is picked exactly weight times, and why no endpoint
// ever runs more than one pick ahead of its share.
func (b *Balancer) pickWRR(s *snapshot) *epState {
	b.wrrMu.Lock()
	defer b.wrrMu.Unlock()
	if b.wrrSnap != s {
		// A new endpoint set starts a fresh cycle.
		b.wrrSnap = s
		b.wrrCur = make([]int, len(s.up))
	}
	cur := b.wrrCur
	best := 0
	for i, w := range s.upWeight {
		cur[i] += w
		if cur[i] > cur[best] {
			best = i
		}
	}
	cur[best] -= s.total
	return s.up[best]
}

// pickLeast returns an endpoint with the fewest requests in flight. The scan
// starts at a rotating position so ties are shared out instead of all
// going to the first endpoint.
func (b *Balancer) pickLeast(s *snapshot) *epState {
	n := len(s.up)
	start := int((b.rr.Add(1) - 1) % uint64(n))
	best := s.up[start]
	bestLoad := best.outstanding.Load()
	for k := 1; k < n && bestLoad > 0; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if l := s.up[i].outstanding.Load(); l < bestLoad {
			best, bestLoad = s.up[i], l
		}
	}
	return best
}

// pickP2C draws two distinct healthy endpoints and returns the cheaper.
func (b *Balancer) pickP2C(s *snapshot) *epState {
	n := uint64(len(s.up))
	if n == 1 {
		return s.up[0]
	}
	r := b.rand()
	// Two independent draws from one 64-bit value: the high product word
	// of the full value, and of its low 32 bits, for the second endpoint.
	i, _ := bits.Mul64(r, n)
	j := (r & math.MaxUint32) * (n - 1) >> 32
	if j >= i {
		j++
	}
	a, c := s.up[i], s.up[j]
	now := b.lastNow.Load()
	if b.cost(c, now) < b.cost(a, now) {
		return c
	}
	return a
}

// unmeasuredPenalty is the cost of an endpoint with requests in flight but
// no completed sample: high enough that measured endpoints win, while an
// idle unmeasured endpoint costs zero and is tried at once.
const unmeasuredPenalty = 1e15

// cost is Finagle's peak-EWMA load: the decayed latency average times the
// requests in flight plus one. now is the time of the latest Done anywhere,
// used instead of a clock read so Pick stays cheap; under traffic it is
// current, and it is what lets an endpoint that stopped receiving requests
// decay and be tried again.
func (b *Balancer) cost(e *epState, now int64) float64 {
	pending := float64(e.outstanding.Load())
	avg := math.Float64frombits(e.ewma.Load())
	if avg == 0 {
		if pending == 0 {
			return 0
		}
		return unmeasuredPenalty + pending
	}
	// Samples younger than DecayTime/64 would decay by under 2%: skip the
	// exponential, the common case under steady traffic.
	if age := float64(now - e.stamp.Load()); age > b.decay/64 {
		avg *= math.Exp(-age / b.decay)
	}
	return avg * (pending + 1)
}

// observe folds one latency sample into e's peak-sensitive moving average:
// a sample above the average replaces it at once (so a backend that turns
// slow is avoided immediately), and a lower one is blended in with weight
// 1 - exp(-elapsed/DecayTime).
func (b *Balancer) observe(e *epState, latency time.Duration, err error) {
	now := int64(b.now().Sub(b.base))
	for {
		last := b.lastNow.Load()
		if now <= last || b.lastNow.CompareAndSwap(last, now) {
			break
		}
	}
	sample := float64(latency)
	if err != nil {
		sample = max(sample, b.failure)
	}
	sample = max(sample, 1) // 0 means "no sample yet"
	e.mu.Lock()
	defer e.mu.Unlock()
	avg := math.Float64frombits(e.ewma.Load())
	if avg == 0 || sample > avg {
		avg = sample
	} else {
		w := math.Exp(-float64(max(now-e.stamp.Load(), 0)) / b.decay)
		avg = avg*w + sample*(1-w)
	}
	e.ewma.Store(math.Float64bits(avg))
	e.stamp.Store(now)
}

// rand returns a random value for PowerOfTwoChoices. With Config.Seed set
// it is the next value of a splitmix64 sequence (an atomic counter advanced
// by the golden-ratio increment, then mixed), deterministic for a given
// call order. Without a seed it uses the runtime's per-thread generator,
// which shares no cache line between cores.
func (b *Balancer) rand() uint64 {
	if !b.seeded {
		return rand.Uint64()
	}
	x := b.rng.Add(0x9e3779b97f4a7c15)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
