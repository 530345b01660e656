package detector

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Distribution is the model of heartbeat inter-arrival times a Phi detector
// assumes.
type Distribution int

const (
	// Normal models intervals as normally distributed (Hayashibara et al.,
	// Akka). φ grows quadratically with the silence.
	Normal Distribution = iota
	// Exponential models intervals as exponentially distributed (Cassandra).
	// φ = Δ/(μ·ln 10) grows linearly with the silence and ignores variance.
	Exponential
)

// PhiConfig configures a Phi detector. The defaults are Akka's cluster
// defaults for the normal distribution.
type PhiConfig struct {
	// Distribution is the interval model. The zero value is Normal.
	Distribution Distribution
	// Threshold is the φ at which the peer is suspected. 0 means 8.
	Threshold float64
	// MaxSamples is how many recent intervals are kept, 8 bytes each. 0
	// means 1000 (Akka's). Under message loss 10,000 steadies the estimate
	// of the standard deviation and so the detection time (see the package
	// documentation's quality-of-service table).
	MaxSamples int
	// MinStdDev floors the standard deviation (Normal only), so perfectly
	// regular heartbeats do not make the detector hair-triggered. 0 means
	// 100 ms.
	MinStdDev time.Duration
	// AcceptablePause is added to the mean: a silence this much longer than
	// usual costs nothing. 0 means 3 s; use a negative value for none.
	AcceptablePause time.Duration
	// FirstInterval seeds the history before real intervals exist, as the
	// samples FirstInterval ± FirstInterval/4. 0 means 1 s.
	FirstInterval time.Duration
	// MaxInterval, if > 0, drops longer intervals instead of recording them,
	// so that a partition or restart does not inflate the mean (Cassandra
	// uses 2 s). 0 records every interval.
	MaxInterval time.Duration
	// LocalPauseGuard is as in TimeoutConfig.
	LocalPauseGuard time.Duration
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg PhiConfig) Validate() error {
	switch {
	case cfg.Distribution != Normal && cfg.Distribution != Exponential:
		return fmt.Errorf("%w: unknown Distribution %d", ErrInvalidConfig, cfg.Distribution)
	case cfg.Threshold < 0 || math.IsNaN(cfg.Threshold) || math.IsInf(cfg.Threshold, 0):
		return fmt.Errorf("%w: Threshold %v", ErrInvalidConfig, cfg.Threshold)
	case cfg.MaxSamples < 0 || cfg.MaxSamples > 1<<20:
		return fmt.Errorf("%w: MaxSamples %d outside [0, 2^20]", ErrInvalidConfig, cfg.MaxSamples)
	case cfg.MinStdDev < 0 || cfg.FirstInterval < 0 || cfg.MaxInterval < 0 || cfg.LocalPauseGuard < 0:
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	return nil
}

// Phi is an accrual failure detector. It keeps the last MaxSamples
// heartbeat intervals in a ring buffer with running sums, and reports
// φ(Δ) = −log₁₀ P(an interval is longer than Δ), where Δ is the silence since
// the last heartbeat and P comes from the configured distribution fitted to
// the samples. φ = 1 means a 10% chance that suspecting now is a mistake,
// φ = 2 means 1%, and so on, as far as the model fits reality.
type Phi struct {
	mu        sync.Mutex
	dist      Distribution
	threshold float64
	minStd    float64 // seconds
	pause     float64 // seconds
	maxIntv   time.Duration

	last time.Time // zero until the first heartbeat

	// The ring of intervals in seconds, with their sum and sum of squares.
	// Running sums drift as values come and go, so they are recomputed from
	// the ring after every len(ring) evictions: O(1) amortized.
	ring    []float64
	head, n int
	sum     float64
	sumSq   float64
	evicted int

	guard pauseGuard
}

// NewPhi returns a Phi detector, or an error wrapping ErrInvalidConfig.
func NewPhi(cfg PhiConfig) (*Phi, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = 8
	}
	if cfg.MaxSamples == 0 {
		cfg.MaxSamples = 1000
	}
	if cfg.MinStdDev == 0 {
		cfg.MinStdDev = 100 * time.Millisecond
	}
	if cfg.AcceptablePause == 0 {
		cfg.AcceptablePause = 3 * time.Second
	}
	if cfg.AcceptablePause < 0 {
		cfg.AcceptablePause = 0
	}
	if cfg.FirstInterval == 0 {
		cfg.FirstInterval = time.Second
	}
	d := &Phi{
		dist:      cfg.Distribution,
		threshold: cfg.Threshold,
		minStd:    cfg.MinStdDev.Seconds(),
		pause:     cfg.AcceptablePause.Seconds(),
		maxIntv:   cfg.MaxInterval,
		ring:      make([]float64, max(cfg.MaxSamples, 2)),
		guard:     pauseGuard{limit: cfg.LocalPauseGuard},
	}
	f := cfg.FirstInterval.Seconds()
	d.record(f - f/4)
	d.record(f + f/4)
	return d, nil
}

func (d *Phi) record(x float64) {
	if d.n == len(d.ring) {
		old := d.ring[d.head]
		d.sum -= old
		d.sumSq -= old * old
		d.evicted++
	} else {
		d.n++
	}
	d.ring[d.head] = x
	d.sum += x
	d.sumSq += x * x
	d.head++
	if d.head == len(d.ring) {
		d.head = 0
	}
	if d.evicted >= len(d.ring) {
		d.evicted = 0
		d.sum, d.sumSq = 0, 0
		for _, v := range d.ring {
			d.sum += v
			d.sumSq += v * v
		}
	}
}

// Heartbeat records a heartbeat received at now. It is O(1) and does not
// allocate.
func (d *Phi) Heartbeat(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.guard.observe(now)
	paused := d.guard.paused
	d.guard.paused = false
	if !d.last.IsZero() {
		if !now.After(d.last) {
			return
		}
		iv := now.Sub(d.last)
		if !paused && (d.maxIntv <= 0 || iv <= d.maxIntv) {
			d.record(iv.Seconds())
		}
	}
	d.last = now
}

// stats returns the mean and the floored standard deviation, in seconds.
func (d *Phi) stats() (mean, std float64) {
	n := float64(d.n)
	mean = d.sum / n
	variance := d.sumSq/n - mean*mean
	if variance < 0 { // rounding
		variance = 0
	}
	return mean, max(math.Sqrt(variance), d.minStd)
}

// Suspicion returns φ at now.
func (d *Phi) Suspicion(now time.Time) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gap := d.guard.observe(now); gap > 0 && !d.last.IsZero() {
		d.last = d.last.Add(gap)
	}
	if d.last.IsZero() || !now.After(d.last) {
		return 0
	}
	delta := now.Sub(d.last).Seconds()
	mean, std := d.stats()
	if d.dist == Exponential {
		return PhiExponential(delta-d.pause, mean)
	}
	return PhiNormal(delta, mean+d.pause, std)
}

// Suspected reports whether φ at now has reached the threshold.
func (d *Phi) Suspected(now time.Time) bool { return d.Suspicion(now) >= d.threshold }

// Threshold returns the configured threshold.
func (d *Phi) Threshold() float64 { return d.threshold }

// Stats returns the current mean and standard deviation of the intervals
// (the latter floored at MinStdDev) and how many samples they come from.
func (d *Phi) Stats() (mean, std time.Duration, samples int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, s := d.stats()
	return time.Duration(m * float64(time.Second)), time.Duration(s * float64(time.Second)), d.n
}

// ln10 is the natural logarithm of 10.
const ln10 = math.Ln10

// PhiNormal returns φ = −log₁₀ P(X > delta) for X normally distributed with
// the given mean and standard deviation, computed from the exact tail
// 0.5·erfc((delta−mean)/(std·√2)), not from Akka's logistic approximation
// (whose φ = 8 is really 7.06). Far in the tail, where erfc underflows, it
// switches to the asymptotic expansion of log erfc, shifted to join the
// direct formula continuously, so the result stays finite and
// non-decreasing. A std <= 0 (or NaN input) is treated as a step: φ is 0
// up to the mean and +Inf is never returned; a huge finite value is.
func PhiNormal(delta, mean, std float64) float64 {
	if math.IsNaN(delta) || math.IsNaN(mean) || math.IsNaN(std) {
		return 0
	}
	if std <= 0 {
		std = math.SmallestNonzeroFloat64
	}
	z := (delta - mean) / (std * math.Sqrt2)
	if z > 1e150 {
		// z² would overflow; every larger z gets the same, largest φ, which
		// keeps φ non-decreasing (found by rapid: std 0, delta − mean tiny).
		return math.MaxFloat64
	}
	var phi float64
	if z <= erfcSwitch {
		phi = -math.Log10(0.5 * math.Erfc(z))
	} else {
		phi = -(logErfcAsymptotic(z)-math.Ln2)/ln10 + asymptoticShift
	}
	if !(phi > 0) { // −0, rounding just below 0, NaN
		return 0
	}
	return math.Min(phi, math.MaxFloat64)
}

// erfcSwitch is where PhiNormal leaves math.Erfc for the asymptotic series:
// erfc(20) ≈ 5e-176 is still far from underflow, and the series' truncation
// error there is below 1e-10 relative.
const erfcSwitch = 20.0

// asymptoticShift makes the two branches of PhiNormal agree exactly at
// erfcSwitch.
var asymptoticShift = -math.Log10(0.5*math.Erfc(erfcSwitch)) + (logErfcAsymptotic(erfcSwitch)-math.Ln2)/ln10

// logErfcAsymptotic is ln erfc(z) for large z:
// −z² − ln z − ½ln π + ln(1 − 1/(2z²) + 3/(4z⁴) − 15/(8z⁶)).
func logErfcAsymptotic(z float64) float64 {
	u := 1 / (z * z)
	series := 1 - u/2 + 3*u*u/4 - 15*u*u*u/8
	return -z*z - math.Log(z) - 0.5*math.Log(math.Pi) + math.Log(series)
}

// PhiExponential returns φ = −log₁₀ e^(−delta/mean) = delta/(mean·ln 10) for
// exponentially distributed intervals (Cassandra's detector). It is 0 for
// delta <= 0, and a mean <= 0 is treated as the smallest positive mean.
func PhiExponential(delta, mean float64) float64 {
	if delta <= 0 || math.IsNaN(delta) || math.IsNaN(mean) {
		return 0
	}
	if mean <= 0 {
		mean = math.SmallestNonzeroFloat64
	}
	return math.Min(delta/(mean*ln10), math.MaxFloat64)
}
