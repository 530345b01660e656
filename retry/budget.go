package retry

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// milli is the fixed-point scale of both budgets: amounts are kept in
// thousandths so that fractional token ratios and percentages need no
// floating point and no lock.
const milli = 1000

// TokenBucketConfig configures a TokenBucket.
type TokenBucketConfig struct {
	// MaxTokens is the bucket's size; retries stop once it is half empty.
	// 0 means 10, the value gRPC's documentation uses. At most 1e12.
	MaxTokens float64
	// TokenRatio is what one successful attempt puts back (one failure takes
	// 1). 0 means 0.1. It has a resolution of 0.001 and must be in (0, 1e12].
	TokenRatio float64
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg TokenBucketConfig) Validate() error {
	if cfg.MaxTokens < 0 || cfg.MaxTokens > 1e12 || math.IsNaN(cfg.MaxTokens) {
		return fmt.Errorf("%w: MaxTokens %v outside [0, 1e12]", ErrInvalidConfig, cfg.MaxTokens)
	}
	if cfg.TokenRatio < 0 || cfg.TokenRatio > 1e12 || math.IsNaN(cfg.TokenRatio) {
		return fmt.Errorf("%w: TokenRatio %v outside [0, 1e12]", ErrInvalidConfig, cfg.TokenRatio)
	}
	if cfg.TokenRatio > 0 && math.Round(cfg.TokenRatio*milli) == 0 {
		return fmt.Errorf("%w: TokenRatio %v below the resolution 0.001", ErrInvalidConfig, cfg.TokenRatio)
	}
	return nil
}

// TokenBucket is gRPC's retry throttle: every failed attempt that would be
// retried takes one token, every successful attempt returns TokenRatio
// tokens, and a retry is allowed only while more than half of MaxTokens
// remain after the failure's token is taken. It starts full. It is lock-free
// and safe for concurrent use.
type TokenBucket struct {
	tokens atomic.Int64 // in thousandths of a token
	max    int64
	ratio  int64
}

// NewTokenBucket returns a full bucket, or an error wrapping ErrInvalidConfig.
func NewTokenBucket(cfg TokenBucketConfig) (*TokenBucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = 10
	}
	if cfg.TokenRatio == 0 {
		cfg.TokenRatio = 0.1
	}
	b := &TokenBucket{
		max:   int64(math.Round(cfg.MaxTokens * milli)),
		ratio: int64(math.Round(cfg.TokenRatio * milli)),
	}
	b.tokens.Store(b.max)
	return b, nil
}

// Request does nothing: gRPC's throttle counts outcomes, not requests.
func (b *TokenBucket) Request() {}

// Success returns TokenRatio tokens, up to MaxTokens.
func (b *TokenBucket) Success() {
	for {
		t := b.tokens.Load()
		if t >= b.max {
			return
		}
		n := min(t+b.ratio, b.max)
		if b.tokens.CompareAndSwap(t, n) {
			return
		}
	}
}

// Withdraw takes one token for a failure and reports whether more than half
// of MaxTokens remain, that is, whether the retry may go ahead.
func (b *TokenBucket) Withdraw() bool {
	for {
		t := b.tokens.Load()
		n := max(t-milli, 0)
		if b.tokens.CompareAndSwap(t, n) {
			return 2*n > b.max
		}
	}
}

// Tokens returns the current number of tokens.
func (b *TokenBucket) Tokens() float64 { return float64(b.tokens.Load()) / milli }

// RatioBudgetConfig configures a RatioBudget.
type RatioBudgetConfig struct {
	// Percent is the share of requests that may be retried, as a fraction:
	// 0.2 allows 20%. 0 means 0.2; a negative value means none beyond the
	// floor. Resolution 0.001, at most 1000 (100,000%).
	Percent float64
	// MinPerSecond is the floor: retries always allowed per second of TTL,
	// whatever the request rate, so that low-traffic clients can still retry.
	// 0 means 10; a negative value means no floor.
	MinPerSecond int
	// TTL is how long a request keeps counting toward the budget (and a
	// retry against it). 0 means 10 s. Must be in [1 s, 1 h].
	TTL time.Duration
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg RatioBudgetConfig) Validate() error {
	if cfg.Percent > 1000 || math.IsNaN(cfg.Percent) {
		return fmt.Errorf("%w: Percent %v above 1000", ErrInvalidConfig, cfg.Percent)
	}
	if cfg.TTL != 0 && (cfg.TTL < time.Second || cfg.TTL > time.Hour) {
		return fmt.Errorf("%w: TTL %v outside [1s, 1h]", ErrInvalidConfig, cfg.TTL)
	}
	if cfg.MinPerSecond > 1_000_000 {
		return fmt.Errorf("%w: MinPerSecond %d above 1e6", ErrInvalidConfig, cfg.MinPerSecond)
	}
	return nil
}

// ratioSlices is how many slices the TTL window is cut into.
const ratioSlices = 10

// RatioBudget is Finagle's retry budget: over a sliding window of TTL,
// retries may be at most Percent of requests plus MinPerSecond·TTL. With the
// defaults, 20% of requests plus 10 retries per second over 10 s.
//
// The window is cut into 10 slices, each counting its requests and its
// retries. A retry is granted only if, over the slices in the window,
// 1000·retries ≤ round(1000·Percent)·requests + 1000·MinPerSecond·TTL after
// granting it; slices older than TTL expire. Hence the guarantee: for the
// window the budget counts at each retry, retries ≤ Percent·requests +
// MinPerSecond·TTL. The check and the grant are one compare-and-swap, so
// the bound holds exactly under concurrent use.
//
// Request and Withdraw read no clock: each costs one atomic read-modify-write
// and a few loads. The window is moved by a timer that fires at each slice
// boundary (TTL/10), for as long as the budget is in use; after a slice with
// no call the timer stops, and the next call reads the clock, moves the
// window and restarts it. So the budget's notion of the current slice lags
// real time only by the timer's firing delay (microseconds, more if the Go
// scheduler is starved): an event in that lag is counted in the slice that
// just ended, as if it had happened a moment earlier, and expires that much
// earlier. An idle budget holds no timer and is garbage-collected normally;
// a budget in use keeps itself alive until a slice passes without a call.
// Under concurrent use, a request racing with a move of the window can be
// counted in the slice the move makes current instead of the one it was
// made in, which can add at most Percent of a retry per such request (one
// per racing goroutine); a retry is never filed before the slice the
// budget held current when it was granted. RatioBudget is lock-free and
// safe for concurrent use. It keeps to the clock it was created under: one
// created in a testing/synctest bubble runs in that bubble's virtual time
// and must be used only there (its timer cannot be restarted from outside),
// and one created outside must not be used inside a bubble.
type RatioBudget struct {
	deposit int64 // credit per request, in thousandths of a retry
	reserve int64 // the floor, MinPerSecond·TTL in thousandths
	slice   int64 // nanoseconds per slice
	epoch   time.Time
	timer   *time.Timer

	// elapsed reads the clock (time since epoch) and arm schedules tick
	// after d; tests replace both to drive the budget in fake time.
	elapsed func() time.Duration
	arm     func(d time.Duration)

	cur      atomic.Int64  // slice number the newest slot holds
	state    atomic.Uint32 // budgetTicking | budgetBusy
	rotating atomic.Bool   // advance is moving the window
	version  atomic.Uint64 // odd while advance moves the window
	older    atomic.Int64  // requests in the window's slices before cur
	// retries counts the retries in the window: those filed in rets plus
	// those granted since the window last moved, which advance files.
	retries atomic.Int64
	reqs    [ratioSlices]atomic.Int64
	rets    [ratioSlices]atomic.Int64
}

// NewRatioBudget returns an empty budget, or an error wrapping
// ErrInvalidConfig.
func NewRatioBudget(cfg RatioBudgetConfig) (*RatioBudget, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Percent == 0 {
		cfg.Percent = 0.2
	}
	if cfg.Percent < 0 {
		cfg.Percent = 0
	}
	if cfg.MinPerSecond == 0 {
		cfg.MinPerSecond = 10
	}
	if cfg.MinPerSecond < 0 {
		cfg.MinPerSecond = 0
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Second
	}
	b := &RatioBudget{
		deposit: int64(math.Round(cfg.Percent * milli)),
		reserve: int64(math.Round(float64(cfg.MinPerSecond) * cfg.TTL.Seconds() * milli)),
		slice:   int64(cfg.TTL) / ratioSlices,
		epoch:   time.Now(),
	}
	b.elapsed = func() time.Duration { return time.Since(b.epoch) }
	b.timer = time.AfterFunc(time.Hour, b.tick)
	b.timer.Stop() // armed by the first call
	b.arm = func(d time.Duration) { b.timer.Reset(d) }
	return b, nil
}

// The bits of RatioBudget.state.
const (
	budgetTicking = 1 << iota // the timer is armed and will move the window
	budgetBusy                // a call came since the timer last fired
)

// awake makes sure the window is moving before a call uses it. On the fast
// path the timer is armed and the budget already marked busy in this slice:
// one load.
func (b *RatioBudget) awake() {
	if b.state.Load() != budgetTicking|budgetBusy {
		b.wake()
	}
}

// wake marks the budget busy, so that the timer re-arms at the next
// boundary; if the timer has stopped, it first reads the clock, moves the
// window and arms the timer.
func (b *RatioBudget) wake() {
	for {
		s := b.state.Load()
		if s&budgetTicking == 0 {
			e := int64(b.elapsed())
			b.advance(e / b.slice)
			if b.state.CompareAndSwap(s, budgetTicking|budgetBusy) {
				b.arm(time.Duration(b.slice - e%b.slice))
				return
			}
			continue // another call armed it
		}
		if s&budgetBusy != 0 || b.state.CompareAndSwap(s, s|budgetBusy) {
			return
		}
	}
}

// tick runs at each slice boundary while the budget is in use: it moves the
// window, then re-arms for the next boundary if a call came during the
// slice, or stops. A call that comes after it stops reads the clock itself.
func (b *RatioBudget) tick() {
	e := int64(b.elapsed())
	b.advance(e / b.slice)
	for {
		s := b.state.Load()
		if s&budgetBusy != 0 {
			if b.state.CompareAndSwap(s, budgetTicking) {
				b.arm(time.Duration(b.slice - e%b.slice))
				return
			}
		} else if b.state.CompareAndSwap(s, 0) {
			return
		}
	}
}

// Request records one request.
func (b *RatioBudget) Request() {
	b.awake()
	b.reqs[b.cur.Load()%ratioSlices].Add(1)
}

// Success does nothing: the budget counts requests, not outcomes.
func (b *RatioBudget) Success() {}

// credit returns what the window allows, in thousandths of a retry.
//
// It reads the older slices' total that advance keeps, plus the current
// slice, between two reads of the window's version: three loads instead of
// ten. If the window moved meanwhile it sums the slices instead, which is
// always right: advance zeroes a slice's requests before its retries, so a
// sum taken during a move can only be short of requests.
func (b *RatioBudget) credit() int64 {
	v := b.version.Load()
	n := b.older.Load() + b.reqs[b.cur.Load()%ratioSlices].Load()
	if v&1 != 0 || b.version.Load() != v {
		n = 0
		for i := range b.reqs {
			n += b.reqs[i].Load()
		}
	}
	return b.deposit*n + b.reserve
}

// Withdraw takes one retry from the budget and reports whether it was
// available.
func (b *RatioBudget) Withdraw() bool {
	b.awake()
	credit := b.credit()
	for {
		r := b.retries.Load()
		if (r+1)*milli > credit {
			return false
		}
		if b.retries.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// Available returns how many retries the budget would allow right now.
func (b *RatioBudget) Available() int {
	b.awake()
	return b.available()
}

func (b *RatioBudget) available() int {
	return int(max(b.credit()/milli-b.retries.Load(), 0))
}

// advance moves the window to slice now, expiring the slots it passes. One
// caller moves it at a time; the others carry on with the current slot.
// Retries granted since the last move are filed first, in the slice that
// was current when they were granted (a retry granted while advance runs is
// filed at the next move, later than its slice, which only lowers the
// budget).
func (b *RatioBudget) advance(now int64) {
	if now <= b.cur.Load() || !b.rotating.CompareAndSwap(false, true) {
		return
	}
	c := b.cur.Load()
	if now > c {
		var filed int64
		for i := range b.rets {
			filed += b.rets[i].Load()
		}
		b.rets[c%ratioSlices].Add(b.retries.Load() - filed)
		b.version.Add(1) // odd: moving
		for s := c + 1; s <= now && s <= c+ratioSlices; s++ {
			i := s % ratioSlices
			b.reqs[i].Store(0)
			b.retries.Add(-b.rets[i].Swap(0))
		}
		b.cur.Store(now)
		// A request that read the old current slice may still land in it
		// after this sum; it is then left out of older, which only lowers
		// the budget, until the next move sums again.
		var older int64
		for s := max(now-ratioSlices+1, 0); s < now; s++ {
			older += b.reqs[s%ratioSlices].Load()
		}
		b.older.Store(older)
		b.version.Add(1) // even: settled
	}
	b.rotating.Store(false)
}
