package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// This file checks the breaker against a reference model: a plain, single-threaded
// transcription of the documented rules, with no atomics, no generations and no timers. The
// test runs in a synctest bubble, so time is virtual: a sleep advances it and lets the open
// state's timer fire exactly on time.

// modelRec is one outcome recorded in the model's window.
type modelRec struct {
	at         int64
	fail, slow bool
}

// modelToken is an admitted call that the test has not reported yet.
type modelToken struct {
	tok   Token
	state State
	gen   int
	start int64
}

type model struct {
	cfg      Config
	consecN  int
	timeWin  bool
	size     int   // count window length
	width    int64 // time window bucket width
	buckets  int64
	minCalls int
	probeCap int
	needOK   int
	rng      *rand.Rand

	state    State
	gen      int
	consec   int
	recs     []modelRec
	probes   int
	probeOK  int
	trips    int
	openEnd  int64
	openFrom int64 // when the current open state began
	openMin  int64 // lower bound of the current open wait, from the config alone
	m        Metrics
	changes  []transition
}

func newModel(cfg Config, seed uint64) *model {
	md := &model{cfg: cfg, consecN: cfg.ConsecutiveFailures}
	if md.consecN == 0 && cfg.FailureRate == 0 && cfg.SlowCallRate == 0 {
		md.consecN = 5
	}
	md.minCalls = cfg.MinimumCalls
	if cfg.WindowDuration > 0 {
		md.timeWin = true
		md.buckets = int64(cfg.WindowBuckets)
		if md.buckets == 0 {
			md.buckets = 10
		}
		md.width = int64(cfg.WindowDuration) / md.buckets
		if md.minCalls == 0 {
			md.minCalls = 10
		}
	} else {
		md.size = cfg.WindowSize
		if md.size == 0 {
			md.size = 100
		}
		if md.minCalls == 0 {
			md.minCalls = min(10, md.size)
		}
	}
	md.probeCap = max(cfg.HalfOpenProbes, 1)
	md.needOK = cfg.HalfOpenSuccesses
	if md.needOK == 0 {
		md.needOK = md.probeCap
	}
	if cfg.OpenJitter > 0 {
		md.rng = rand.New(rand.NewPCG(seed, seed^0x5eed))
	}
	return md
}

func (md *model) windowed() bool { return md.cfg.FailureRate > 0 || md.cfg.SlowCallRate > 0 }

// window returns the model's window counts at time now.
func (md *model) window(now int64) WindowCounts {
	var c WindowCounts
	if !md.windowed() {
		return c
	}
	for _, r := range md.recs {
		if md.timeWin && r.at/md.width <= now/md.width-md.buckets {
			continue
		}
		c.Calls++
		if r.fail {
			c.Failures++
		}
		if r.slow {
			c.SlowCalls++
		}
	}
	return c
}

func (md *model) set(to State, now int64) {
	md.changes = append(md.changes, transition{md.state, to})
	md.state = to
	md.gen++
	md.m.Transitions++
	md.m.TransitionsTo[to]++
	md.consec = 0
	switch to {
	case StateClosed, StateMetricsOnly, StateDisabled, StateForcedOpen:
		if to != StateForcedOpen {
			md.trips = 0
		}
		if to == StateClosed || to == StateMetricsOnly {
			md.recs = nil
		}
	case StateOpen:
		base := md.cfg.OpenDuration
		ceil := md.cfg.MaxOpenDuration
		if ceil == 0 {
			ceil = base
		}
		factor := md.cfg.OpenBackoff
		if factor == 0 {
			factor = 2
		}
		d := float64(base) * math.Pow(factor, float64(md.trips))
		d = math.Min(d, float64(ceil))
		md.openMin = int64(d * (1 - md.cfg.OpenJitter))
		if md.cfg.OpenJitter > 0 {
			d -= d * md.cfg.OpenJitter * md.rng.Float64()
		}
		md.openFrom = now
		md.openEnd = now + int64(time.Duration(d))
	case StateHalfOpen:
		md.probes, md.probeOK = 0, 0
	}
}

// tick ends the open state once its wait has elapsed.
func (md *model) tick(now int64) {
	if md.state == StateOpen && now >= md.openEnd {
		md.set(StateHalfOpen, now)
	}
}

// allow predicts Allow: the error, and for an admission the state it was admitted in.
func (md *model) allow() error {
	switch md.state {
	case StateOpen, StateForcedOpen:
		md.m.Rejections++
		return ErrOpen
	case StateHalfOpen:
		if md.probes >= md.probeCap {
			md.m.Rejections++
			return ErrProbeLimit
		}
		md.probes++
	}
	return nil
}

func (md *model) record(tk modelToken, o Outcome, now int64) {
	if tk.state == StateDisabled {
		return
	}
	slow := md.cfg.SlowCallDuration > 0 && o != Ignore && now-tk.start >= int64(md.cfg.SlowCallDuration)
	switch o {
	case Success:
		md.m.Successes++
	case Failure:
		md.m.Failures++
	default:
		md.m.Ignored++
	}
	if slow {
		md.m.SlowCalls++
	}
	if tk.gen != md.gen {
		return
	}
	if tk.state == StateHalfOpen {
		md.probes--
		switch {
		case o == Failure || (o == Success && slow && md.cfg.SlowCallRate > 0):
			md.trips++
			md.set(StateOpen, now)
		case o == Success:
			md.probeOK++
			if md.probeOK >= md.needOK {
				md.set(StateClosed, now)
			}
		}
		return
	}
	if o == Ignore {
		return
	}
	trip := false
	if md.consecN > 0 {
		if o == Failure {
			md.consec++
			trip = md.consec >= md.consecN
		} else {
			md.consec = 0
		}
	}
	if md.windowed() {
		md.recs = append(md.recs, modelRec{at: now, fail: o == Failure, slow: slow})
		if !md.timeWin && len(md.recs) > md.size {
			md.recs = md.recs[1:]
		}
		c := md.window(now)
		if c.Calls >= md.minCalls && c.Calls > 0 {
			calls := float64(c.Calls)
			if md.cfg.FailureRate > 0 && float64(c.Failures) >= md.cfg.FailureRate*calls {
				trip = true
			}
			if md.cfg.SlowCallRate > 0 && float64(c.SlowCalls) >= md.cfg.SlowCallRate*calls {
				trip = true
			}
		}
	}
	if trip && tk.state == StateClosed {
		md.set(StateOpen, now)
	}
}

// legal reports whether a transition is allowed by the documented state machine.
func legal(from, to State) bool {
	switch to {
	case StateForcedOpen, StateDisabled, StateMetricsOnly:
		return true // manual transitions, from anywhere
	case StateClosed:
		return true // Reset from anywhere, or recovery from half-open
	case StateOpen:
		return from == StateClosed || from == StateHalfOpen
	case StateHalfOpen:
		return from == StateOpen
	}
	return false
}

// manualClock is an injected clock for the lazy (Config.Now) variant.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func drawConfig(t *rapid.T) Config {
	var cfg Config
	if rapid.Bool().Draw(t, "consecutive") {
		cfg.ConsecutiveFailures = rapid.IntRange(1, 5).Draw(t, "consecutiveFailures")
	}
	if rapid.Bool().Draw(t, "failureRatePolicy") {
		cfg.FailureRate = float64(rapid.IntRange(1, 10).Draw(t, "failureRateTenths")) / 10
	}
	if rapid.Bool().Draw(t, "slowPolicy") {
		cfg.SlowCallDuration = time.Duration(rapid.IntRange(1, 4).Draw(t, "slowSeconds")) * time.Second
		if rapid.Bool().Draw(t, "slowRatePolicy") {
			cfg.SlowCallRate = float64(rapid.IntRange(1, 10).Draw(t, "slowRateTenths")) / 10
		}
	}
	if rapid.Bool().Draw(t, "timeWindow") {
		cfg.WindowDuration = time.Duration(rapid.IntRange(1, 20).Draw(t, "windowSeconds")) * time.Second
		cfg.WindowBuckets = rapid.IntRange(0, 5).Draw(t, "windowBuckets")
		cfg.MinimumCalls = rapid.IntRange(0, 6).Draw(t, "minimumCalls")
	} else {
		cfg.WindowSize = rapid.IntRange(1, 8).Draw(t, "windowSize")
		cfg.MinimumCalls = rapid.IntRange(0, cfg.WindowSize).Draw(t, "minimumCalls")
	}
	cfg.OpenDuration = time.Duration(rapid.IntRange(1, 3).Draw(t, "openSeconds")) * time.Second
	if rapid.Bool().Draw(t, "openGrows") {
		cfg.MaxOpenDuration = cfg.OpenDuration * time.Duration(rapid.IntRange(1, 8).Draw(t, "maxOpenFactor"))
		cfg.OpenBackoff = float64(rapid.IntRange(0, 30).Draw(t, "backoffTenths")) / 10
		if cfg.OpenBackoff != 0 && cfg.OpenBackoff < 1 {
			cfg.OpenBackoff = 1
		}
	}
	if rapid.Bool().Draw(t, "jitter") {
		cfg.OpenJitter = float64(rapid.IntRange(1, 9).Draw(t, "jitterTenths")) / 10
	}
	cfg.HalfOpenProbes = rapid.IntRange(0, 3).Draw(t, "halfOpenProbes")
	cfg.HalfOpenSuccesses = rapid.IntRange(0, 4).Draw(t, "halfOpenSuccesses")
	return cfg
}

// bubbleTB hides the *testing.T from rapid, which would otherwise ask it for its deadline, a
// call synctest forbids inside a bubble. rapid then measures its budgets in virtual time,
// which only the test's sleeps advance.
type bubbleTB struct{ *testing.T }

func TestBreakerModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(bubbleTB{t}, func(rt *rapid.T) {
			runModel(rt)
		})
	})
}

func runModel(t *rapid.T) {
	cfg := drawConfig(t)
	lazy := rapid.Bool().Draw(t, "injectedClock")
	seed := rapid.Uint64().Draw(t, "seed")
	if cfg.OpenJitter > 0 {
		cfg.Rand = rand.New(rand.NewPCG(seed, seed^0x5eed))
	}
	var clock *manualClock
	if lazy {
		clock = &manualClock{now: time.Now()}
		cfg.Now = clock.Now
	}
	epoch := time.Now()
	if lazy {
		epoch = clock.Now()
	}
	elapsed := func() int64 {
		if lazy {
			return int64(clock.Now().Sub(epoch))
		}
		return int64(time.Since(epoch))
	}

	var hookMu sync.Mutex
	var hooked []transition
	var hookAt []int64
	cfg.OnStateChange = func(from, to State) {
		hookMu.Lock()
		hooked = append(hooked, transition{from, to})
		hookAt = append(hookAt, elapsed())
		hookMu.Unlock()
	}
	md := newModel(cfg, seed)
	if lazy {
		md.cfg.Now = nil // the model keeps its own time
	}
	b, err := New(cfg)
	require.NoError(t, err)
	var open []modelToken
	checked := 0

	allow := func(t *rapid.T) (modelToken, bool) {
		wantErr := md.allow()
		st, gen := md.state, md.gen
		tok, err := b.Allow()
		require.ErrorIs(t, err, wantErr)
		if wantErr != nil {
			return modelToken{}, false
		}
		require.NotEqual(t, StateOpen, st, "admitted while open")
		require.NotEqual(t, StateForcedOpen, st, "admitted while forced open")
		return modelToken{tok: tok, state: st, gen: gen, start: elapsed()}, true
	}
	report := func(t *rapid.T, tk modelToken) {
		// Failures are drawn as often as the other two outcomes together, so that the
		// policies trip and the half-open state gets exercised.
		o := []Outcome{Success, Failure, Failure, Ignore}[rapid.IntRange(0, 3).Draw(t, "outcome")]
		md.record(tk, o, elapsed())
		if rapid.Bool().Draw(t, "viaDone") {
			tk.tok.Done([]error{nil, errors.New("boom"), fmt.Errorf("wrapped: %w", context.Canceled)}[o])
		} else {
			tk.tok.Record(o)
		}
	}

	t.Repeat(map[string]func(*rapid.T){
		"calls": func(t *rapid.T) {
			n := rapid.IntRange(1, 8).Draw(t, "calls")
			for range n {
				tk, ok := allow(t)
				if !ok {
					continue
				}
				if rapid.IntRange(0, 3).Draw(t, "keepInFlight") == 0 {
					open = append(open, tk)
				} else {
					report(t, tk)
				}
			}
		},
		"report": func(t *rapid.T) {
			if len(open) == 0 {
				t.Skip("no call in flight")
			}
			i := rapid.IntRange(0, len(open)-1).Draw(t, "call")
			tk := open[i]
			open = append(open[:i], open[i+1:]...)
			report(t, tk)
		},
		"sleep": func(t *rapid.T) {
			d := time.Duration(rapid.IntRange(1, 12000).Draw(t, "sleepMillis")) * time.Millisecond
			if md.state == StateOpen && rapid.Bool().Draw(t, "nearDeadline") {
				// Land just before, on or just after the end of the open wait: the boundary
				// the model must agree on to the nanosecond.
				d = time.Duration(md.openEnd-elapsed()) + time.Duration(rapid.IntRange(-2, 2).Draw(t, "offsetNanos"))
				if d <= 0 {
					d = 1
				}
			}
			if lazy {
				clock.advance(d)
			} else {
				time.Sleep(d)
				synctest.Wait()
			}
			md.tick(elapsed())
		},
		"manual": func(t *rapid.T) {
			if rapid.IntRange(0, 3).Draw(t, "manualNow") != 0 {
				t.Skip("manual transitions are kept rare")
			}
			to := rapid.SampledFrom([]State{StateClosed, StateForcedOpen, StateDisabled, StateMetricsOnly}).Draw(t, "manualState")
			md.set(to, elapsed())
			switch to {
			case StateClosed:
				b.Reset()
			case StateForcedOpen:
				b.ForceOpen()
			case StateDisabled:
				b.Disable()
			case StateMetricsOnly:
				b.MetricsOnly()
			}
		},
		"close": func(t *rapid.T) {
			// Close hands the open state over from the timer to the lazy check: nothing
			// the model can observe may change.
			if rapid.IntRange(0, 7).Draw(t, "closeNow") != 0 {
				t.Skip("Close is kept rare")
			}
			require.NoError(t, b.Close())
		},
		"": func(t *rapid.T) {
			now := elapsed()
			m := b.Metrics()
			require.Equal(t, md.state, m.State, "state")
			require.Equal(t, md.state, b.State(), "state")
			want := md.m
			want.State = md.state
			want.Calls = want.Successes + want.Failures + want.Ignored
			want.ConsecutiveFailures = md.consec
			want.Window = md.window(now)
			if md.state == StateHalfOpen {
				want.HalfOpenInFlight = md.probes
			}
			require.LessOrEqual(t, m.HalfOpenInFlight, md.probeCap, "half-open probes in flight")
			require.Equal(t, want, m, "metrics")

			hookMu.Lock()
			defer hookMu.Unlock()
			require.Equal(t, md.changes, hooked, "state changes seen by the hook")
			for ; checked < len(hooked); checked++ {
				tr := hooked[checked]
				require.True(t, legal(tr.from, tr.to), "illegal transition %v -> %v", tr.from, tr.to)
			}
			if md.state == StateHalfOpen && len(hooked) > 0 && hooked[len(hooked)-1].to == StateHalfOpen {
				// The open state ended no earlier than its wait's lower bound.
				require.GreaterOrEqual(t, hookAt[len(hookAt)-1]-md.openFrom, md.openMin, "open state ended early")
			}
		},
	})
}
