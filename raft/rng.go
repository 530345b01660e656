package raft

// rng is a small deterministic generator (SplitMix64). The core draws only
// election timeouts from it; owning it keeps every run reproducible from
// Config.Seed without touching a global source.
type rng struct{ state uint64 }

func newRNG(seed uint64) rng { return rng{state: seed} }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n) for n > 0.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
