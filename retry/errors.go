package retry

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. A *Error returned by Do unwraps to exactly one of these
// (its Reason) or to the caller's context error, and also to every attempt's
// error, so callers test with errors.Is.
var (
	// ErrAttemptsExhausted: the last allowed attempt failed.
	ErrAttemptsExhausted = errors.New("retry: attempts exhausted")
	// ErrElapsedExceeded: Config.MaxElapsed ran out.
	ErrElapsedExceeded = errors.New("retry: max elapsed time exceeded")
	// ErrPermanent: an attempt returned an error wrapped with Permanent.
	ErrPermanent = errors.New("retry: permanent error")
	// ErrNotRetryable: Config.Retryable rejected an attempt's error.
	ErrNotRetryable = errors.New("retry: error not retryable")
	// ErrBudgetExhausted: Config.Budget refused a retry.
	ErrBudgetExhausted = errors.New("retry: budget exhausted")
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("retry: invalid config")
)

// Error is what Do returns when it gives up. It records why it stopped, how
// many attempts ran, and every attempt's error in order.
type Error struct {
	// Reason is one of the package's sentinel errors, or the caller's context
	// error (context.Canceled, context.DeadlineExceeded) if the context ended.
	Reason error
	// Attempts is the number of times fn was called, at least 1.
	Attempts int
	// Errs holds each attempt's error, oldest first (len(Errs) == Attempts).
	Errs []error
	// all is Reason followed by Errs, built once so Unwrap does not allocate.
	all []error
}

// newError copies errs, which may live on the caller's stack.
func newError(reason error, errs []error) *Error {
	all := make([]error, 0, len(errs)+1)
	all = append(all, reason)
	all = append(all, errs...)
	return &Error{Reason: reason, Attempts: len(errs), Errs: all[1:], all: all}
}

// findRetryAfter is errors.As for *RetryAfterError, written out so that the
// target does not escape to the heap on every failed attempt.
func findRetryAfter(err error) *RetryAfterError {
	for err != nil {
		switch e := err.(type) {
		case *RetryAfterError:
			return e
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if ra := findRetryAfter(inner); ra != nil {
					return ra
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// isPermanent reports whether err wraps a *PermanentError anywhere in its
// tree, including errors that only match ErrPermanent through an Is method.
func isPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Error reports the reason, the attempt count and the last attempt's error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason.Error())
	b.WriteString(" after ")
	b.WriteString(strconv.Itoa(e.Attempts))
	if e.Attempts == 1 {
		b.WriteString(" attempt")
	} else {
		b.WriteString(" attempts")
	}
	if last := e.Last(); last != nil {
		b.WriteString(": ")
		b.WriteString(last.Error())
	}
	return b.String()
}

// Last returns the last attempt's error.
func (e *Error) Last() error {
	if len(e.Errs) == 0 {
		return nil
	}
	return e.Errs[len(e.Errs)-1]
}

// Unwrap returns the reason and every attempt's error, so errors.Is and
// errors.As look through all of them.
func (e *Error) Unwrap() []error { return e.all }

// PermanentError marks an error that must not be retried.
type PermanentError struct{ Err error }

// Permanent wraps err so that Do stops retrying when an attempt returns it,
// however deeply the result is wrapped afterwards (Do looks for it with
// errors.As). Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Is reports that a PermanentError matches ErrPermanent.
func (e *PermanentError) Is(target error) bool { return target == ErrPermanent }

// RetryAfterError carries a server's hint of when to retry, together with the
// error that caused it (which errors.Is and errors.As still see).
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

// RetryAfter wraps err with a requested delay. When an attempt's error holds
// a RetryAfterError (found with errors.As), Do waits Delay instead of the
// schedule's delay, clamped by Config.MaxDelay and by the time left under
// Config.MaxElapsed. A negative delay is treated as 0.
func RetryAfter(d time.Duration, err error) error {
	if d < 0 {
		d = 0
	}
	return &RetryAfterError{Delay: d, Err: err}
}

func (e *RetryAfterError) Error() string {
	msg := "retry after " + e.Delay.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }
