package retry

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestBudgetConfigValidate(t *testing.T) {
	require.NoError(t, TokenBucketConfig{}.Validate())
	require.ErrorIs(t, TokenBucketConfig{MaxTokens: -1}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, TokenBucketConfig{TokenRatio: 0.0001}.Validate(), ErrInvalidConfig)
	require.NoError(t, RatioBudgetConfig{}.Validate())
	require.ErrorIs(t, RatioBudgetConfig{TTL: time.Millisecond}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, RatioBudgetConfig{Percent: 2000}.Validate(), ErrInvalidConfig)
	_, err := NewRatioBudget(RatioBudgetConfig{TTL: 2 * time.Hour})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// TestTokenBucketMatchesModel checks the bucket against gRPC's rule written
// out naively in floating point.
func TestTokenBucketMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxTokens := float64(rapid.IntRange(1, 100).Draw(t, "maxTokens"))
		ratio := float64(rapid.IntRange(1, 2000).Draw(t, "ratioMilli")) / 1000
		b, err := NewTokenBucket(TokenBucketConfig{MaxTokens: maxTokens, TokenRatio: ratio})
		require.NoError(t, err)
		model := maxTokens
		t.Repeat(map[string]func(*rapid.T){
			"success": func(t *rapid.T) {
				b.Success()
				model = min(model+ratio, maxTokens)
			},
			"failure": func(t *rapid.T) {
				got := b.Withdraw()
				model = max(model-1, 0)
				require.Equal(t, model > maxTokens/2, got)
			},
			"": func(t *rapid.T) {
				require.InDelta(t, model, b.Tokens(), 1e-9)
			},
		})
	})
}

// fakeBudgetClock drives a RatioBudget in fake time: the test moves now and
// fires the budget's timer when it is due, as late as it likes.
type fakeBudgetClock struct {
	// mu guards the fields the budget's hooks write: concurrent calls
	// may both read the clock before one of them wins the right to arm.
	mu        sync.Mutex
	now       time.Duration
	view      int64 // the slice at the budget's last clock read
	armed     bool
	due       time.Duration
	doubleArm bool
}

func newFakeBudgetClock(b *RatioBudget) *fakeBudgetClock {
	c := &fakeBudgetClock{}
	b.elapsed = func() time.Duration {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.view = int64(c.now) / b.slice
		return c.now
	}
	b.arm = func(d time.Duration) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.doubleArm = c.doubleArm || c.armed
		c.armed, c.due = true, c.now+d
	}
	return c
}

// fire runs the budget's timer if it is armed and due, and reports whether
// it did.
func (c *fakeBudgetClock) fire(b *RatioBudget) bool {
	if !c.armed || c.now < c.due {
		return false
	}
	c.armed = false
	b.tick()
	return true
}

// TestRatioBudgetBound drives a budget on a fake clock whose timer fires
// arbitrarily late, and checks Finagle's guarantee at every granted retry:
// within the window the budget counts (the 10 slices up to its last clock
// read), retries ≤ Percent·requests + MinPerSecond·TTL. It also checks that
// the budget is exactly as generous as that bound allows (Available equals
// the model's), that its timer is armed whenever it has been used and aims
// at the next slice boundary, that the window lags the clock only while the
// timer is overdue, and that the timer stops after a slice with no call.
func TestRatioBudgetBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		percentMilli := rapid.IntRange(0, 3000).Draw(t, "percentMilli")
		floor := rapid.IntRange(-1, 5).Draw(t, "floor")
		ttlSec := rapid.IntRange(1, 5).Draw(t, "ttlSec")
		cfg := RatioBudgetConfig{Percent: float64(percentMilli) / 1000, MinPerSecond: floor, TTL: time.Duration(ttlSec) * time.Second}
		if percentMilli == 0 {
			cfg.Percent = -1 // no ratio part
		}
		b, err := NewRatioBudget(cfg)
		require.NoError(t, err)
		c := newFakeBudgetClock(b)
		slice := time.Duration(b.slice)
		floorPerSec := max(floor, 0)
		if floor == 0 {
			floorPerSec = 10
		}
		var requests, retries []int64 // the budget's slice at each event
		inWindow := func(events []int64) int64 {
			n := int64(0)
			for _, s := range events {
				if s > c.view-ratioSlices {
					n++
				}
			}
			return n
		}
		called := false // a call since the timer last fired
		afterCall := func(t *rapid.T) {
			called = true
			require.True(t, c.armed, "used but no timer armed")
			require.Equal(t, c.view, int64(c.due-1)/b.slice, "timer not aimed at the end of the budget's slice")
			if c.now < c.due {
				require.Equal(t, int64(c.now)/b.slice, c.view, "window lags the clock with the timer not yet due")
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"wait": func(t *rapid.T) {
				c.now += time.Duration(rapid.IntRange(0, 3000).Draw(t, "milliSlices")) * slice / 1000
			},
			"fire": func(t *rapid.T) {
				if c.fire(b) {
					require.Equal(t, called, c.armed, "the timer must re-arm exactly when the budget was used")
					called = false
				}
			},
			"requests": func(t *rapid.T) {
				k := rapid.IntRange(1, 200).Draw(t, "k")
				for range k {
					b.Request()
					requests = append(requests, c.view)
				}
				afterCall(t)
			},
			"retry": func(t *rapid.T) {
				if b.Withdraw() {
					retries = append(retries, c.view)
					// milli-retries: retries·1000 ≤ percent·1000·requests + floor·ttl·1000
					lhs := inWindow(retries) * milli
					rhs := int64(percentMilli)*inWindow(requests) + int64(floorPerSec*ttlSec)*milli
					require.LessOrEqual(t, lhs, rhs, "retries %d requests %d", inWindow(retries), inWindow(requests))
				}
				afterCall(t)
			},
			"": func(t *rapid.T) {
				require.False(t, c.doubleArm, "timer armed twice")
				// The older slices' total kept by advance matches a full sum.
				var sum int64
				for i := range b.reqs {
					sum += b.reqs[i].Load()
				}
				require.Equal(t, sum, b.older.Load()+b.reqs[b.cur.Load()%ratioSlices].Load())
				credit := int64(percentMilli)*inWindow(requests) + int64(floorPerSec*ttlSec)*milli
				require.Equal(t, int(max(credit/milli-inWindow(retries), 0)), b.available())
			},
		})
	})
}

func TestRatioBudgetAllowsItsShare(t *testing.T) {
	b, err := NewRatioBudget(RatioBudgetConfig{}) // 20% + 10/s over 10 s
	require.NoError(t, err)
	c := newFakeBudgetClock(b)
	for range 1000 {
		b.Request()
	}
	granted := 0
	for b.Withdraw() {
		granted++
	}
	require.Equal(t, 200+100, granted)
	// Ten slices later the requests and the retries have all expired: only
	// the floor is left.
	c.now += 10 * time.Second
	require.True(t, c.fire(b))
	require.Equal(t, 100, b.Available())
}

// TestRatioBudgetRealTimer runs a budget on its real timer in virtual time:
// the window moves with no call reading the clock, and the timer stops once
// the budget is idle.
func TestRatioBudgetRealTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := NewRatioBudget(RatioBudgetConfig{}) // 20% + 10/s over 10 s
		require.NoError(t, err)
		for range 1000 {
			b.Request()
		}
		granted := 0
		for b.Withdraw() {
			granted++
		}
		require.Equal(t, 300, granted)
		require.NotZero(t, b.state.Load()&budgetTicking)
		// Requests keep the timer going, half-way through slices 1 to 10; at
		// 10.5 s the first thousand requests and the 300 retries, filed in
		// slice 0, have expired.
		time.Sleep(500 * time.Millisecond)
		for range 10 {
			time.Sleep(time.Second)
			b.Request()
		}
		synctest.Wait()
		require.Equal(t, 100+2, b.available()) // floor + 20% of 10 requests
		// The timer fires at 11 s (busy: re-arm) and at 12 s (idle: stop),
		// moving the window each time.
		time.Sleep(1600 * time.Millisecond)
		synctest.Wait()
		require.Zero(t, b.state.Load()&budgetTicking)
		require.Equal(t, 100+1, b.available()) // 8 requests left in slices 3..12
		// With no timer the window stays put until a call reads the clock.
		time.Sleep(5 * time.Second)
		require.Equal(t, 100+1, b.available())
		require.Equal(t, 100, b.Available()) // slices 8..17: 3 requests
		require.NotZero(t, b.state.Load()&budgetTicking)
	})
}

func TestBudgetsConcurrent(t *testing.T) {
	rb, err := NewRatioBudget(RatioBudgetConfig{MinPerSecond: -1})
	require.NoError(t, err)
	newFakeBudgetClock(rb) // one window, however slow the machine
	tb, err := NewTokenBucket(TokenBucketConfig{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 4 {
		wg.Go(func() {
			g := 0
			for range 1000 {
				rb.Request()
				tb.Success()
				if rb.Withdraw() {
					g++
				}
				tb.Withdraw()
			}
			mu.Lock()
			granted += g
			mu.Unlock()
		})
	}
	wg.Wait()
	require.LessOrEqual(t, granted, 800) // 20% of 4000 requests
	require.Greater(t, granted, 0)
	require.GreaterOrEqual(t, tb.Tokens(), 0.0)
}

func BenchmarkRatioBudget(b *testing.B) {
	rb, _ := NewRatioBudget(RatioBudgetConfig{})
	b.Run("deposit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rb.Request()
		}
	})
	// A floor of 10⁶ retries per second over an hour grants every call.
	granting, _ := NewRatioBudget(RatioBudgetConfig{MinPerSecond: 1_000_000, TTL: time.Hour})
	b.Run("withdraw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			granting.Withdraw()
		}
	})
	// No floor and no requests: every call is refused.
	refusing, _ := NewRatioBudget(RatioBudgetConfig{MinPerSecond: -1})
	b.Run("withdraw-refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			refusing.Withdraw()
		}
	})
}

func BenchmarkTokenBucket(b *testing.B) {
	tb, _ := NewTokenBucket(TokenBucketConfig{})
	b.Run("deposit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb.Success()
		}
	})
	b.Run("withdraw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb.Withdraw()
		}
	})
}

// BenchmarkAtomicAddBaseline is the cost of one uncontended atomic add on
// the same machine and run, to judge the budgets' figures against.
func BenchmarkAtomicAddBaseline(b *testing.B) {
	var n atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		n.Add(1)
	}
}
