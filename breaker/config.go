package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Sentinel errors. Rejections wrap ErrRejected, so one errors.Is check tells a caller that the
// breaker, not the dependency, refused the call.
var (
	// ErrRejected is wrapped by every error the breaker returns instead of running a call.
	ErrRejected = errors.New("breaker: rejected")
	// ErrOpen is returned while the breaker is open or forced open.
	ErrOpen error = &rejection{msg: "breaker: open"}
	// ErrProbeLimit is returned in the half-open state when HalfOpenProbes probes are already
	// in flight.
	ErrProbeLimit error = &rejection{msg: "breaker: half-open probe limit reached"}
	// ErrInvalidConfig is wrapped by every error Config.Validate returns.
	ErrInvalidConfig = errors.New("breaker: invalid config")
)

// rejection is the type of ErrOpen and ErrProbeLimit: a fixed message that unwraps to
// ErrRejected. The values are allocated once, so a rejection costs no allocation.
type rejection struct{ msg string }

func (r *rejection) Error() string { return r.msg }
func (r *rejection) Unwrap() error { return ErrRejected }

// State is the state of a Breaker.
type State uint8

// The states. Closed, Open and HalfOpen are driven by the trip policies; ForcedOpen, Disabled
// and MetricsOnly are entered and left only by the caller (ForceOpen, Disable, MetricsOnly,
// Reset).
const (
	// StateClosed admits every call and records outcomes; a trip policy moves it to Open.
	StateClosed State = iota
	// StateOpen rejects every call until the open wait elapses, then moves to HalfOpen.
	StateOpen
	// StateHalfOpen admits up to HalfOpenProbes concurrent probes. HalfOpenSuccesses
	// successful probes close the breaker; one failed probe opens it again.
	StateHalfOpen
	// StateForcedOpen rejects every call until the caller leaves it.
	StateForcedOpen
	// StateDisabled admits every call and records nothing.
	StateDisabled
	// StateMetricsOnly admits every call and records outcomes and metrics, but never trips.
	StateMetricsOnly
)

var stateNames = [...]string{"closed", "open", "half-open", "forced-open", "disabled", "metrics-only"}

// String returns the state's lowercase name, such as "half-open".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Outcome is how a finished call counts toward the trip policies.
type Outcome uint8

// The outcomes a Classify function returns.
const (
	// Success counts as a successful call: it resets the consecutive-failure count.
	Success Outcome = iota
	// Failure counts as a failed call.
	Failure
	// Ignore counts as neither: the call leaves no trace in the windows, only in
	// Metrics.Ignored.
	Ignore
)

var outcomeNames = [...]string{"success", "failure", "ignore"}

// String returns the outcome's lowercase name.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// DefaultClassify is the classifier used when Config.Classify is nil: nil is a Success, an
// error that is or wraps context.Canceled is Ignored (the caller gave up, which says nothing
// about the dependency), and any other error, context.DeadlineExceeded included, is a Failure.
// Custom classifiers can fall back to it.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignore
	default:
		return Failure
	}
}

// Defaults applied by New to zero Config fields.
const (
	DefaultConsecutiveFailures = 5
	DefaultWindowSize          = 100
	DefaultWindowBuckets       = 10
	DefaultMinimumCalls        = 10
	DefaultOpenDuration        = 30 * time.Second
	DefaultOpenBackoff         = 2.0
)

// MaxConsecutiveFailures is the largest Config.ConsecutiveFailures: the run is counted in
// 32 bits of a word that also holds the state's generation.
const MaxConsecutiveFailures = 1<<32 - 1

// Config configures a Breaker. The zero Config is valid: it trips after
// DefaultConsecutiveFailures consecutive failures, stays open DefaultOpenDuration, and closes
// after one successful probe.
//
// The trip policies are independent and any one of them trips the breaker:
//   - ConsecutiveFailures: that many failures in a row;
//   - FailureRate: the share of failures among the calls in the window;
//   - SlowCallRate: the share of calls slower than SlowCallDuration in the window.
//
// When neither rate policy is set and ConsecutiveFailures is zero, ConsecutiveFailures
// defaults to DefaultConsecutiveFailures. The rate policies need a window: the last
// WindowSize calls (count-based, the default), or the last WindowDuration split into
// WindowBuckets buckets (time-based, chosen by setting WindowDuration). A rate policy only
// trips once the window holds at least MinimumCalls calls.
type Config struct {
	// Name identifies the breaker in log records. Optional.
	Name string

	// ConsecutiveFailures trips the breaker after this many failures in a row, at most
	// MaxConsecutiveFailures. Zero means DefaultConsecutiveFailures if no rate policy is
	// set, and off otherwise.
	ConsecutiveFailures int

	// FailureRate, in (0, 1], trips the breaker when failures/calls in the window reaches it.
	// Zero turns the policy off.
	FailureRate float64
	// SlowCallRate, in (0, 1], trips the breaker when slow calls/calls in the window reaches
	// it. A call is slow when it takes at least SlowCallDuration, whatever its outcome. Zero
	// turns the policy off. When set, a slow probe in the half-open state reopens the breaker.
	SlowCallRate float64
	// SlowCallDuration is the duration from Allow to the outcome at which a call counts as
	// slow. Required when SlowCallRate is set; otherwise, when positive, slow calls are still
	// counted in Metrics.
	SlowCallDuration time.Duration

	// WindowSize is the length of the count-based window, in calls. Zero means
	// DefaultWindowSize. Ignored when WindowDuration is set.
	WindowSize int
	// WindowDuration selects a time-based window of that length. Zero selects the
	// count-based window.
	WindowDuration time.Duration
	// WindowBuckets is the number of buckets of the time-based window; the window slides
	// by WindowDuration/WindowBuckets. Zero means DefaultWindowBuckets.
	WindowBuckets int
	// MinimumCalls is the number of calls the window must hold before a rate policy can
	// trip. Zero means DefaultMinimumCalls, capped at WindowSize for a count-based window.
	MinimumCalls int

	// OpenDuration is how long the breaker stays open after its first trip. Zero means
	// DefaultOpenDuration.
	OpenDuration time.Duration
	// MaxOpenDuration caps the open duration, which is multiplied by OpenBackoff each time
	// a half-open probe fails and reset when the breaker closes. Zero means OpenDuration: a
	// constant open duration.
	MaxOpenDuration time.Duration
	// OpenBackoff is the growth factor of the open duration, at least 1. Zero means
	// DefaultOpenBackoff.
	OpenBackoff float64
	// OpenJitter, in [0, 1), shortens each open duration d by a random amount: the wait is
	// drawn uniformly from [d·(1−OpenJitter), d], so breakers tripped together do not all
	// probe at once, and the wait never exceeds MaxOpenDuration.
	OpenJitter float64
	// Rand is the random source for OpenJitter. The breaker uses it only under its lock, so
	// it must not be shared with other code. Nil means the goroutine-safe global source of
	// math/rand/v2; tests pass a seeded one to make the waits reproducible.
	Rand *rand.Rand

	// HalfOpenProbes is the maximum number of concurrent calls admitted in the half-open
	// state. Zero means 1.
	HalfOpenProbes int
	// HalfOpenSuccesses is the number of successful probes that close the breaker. Zero
	// means HalfOpenProbes. It may exceed HalfOpenProbes: probes then run in several rounds.
	HalfOpenSuccesses int

	// Classify maps a call's error to an Outcome. Nil means DefaultClassify. It must be
	// safe for concurrent use and must not call the breaker.
	Classify func(err error) Outcome

	// OnStateChange, if set, is called after every state change, outside every lock of the
	// breaker, so it may call any method of the breaker. Calls are delivered one at a time in
	// the order the changes happened, on the goroutine that made a change (or, when another
	// goroutine is already delivering, by that goroutine). When the wait of the open state
	// elapses with the default clock, a runtime timer makes the change and delivers the call.
	OnStateChange func(from, to State)

	// Now, if set, replaces time.Now. With it, the breaker reads the clock lazily: the open
	// state ends on the first Allow, State or Metrics call after the wait. Without it, a
	// runtime timer ends the open state on time (until Breaker.Close, which falls back to
	// the lazy check) and rejection never reads the clock. Tests
	// running under testing/synctest need neither: time.Now is virtual there.
	Now func() time.Time

	// Logger receives one Info record per state change, written outside every lock. Nil
	// means silent.
	Logger *slog.Logger
}

// Validate reports whether the config is usable. It does not modify the config. Every error
// wraps ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.ConsecutiveFailures < 0 || int64(c.ConsecutiveFailures) > MaxConsecutiveFailures:
		return bad("ConsecutiveFailures %d outside [0, %d]", c.ConsecutiveFailures, int64(MaxConsecutiveFailures))
	case !(c.FailureRate >= 0 && c.FailureRate <= 1):
		return bad("FailureRate %v outside [0, 1]", c.FailureRate)
	case !(c.SlowCallRate >= 0 && c.SlowCallRate <= 1):
		return bad("SlowCallRate %v outside [0, 1]", c.SlowCallRate)
	case c.SlowCallDuration < 0:
		return bad("SlowCallDuration %v < 0", c.SlowCallDuration)
	case c.SlowCallRate > 0 && c.SlowCallDuration == 0:
		return bad("SlowCallRate set without SlowCallDuration")
	case c.WindowSize < 0:
		return bad("WindowSize %d < 0", c.WindowSize)
	case c.WindowDuration < 0:
		return bad("WindowDuration %v < 0", c.WindowDuration)
	case c.WindowBuckets < 0:
		return bad("WindowBuckets %d < 0", c.WindowBuckets)
	case c.MinimumCalls < 0:
		return bad("MinimumCalls %d < 0", c.MinimumCalls)
	case c.OpenDuration < 0:
		return bad("OpenDuration %v < 0", c.OpenDuration)
	case c.MaxOpenDuration < 0:
		return bad("MaxOpenDuration %v < 0", c.MaxOpenDuration)
	case c.OpenBackoff != 0 && !(c.OpenBackoff >= 1 && c.OpenBackoff <= 1e6):
		return bad("OpenBackoff %v outside [1, 1e6]", c.OpenBackoff)
	case !(c.OpenJitter >= 0 && c.OpenJitter < 1):
		return bad("OpenJitter %v outside [0, 1)", c.OpenJitter)
	case c.HalfOpenProbes < 0:
		return bad("HalfOpenProbes %d < 0", c.HalfOpenProbes)
	case c.HalfOpenSuccesses < 0:
		return bad("HalfOpenSuccesses %d < 0", c.HalfOpenSuccesses)
	}
	if c.MaxOpenDuration > 0 && c.MaxOpenDuration < c.openDuration() {
		return bad("MaxOpenDuration %v < OpenDuration %v", c.MaxOpenDuration, c.openDuration())
	}
	if c.WindowDuration > 0 {
		if b := c.windowBuckets(); int64(c.WindowDuration) < int64(b) {
			return bad("WindowDuration %v shorter than %d ns (one per bucket)", c.WindowDuration, b)
		}
	} else if c.MinimumCalls > c.windowSize() {
		return bad("MinimumCalls %d > WindowSize %d: the rate policies could never trip", c.MinimumCalls, c.windowSize())
	}
	return nil
}

func (c *Config) openDuration() time.Duration {
	if c.OpenDuration == 0 {
		return DefaultOpenDuration
	}
	return c.OpenDuration
}

func (c *Config) windowSize() int {
	if c.WindowSize == 0 {
		return DefaultWindowSize
	}
	return c.WindowSize
}

func (c *Config) windowBuckets() int {
	if c.WindowBuckets == 0 {
		return DefaultWindowBuckets
	}
	return c.WindowBuckets
}
