package retry

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Unlimited, as Config.MaxAttempts, retries until something else stops the
// loop: MaxElapsed, the context, a permanent error, the predicate or the
// budget.
const Unlimited = -1

// Defaults applied to zero Config fields.
const (
	DefaultMaxAttempts = 3
	DefaultMaxDelay    = time.Minute
	DefaultBase        = 100 * time.Millisecond
	DefaultCap         = 10 * time.Second
)

// Config configures a Retrier. The zero value is valid: 3 attempts, full
// jitter over an exponential schedule from 100 ms capped at 10 s, delays
// capped at 1 minute, no time limit, every error retryable except those
// wrapped with Permanent.
type Config struct {
	// MaxAttempts is the most times fn is called, counting the first. 0 means
	// DefaultMaxAttempts (3); Unlimited (-1) means no limit. Values below -1
	// are invalid.
	MaxAttempts int

	// MaxElapsed bounds the total time Do spends, measured from the start of
	// Do (or from the first failure, see ElapsedFromFirstFailure). The last
	// wait is shortened to what is left rather than skipped, so one more
	// attempt runs right at the limit; after it Do gives up. 0 means no limit.
	// Measuring from the start costs one clock read on every call, even one
	// whose first attempt succeeds.
	MaxElapsed time.Duration

	// ElapsedFromFirstFailure makes MaxElapsed count from the end of the first
	// failed attempt, so a slow first attempt still gets its retries
	// (cenkalti/backoff#188) and the success path reads no clock.
	ElapsedFromFirstFailure bool

	// AttemptTimeout, if > 0, bounds each attempt: fn's context gets this
	// deadline (or the caller's, if sooner). An attempt that times out is
	// retried like any other failure. 0 means no per-attempt limit.
	AttemptTimeout time.Duration

	// Backoff computes the wait before each retry. nil means
	// FullJitter(Exponential(DefaultBase, DefaultCap)).
	Backoff Schedule

	// MaxDelay caps every wait, including a RetryAfter hint. 0 means
	// DefaultMaxDelay (1 minute).
	MaxDelay time.Duration

	// Retryable decides whether an attempt's error may be retried. nil means
	// every error is retryable. Errors wrapped with Permanent are never
	// retried and an ended caller context always stops the loop, whatever
	// Retryable says.
	Retryable func(err error) bool

	// OnRetry, if set, is called just before each retry, after its wait,
	// with the retry's number (1 for the first retry), the error that caused
	// it and the wait. It fires only for retries that happen: never after
	// the final attempt, nor when the context ends during the wait. It runs
	// on the goroutine calling Do, with no lock held.
	OnRetry func(n int, err error, delay time.Duration)

	// Budget, if set, limits retries across all calls sharing it (see
	// TokenBucket and RatioBudget).
	Budget Budget

	// Logger receives one debug record per retry. nil means silent.
	Logger *slog.Logger
}

// Budget limits how many retries many calls may make together, so a fleet
// does not multiply its load when a dependency fails. Implementations must
// be safe for concurrent use.
type Budget interface {
	// Request is called once at the start of each Do call.
	Request()
	// Success is called when an attempt succeeds.
	Success()
	// Withdraw is called when an attempt failed and Do is about to retry; the
	// retry happens only if it returns true.
	Withdraw() bool
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg Config) Validate() error {
	switch {
	case cfg.MaxAttempts < Unlimited:
		return fmt.Errorf("%w: MaxAttempts %d < -1", ErrInvalidConfig, cfg.MaxAttempts)
	case cfg.MaxElapsed < 0:
		return fmt.Errorf("%w: MaxElapsed %v < 0", ErrInvalidConfig, cfg.MaxElapsed)
	case cfg.AttemptTimeout < 0:
		return fmt.Errorf("%w: AttemptTimeout %v < 0", ErrInvalidConfig, cfg.AttemptTimeout)
	case cfg.MaxDelay < 0:
		return fmt.Errorf("%w: MaxDelay %v < 0", ErrInvalidConfig, cfg.MaxDelay)
	}
	return nil
}

// Retrier runs functions with retries. It holds only configuration, so one
// Retrier is safe for concurrent use by any number of goroutines.
type Retrier struct {
	maxAttempts    int
	maxElapsed     time.Duration
	fromFailure    bool
	attemptTimeout time.Duration
	backoff        Schedule
	maxDelay       time.Duration
	retryable      func(error) bool
	onRetry        func(int, error, time.Duration)
	budget         Budget
	logger         *slog.Logger
}

// New returns a Retrier for cfg, or an error wrapping ErrInvalidConfig.
func New(cfg Config) (*Retrier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Retrier{
		maxAttempts:    cfg.MaxAttempts,
		maxElapsed:     cfg.MaxElapsed,
		fromFailure:    cfg.ElapsedFromFirstFailure,
		attemptTimeout: cfg.AttemptTimeout,
		backoff:        cfg.Backoff,
		maxDelay:       cfg.MaxDelay,
		retryable:      cfg.Retryable,
		onRetry:        cfg.OnRetry,
		budget:         cfg.Budget,
		logger:         cfg.Logger,
	}
	if r.maxAttempts == 0 {
		r.maxAttempts = DefaultMaxAttempts
	}
	if r.backoff == nil {
		r.backoff = FullJitter(Exponential(DefaultBase, DefaultCap))
	}
	if r.maxDelay == 0 {
		r.maxDelay = DefaultMaxDelay
	}
	return r, nil
}

var defaultRetrier, _ = New(Config{})

// Do calls fn with the default Config until it succeeds or the loop gives up;
// see Retrier.Do.
func Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return defaultRetrier.Do(ctx, fn)
}

// DoValue is Do for a function that returns a value: it returns the value of
// the successful attempt, or the zero T and Do's error.
func DoValue[T any](ctx context.Context, r *Retrier, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := r.Do(ctx, func(ctx context.Context) error {
		x, err := fn(ctx)
		if err == nil {
			v = x
		}
		return err
	})
	return v, err
}

// Do calls fn until it returns nil or the loop gives up, and returns nil or
// a *Error.
//
// fn receives a context derived from ctx that is cancelled when Do returns,
// so work fn leaves behind is told to stop. Between attempts Do waits as the
// Backoff schedule (or a RetryAfter hint) says; if ctx ends during a wait, Do
// returns at once. Do never waits after the final attempt.
func (r *Retrier) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	c := newCallCtx(ctx)
	// Deferred so that fn's context is cancelled even if fn panics.
	defer c.finish()
	if r.budget != nil {
		r.budget.Request()
	}
	var start time.Time
	if r.maxElapsed > 0 && !r.fromFailure {
		start = time.Now()
	}
	err := r.attempt(c, fn)
	if err == nil {
		if r.budget != nil {
			r.budget.Success()
		}
		return nil
	}
	return r.retry(ctx, c, fn, err, start)
}

// attempt runs fn once, under the per-attempt timeout if there is one.
func (r *Retrier) attempt(c *callCtx, fn func(context.Context) error) error {
	if r.attemptTimeout <= 0 {
		return fn(c)
	}
	return r.attemptWithTimeout(c, fn)
}

func (r *Retrier) attemptWithTimeout(c *callCtx, fn func(context.Context) error) error {
	actx, cancel := context.WithTimeout(c, r.attemptTimeout)
	defer cancel()
	return fn(actx)
}

// retry is the slow path, entered after the first failure.
func (r *Retrier) retry(ctx context.Context, c *callCtx, fn func(context.Context) error, err error, start time.Time) error {
	if r.maxElapsed > 0 && r.fromFailure {
		start = time.Now()
	}
	// The first attempts' errors live on the stack; newError copies them
	// out only if Do gives up, so a retry that ends in success allocates
	// nothing for them.
	var buf [8]error
	errs := append(buf[:0], err)
	var (
		prev  time.Duration
		timer *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for n := 1; ; n++ {
		// Decide whether the failure is worth another attempt, cheapest and
		// most final reasons first.
		if cerr := ctx.Err(); cerr != nil {
			return newError(cerr, errs)
		}
		if isPermanent(err) {
			return newError(ErrPermanent, errs)
		}
		if r.retryable != nil && !r.retryable(err) {
			return newError(ErrNotRetryable, errs)
		}
		if r.maxAttempts != Unlimited && n >= r.maxAttempts {
			return newError(ErrAttemptsExhausted, errs)
		}

		// prev is the schedule's previous delay as actually applied (after
		// MaxDelay), so decorrelated jitter grows from what was really slept.
		delay := min(r.backoff.Delay(n-1, prev), r.maxDelay)
		prev = delay
		if ra := findRetryAfter(err); ra != nil {
			delay = min(ra.Delay, r.maxDelay)
		}
		if delay < 0 {
			delay = 0
		}
		if r.maxElapsed > 0 {
			left := r.maxElapsed - time.Since(start)
			if left <= 0 {
				return newError(ErrElapsedExceeded, errs)
			}
			if delay > left {
				delay = left
			}
		}
		if r.budget != nil && !r.budget.Withdraw() {
			return newError(ErrBudgetExhausted, errs)
		}
		if delay > 0 {
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			select {
			case <-ctx.Done():
				return newError(ctx.Err(), errs)
			case <-timer.C:
			}
		}
		// The hook runs after the wait, so it fires only for a retry that
		// really happens: not after the final attempt, and not when the
		// context ends during the wait.
		if r.onRetry != nil {
			r.onRetry(n, err, delay)
		}
		if r.logger != nil {
			r.logger.Debug("retry: retrying", "retry", n, "waited", delay, "err", err)
		}

		err = r.attempt(c, fn)
		if err == nil {
			if r.budget != nil {
				r.budget.Success()
			}
			return nil
		}
		errs = append(errs, err)
	}
}
