package detector

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// piDigits is π to 60 digits, enough for a 400-bit reference.
const piDigits = "3.14159265358979323846264338327950288419716939937510582097494"

// exactPhiNormal is an independent reference for PhiNormal: it sums the
// Maclaurin series of erf(z) in 400-bit arithmetic, which is exact to far
// more digits than float64 for |z| <= 9 despite the series' huge
// alternating terms, and takes erfc = 1 − erf.
func exactPhiNormal(delta, mean, std float64) float64 {
	const prec = 400
	two := new(big.Float).SetPrec(prec).SetInt64(2)
	sqrt2 := new(big.Float).SetPrec(prec).Sqrt(two)
	z := new(big.Float).SetPrec(prec).SetFloat64(delta - mean)
	z.Quo(z, new(big.Float).SetPrec(prec).SetFloat64(std))
	z.Quo(z, sqrt2)

	z2 := new(big.Float).SetPrec(prec).Mul(z, z)
	term := new(big.Float).SetPrec(prec).Set(z) // z^(2n+1)/n!
	sum := new(big.Float).SetPrec(prec)
	tmp := new(big.Float).SetPrec(prec)
	for n := 0; n < 400; n++ {
		tmp.Quo(term, new(big.Float).SetPrec(prec).SetInt64(int64(2*n+1)))
		if n%2 == 0 {
			sum.Add(sum, tmp)
		} else {
			sum.Sub(sum, tmp)
		}
		term.Mul(term, z2)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(int64(n+1)))
	}
	pi, _ := new(big.Float).SetPrec(prec).SetString(piDigits)
	sqrtPi := new(big.Float).SetPrec(prec).Sqrt(pi)
	erf := sum.Mul(sum, two)
	erf.Quo(erf, sqrtPi)
	erfc := new(big.Float).SetPrec(prec).Sub(new(big.Float).SetPrec(prec).SetInt64(1), erf)
	half := erfc.Quo(erfc, two)
	p, _ := half.Float64()
	return -math.Log10(p)
}

func TestPhiNormalMatchesExactTail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mean := rapid.Float64Range(0.01, 100).Draw(t, "mean")
		std := rapid.Float64Range(0.001, 10).Draw(t, "std")
		// (delta−mean)/std in [−6, 11.5] covers φ from 0 to about 30.
		x := rapid.Float64Range(-6, 11.5).Draw(t, "x")
		delta := mean + x*std
		want := exactPhiNormal(delta, mean, std)
		if want > 30 {
			return
		}
		require.InDelta(t, want, PhiNormal(delta, mean, std), 1e-3)
	})
	// Akka's logistic approximation reports 8 where the exact tail is 7.06;
	// the exact Φ = 8 point is 5.612 standard deviations above the mean.
	require.InDelta(t, 8, PhiNormal(5.612, 0, 1), 0.01)
}

func TestPhiNormalNonNegativeMonotoneFinite(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mean := rapid.Float64Range(-1e3, 1e3).Draw(t, "mean")
		std := rapid.OneOf(rapid.Just(0.0), rapid.Float64Range(0, 1e3)).Draw(t, "std")
		a := rapid.Float64Range(-1e6, 1e6).Draw(t, "a")
		b := rapid.Float64Range(-1e6, 1e6).Draw(t, "b")
		if a > b {
			a, b = b, a
		}
		pa, pb := PhiNormal(a, mean, std), PhiNormal(b, mean, std)
		for _, p := range []float64{pa, pb} {
			require.False(t, math.IsNaN(p) || math.IsInf(p, 0), "phi %v", p)
			require.GreaterOrEqual(t, p, 0.0)
		}
		require.LessOrEqual(t, pa, pb)
		ea, eb := PhiExponential(a, math.Abs(mean)), PhiExponential(b, math.Abs(mean))
		require.False(t, math.IsNaN(ea) || math.IsInf(eb, 0))
		require.GreaterOrEqual(t, ea, 0.0)
		require.LessOrEqual(t, ea, eb)
	})
}

// TestPhiNormalZeroStdRegression is the case rapid found (kept under
// testdata/rapid): with a zero standard deviation, a silence a hair above
// the mean gave a larger φ than a silence of a whole second.
func TestPhiNormalZeroStdRegression(t *testing.T) {
	mean := 4.440892098500626e-16
	a, b := 8.881784197001252e-16, 1.0
	require.LessOrEqual(t, PhiNormal(a, mean, 0), PhiNormal(b, mean, 0))
	require.Equal(t, math.MaxFloat64, PhiNormal(b, mean, 0))
}

func TestPhiNormalAcrossTheSeriesSwitch(t *testing.T) {
	prev := 0.0
	for z := 19.0; z < 21; z += 1e-4 {
		p := PhiNormal(z*math.Sqrt2, 0, 1)
		require.GreaterOrEqual(t, p, prev)
		prev = p
	}
	require.InEpsilon(t, -math.Log10(0.5*math.Erfc(20)), PhiNormal(20*math.Sqrt2, 0, 1), 1e-12)
}

func TestPhiScaleInvariant(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mean := rapid.Float64Range(0.1, 10).Draw(t, "mean")
		std := rapid.Float64Range(0.01, 5).Draw(t, "std")
		delta := rapid.Float64Range(0, 50).Draw(t, "delta")
		k := rapid.Float64Range(0.01, 100).Draw(t, "k")
		require.InDelta(t, PhiNormal(delta, mean, std), PhiNormal(k*delta, k*mean, k*std), 1e-6)
		require.InDelta(t, PhiExponential(delta, mean), PhiExponential(k*delta, k*mean), 1e-9)
	})
}

// TestPhiDetectorProperties drives a Phi detector with arbitrary heartbeat
// schedules, including a single sample and perfectly regular intervals (zero
// variance), and checks φ at increasing silences.
func TestPhiDetectorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dist := Distribution(rapid.IntRange(0, 1).Draw(t, "dist"))
		minStd := time.Duration(rapid.Int64Range(0, int64(200*time.Millisecond)).Draw(t, "minStd"))
		if minStd == 0 {
			minStd = time.Nanosecond
		}
		d, err := NewPhi(PhiConfig{
			Distribution:    dist,
			MaxSamples:      rapid.IntRange(1, 20).Draw(t, "maxSamples"),
			MinStdDev:       minStd,
			AcceptablePause: time.Duration(rapid.Int64Range(-1, int64(time.Second)).Draw(t, "pause")),
		})
		require.NoError(t, err)
		now := time.Unix(1e9, 0)
		regular := rapid.Bool().Draw(t, "regular")
		beats := rapid.IntRange(1, 40).Draw(t, "beats")
		for i := 0; i < beats; i++ {
			step := time.Second
			if !regular {
				step = time.Duration(rapid.Int64Range(1, int64(5*time.Second)).Draw(t, "step"))
			}
			now = now.Add(step)
			d.Heartbeat(now)
		}
		prev := 0.0
		at := now
		for i := 0; i < 30; i++ {
			at = at.Add(time.Duration(rapid.Int64Range(0, int64(10*time.Second)).Draw(t, "silence")))
			p := d.Suspicion(at)
			require.False(t, math.IsNaN(p) || math.IsInf(p, 0), "phi %v", p)
			require.GreaterOrEqual(t, p, prev)
			require.Equal(t, p >= d.Threshold(), d.Suspected(at))
			prev = p
		}
	})
}

func TestPhiUnknownPeerNotSuspected(t *testing.T) {
	d, err := NewPhi(PhiConfig{})
	require.NoError(t, err)
	require.Zero(t, d.Suspicion(time.Unix(1e9, 0)))
	require.False(t, d.Suspected(time.Unix(1e9, 0)))
}

func TestPhiConfigValidate(t *testing.T) {
	require.NoError(t, PhiConfig{}.Validate())
	for _, cfg := range []PhiConfig{
		{Distribution: 7}, {Threshold: -1}, {Threshold: math.NaN()}, {MaxSamples: -1},
		{MinStdDev: -1}, {MaxInterval: -1},
	} {
		_, err := NewPhi(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

func TestPhiHeartbeatDoesNotAllocate(t *testing.T) {
	d, err := NewPhi(PhiConfig{MaxSamples: 16})
	require.NoError(t, err)
	now := time.Unix(1e9, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		d.Heartbeat(now)
		_ = d.Suspected(now.Add(500 * time.Millisecond))
	})
	require.Zero(t, allocs)
}

func BenchmarkPhiHeartbeat(b *testing.B) {
	d, _ := NewPhi(PhiConfig{})
	now := time.Unix(1e9, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		d.Heartbeat(now)
	}
}

func BenchmarkPhiSuspicion(b *testing.B) {
	d, _ := NewPhi(PhiConfig{})
	now := time.Unix(1e9, 0)
	for range 1000 {
		now = now.Add(time.Second)
		d.Heartbeat(now)
	}
	at := now.Add(2 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Suspicion(at)
	}
}
