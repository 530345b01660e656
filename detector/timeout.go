package detector

import (
	"fmt"
	"sync"
	"time"
)

// TimeoutConfig configures a Timeout detector.
type TimeoutConfig struct {
	// Timeout is how long the peer may stay silent before it is suspected.
	// 0 means 5 s.
	Timeout time.Duration
	// LocalPauseGuard, if > 0, excludes pauses of this process longer than
	// it from the peer's silence (see the package documentation). It must be
	// longer than the interval at which the detector is called. 0 disables it.
	LocalPauseGuard time.Duration
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg TimeoutConfig) Validate() error {
	if cfg.Timeout < 0 {
		return fmt.Errorf("%w: Timeout %v < 0", ErrInvalidConfig, cfg.Timeout)
	}
	if cfg.LocalPauseGuard < 0 {
		return fmt.Errorf("%w: LocalPauseGuard %v < 0", ErrInvalidConfig, cfg.LocalPauseGuard)
	}
	return nil
}

// Timeout suspects a peer silent for longer than a fixed timeout. Its
// Suspicion is the silence divided by the timeout, so it is suspected at 1.
type Timeout struct {
	mu      sync.Mutex
	timeout time.Duration
	last    time.Time // zero until the first heartbeat
	guard   pauseGuard
}

// NewTimeout returns a Timeout detector, or an error wrapping
// ErrInvalidConfig.
func NewTimeout(cfg TimeoutConfig) (*Timeout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Timeout{timeout: cfg.Timeout, guard: pauseGuard{limit: cfg.LocalPauseGuard}}, nil
}

// Heartbeat records a heartbeat received at now.
func (d *Timeout) Heartbeat(now time.Time) {
	d.mu.Lock()
	d.guard.observe(now)
	if now.After(d.last) {
		d.last = now
	}
	d.mu.Unlock()
}

// Suspicion returns the silence at now divided by the timeout.
func (d *Timeout) Suspicion(now time.Time) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.suspicionLocked(now)
}

func (d *Timeout) suspicionLocked(now time.Time) float64 {
	return silenceRatio(&d.guard, &d.last, now, d.timeout)
}

// silenceRatio is the silence since *last at now, divided by timeout. A
// local pause the guard detects is forgiven by moving *last forward by it.
func silenceRatio(guard *pauseGuard, last *time.Time, now time.Time, timeout time.Duration) float64 {
	if gap := guard.observe(now); gap > 0 && !last.IsZero() {
		*last = last.Add(gap)
	}
	if last.IsZero() || !now.After(*last) {
		return 0
	}
	return float64(now.Sub(*last)) / float64(timeout)
}

// Suspected reports whether the peer has been silent for longer than the
// timeout.
func (d *Timeout) Suspected(now time.Time) bool { return d.Suspicion(now) > 1 }

// EventuallyPerfectConfig configures an EventuallyPerfect detector.
type EventuallyPerfectConfig struct {
	// Initial is the first timeout. 0 means 2 s.
	Initial time.Duration
	// Max caps the timeout as it doubles. 0 means 1 minute.
	Max time.Duration
	// LocalPauseGuard is as in TimeoutConfig.
	LocalPauseGuard time.Duration
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg EventuallyPerfectConfig) Validate() error {
	if cfg.Initial < 0 || cfg.Max < 0 || cfg.LocalPauseGuard < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	if cfg.Max != 0 && cfg.Initial > cfg.Max {
		return fmt.Errorf("%w: Initial %v > Max %v", ErrInvalidConfig, cfg.Initial, cfg.Max)
	}
	return nil
}

// EventuallyPerfect is a timeout detector that learns from its mistakes:
// whenever a heartbeat arrives from a peer it was suspecting, the suspicion
// was wrong, and the timeout doubles (up to Max). Under partial synchrony,
// where delays are eventually bounded by some unknown D, the timeout
// eventually exceeds D and the detector stops making mistakes: Chandra and
// Toueg's ◇P. A crashed peer is still suspected for good once its timeout
// runs out.
type EventuallyPerfect struct {
	mu       sync.Mutex
	timeout  time.Duration
	max      time.Duration
	last     time.Time
	mistakes int
	guard    pauseGuard
}

// NewEventuallyPerfect returns an EventuallyPerfect detector, or an error
// wrapping ErrInvalidConfig.
func NewEventuallyPerfect(cfg EventuallyPerfectConfig) (*EventuallyPerfect, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Initial == 0 {
		cfg.Initial = 2 * time.Second
	}
	if cfg.Max == 0 {
		cfg.Max = max(time.Minute, cfg.Initial)
	}
	return &EventuallyPerfect{timeout: cfg.Initial, max: cfg.Max, guard: pauseGuard{limit: cfg.LocalPauseGuard}}, nil
}

// Heartbeat records a heartbeat received at now, doubling the timeout if the
// peer was suspected.
func (d *EventuallyPerfect) Heartbeat(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.suspicionLocked(now) > 1 {
		d.mistakes++
		d.timeout = min(2*d.timeout, d.max)
	}
	if now.After(d.last) {
		d.last = now
	}
}

// Suspicion returns the silence at now divided by the current timeout.
func (d *EventuallyPerfect) Suspicion(now time.Time) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.suspicionLocked(now)
}

func (d *EventuallyPerfect) suspicionLocked(now time.Time) float64 {
	return silenceRatio(&d.guard, &d.last, now, d.timeout)
}

// Suspected reports whether the peer has been silent for longer than the
// current timeout.
func (d *EventuallyPerfect) Suspected(now time.Time) bool { return d.Suspicion(now) > 1 }

// Timeout returns the current timeout.
func (d *EventuallyPerfect) Timeout() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timeout
}

// Mistakes returns how many suspicions proved wrong so far.
func (d *EventuallyPerfect) Mistakes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mistakes
}
