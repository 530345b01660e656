package retry

import (
	"sync"
	"sync/atomic"
	"testing"
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

// TestRatioBudgetBound drives a budget on a fake clock and checks Finagle's
// guarantee at every granted retry: within the window the budget counts (the
// last 10 slices), retries ≤ Percent·requests + MinPerSecond·TTL. It also
// checks that the budget is not stingier than that bound allows when all
// requests fall in the current slice.
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
		floorPerSec := max(floor, 0)
		if floor == 0 {
			floorPerSec = 10
		}
		now := int64(0)
		b.now = func() int64 { return now }
		var requests, retries []int64 // slice numbers of each event
		inWindow := func(events []int64) int64 {
			n := int64(0)
			for _, s := range events {
				if s > now-ratioSlices {
					n++
				}
			}
			return n
		}
		t.Repeat(map[string]func(*rapid.T){
			"tick": func(t *rapid.T) {
				now += int64(rapid.IntRange(1, 12).Draw(t, "slices"))
			},
			"requests": func(t *rapid.T) {
				k := rapid.IntRange(1, 200).Draw(t, "k")
				for range k {
					b.Request()
					requests = append(requests, now)
				}
			},
			"retry": func(t *rapid.T) {
				if b.Withdraw() {
					retries = append(retries, now)
					// milli-retries: retries·1000 ≤ percent·1000·requests + floor·ttl·1000
					lhs := inWindow(retries) * milli
					rhs := int64(percentMilli)*inWindow(requests) + int64(floorPerSec*ttlSec)*milli
					require.LessOrEqual(t, lhs, rhs, "retries %d requests %d", inWindow(retries), inWindow(requests))
				}
			},
			"": func(t *rapid.T) {
				require.GreaterOrEqual(t, b.Available(), 0)
			},
		})
	})
}

func TestRatioBudgetAllowsItsShare(t *testing.T) {
	b, err := NewRatioBudget(RatioBudgetConfig{}) // 20% + 10/s over 10 s
	require.NoError(t, err)
	now := int64(0)
	b.now = func() int64 { return now }
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
	now += ratioSlices
	require.Equal(t, 100, b.Available())
}

func TestBudgetsConcurrent(t *testing.T) {
	rb, err := NewRatioBudget(RatioBudgetConfig{MinPerSecond: -1})
	require.NoError(t, err)
	rb.now = func() int64 { return 0 } // one window, however slow the machine
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
	// Withdraw reads the monotonic clock on every call, so that retries are
	// filed in the right slice; that read dominates its cost.
	b.Run("withdraw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rb.Withdraw()
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
