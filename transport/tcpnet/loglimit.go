package tcpnet

import (
	"sync"
	"time"
)

// refusalLogInterval is the shortest time between two logged refusals of the
// same kind. A flood of bad connections then costs one log line a second per
// kind, not one per connection, while Status.RefusedConns still counts each.
const refusalLogInterval = time.Second

// logLimiter lets through at most one event per key per interval and counts
// the ones it holds back, so the next logged event can say how many were
// suppressed. Keys are a small fixed set (kinds of refusal, never addresses
// or peer-supplied text), so its map stays small.
type logLimiter struct {
	interval time.Duration

	mu   sync.Mutex
	keys map[string]*limitState
}

type limitState struct {
	last       time.Time // when the last event was let through
	suppressed uint64    // events held back since then
}

func newLogLimiter(interval time.Duration) *logLimiter {
	return &logLimiter{interval: interval, keys: make(map[string]*limitState)}
}

// allow reports whether an event of kind key happening at now should be
// logged and, if so, how many events of that kind were suppressed since the
// last one logged.
func (l *logLimiter) allow(key string, now time.Time) (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		l.keys[key] = &limitState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < l.interval {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	st.last, st.suppressed = now, 0
	return true, suppressed
}
