package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/distkit/distkit/breaker"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions is a small fleet: three flaky backends (at most 10% of their
// answers fail) and one dead backend, deadSpec.
func testOptions(dead backendSpec) options {
	o := defaultOptions()
	o.Backends = []backendSpec{
		{Name: "a", FailRate: 0.05},
		{Name: "b", FailRate: 0.10},
		{Name: "c", FailRate: 0.05, Latency: time.Millisecond},
		dead,
	}
	o.Requests = 400
	o.Callers = 16
	o.Bulkhead = 4
	o.Seed = 42
	return o
}

func backendNamed(t *testing.T, r report, name string) backendReport {
	t.Helper()
	for _, b := range r.Backends {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no backend %q in the report", name)
	return backendReport{}
}

// requireCommonBounds checks what must hold in every run: the bulkhead
// held, and the retries stayed within the budget's bound.
func requireCommonBounds(t *testing.T, o options, r report) {
	t.Helper()
	require.Equal(t, o.Requests, r.Requests)
	require.Equal(t, r.Requests, r.Successes+r.Failures)
	require.Equal(t, r.Failures, r.FailedBudget+r.FailedAttempts+r.FailedNoBackend+r.FailedOther)
	require.Positive(t, r.MaxInFlight)
	require.LessOrEqual(t, r.MaxInFlight, o.Bulkhead, "the bulkhead let more attempts through than its limit")
	if o.Budget == "ratio" {
		// RatioBudget guarantees retries <= Percent*requests + floor*TTL
		// over any window it counts; no request leaves the window before
		// the TTL has passed, so for a run shorter than the TTL the window
		// is the whole run.
		require.Less(t, r.Elapsed, o.RatioTTL, "the run outlasted the budget's window; the bound below would not apply")
	}
	require.LessOrEqual(t, float64(r.Retries), r.RetryBound, "retries beyond the budget (%s)", r.BoundText)
}

// TestDeadBackendIsCutOff runs the client against three flaky backends and
// one that is dead, either refusing connections or answering 503 to
// everything, and checks that its breaker cuts it off, that retries stay
// within the budget, and that the client keeps succeeding meanwhile.
func TestDeadBackendIsCutOff(t *testing.T) {
	for _, dead := range []backendSpec{
		{Name: "dead", Closed: true},
		{Name: "dead", Dead: true},
	} {
		t.Run(dead.describe(), func(t *testing.T) {
			o := testOptions(dead)
			// An open period longer than the run: the dead backend's
			// breaker, once open, never half-opens, so no probe reaches it.
			o.OpenDuration = time.Minute
			var out bytes.Buffer
			r, err := run(t.Context(), &out, o)
			require.NoError(t, err)
			t.Log("\n" + out.String())
			require.Less(t, r.Elapsed, o.OpenDuration)

			d := backendNamed(t, r, "dead")
			require.Equal(t, breaker.StateOpen, d.State)
			require.Zero(t, d.HalfOpens)
			require.Equal(t, uint64(1), d.Changes, "closed -> open, and nothing since")
			require.Equal(t, d.Attempts, d.Failed)
			// The breaker opens when the TripAfter-th failure is reported.
			// Calls it admitted before then are those TripAfter plus any
			// still in flight; admission happens inside the bulkhead, and
			// the reporting call holds one of its slots, so at most
			// Bulkhead-1 others are in flight. Nothing is admitted after.
			bound := int64(o.TripAfter) + o.Bulkhead - 1
			require.GreaterOrEqual(t, d.Attempts, int64(o.TripAfter), "the dead backend was never tried")
			require.LessOrEqual(t, d.Attempts, bound, "the breaker let too many calls reach the dead backend")
			require.LessOrEqual(t, d.Served, d.Attempts)

			requireCommonBounds(t, o, r)

			// Success rate. A request fails only if all MaxAttempts (4) of
			// its attempts fail, or the budget refuses a retry, or no
			// backend is available. The live backends fail at most 10% of
			// answers, so four failures in a row have probability 1e-4;
			// the dead backend takes at most `bound` (8) attempts in the
			// whole run, so it adds at most 8 requests with a failure that
			// then need three more: 8e-3. The budget allows 0.2*400 + 100 =
			// 180 retries against about 0.1*400 = 40 needed, and three live
			// backends never all trip together at these rates. Expected
			// failures are about 0.05 of 400 requests; allowing 4 (1%)
			// leaves a wide margin (Poisson(0.05) >= 5 has probability
			// below 1e-8).
			require.Zero(t, r.FailedBudget)
			require.GreaterOrEqual(t, float64(r.Successes), 0.99*float64(r.Requests))
		})
	}
}

// TestWithoutBreakersTheDeadBackendKeepsGettingCalls is the control for
// TestDeadBackendIsCutOff: with breakers that never trip, power of two
// choices alone keeps sending the dead backend a large share of attempts,
// because its failure penalty looks no worse than a flaky backend's recent
// failure. (Measured over seeds 1-5: 135 to 222 of about 500 attempts.)
func TestWithoutBreakersTheDeadBackendKeepsGettingCalls(t *testing.T) {
	o := testOptions(backendSpec{Name: "dead", Dead: true})
	cutOff := int64(o.TripAfter) + o.Bulkhead - 1 // the bound with working breakers
	o.TripAfter = 1_000_000
	var out bytes.Buffer
	r, err := run(t.Context(), &out, o)
	require.NoError(t, err)
	t.Log("\n" + out.String())
	d := backendNamed(t, r, "dead")
	require.Equal(t, breaker.StateClosed, d.State)
	require.Greater(t, d.Attempts, 5*cutOff,
		"the dead backend got few calls even without breakers: the cut-off test proves little")
}

// TestHalfOpenProbesAreBounded uses a short open period, so the dead
// backend's breaker half-opens again and again during the run, each time
// admitting up to HalfOpenProbes probes that fail and reopen it.
func TestHalfOpenProbesAreBounded(t *testing.T) {
	o := testOptions(backendSpec{Name: "dead", Dead: true})
	o.OpenDuration = 2 * time.Millisecond
	o.MaxOpenDuration = 10 * time.Millisecond
	o.HalfOpenProbes = 2
	var out bytes.Buffer
	r, err := run(t.Context(), &out, o)
	require.NoError(t, err)
	t.Log("\n" + out.String())

	d := backendNamed(t, r, "dead")
	// The dead backend's breaker only ever goes closed -> open, then
	// alternates open -> half-open -> open.
	var seq []transition
	for _, tr := range r.Transitions {
		if tr.Backend == "dead" {
			seq = append(seq, tr)
		}
	}
	require.NotEmpty(t, seq)
	require.Equal(t, breaker.StateClosed, seq[0].From)
	for i, tr := range seq {
		if i%2 == 0 {
			require.Equal(t, breaker.StateOpen, tr.To, "transition %d: %v", i, tr)
		} else {
			require.Equal(t, breaker.StateOpen, tr.From, "transition %d: %v", i, tr)
			require.Equal(t, breaker.StateHalfOpen, tr.To, "transition %d: %v", i, tr)
		}
	}
	// Each half-open period admits at most HalfOpenProbes calls; the first
	// failure reopens the breaker. The periods are counted from the
	// breaker's own transition counter, which it bumps before admitting a
	// probe: closed -> open, then open -> half-open -> open repeated, so
	// the breaker half-opened Changes/2 times. (The hook log may lag behind
	// it for a change that a timer goroutine is still delivering.)
	halfOpens := int(d.Changes / 2)
	require.LessOrEqual(t, d.HalfOpens, halfOpens)
	require.Positive(t, halfOpens, "the open period never elapsed")
	bound := int64(o.TripAfter) + o.Bulkhead - 1 + int64(o.HalfOpenProbes*halfOpens)
	require.LessOrEqual(t, d.Attempts, bound)
	requireCommonBounds(t, o, r)
	require.GreaterOrEqual(t, float64(r.Successes), 0.99*float64(r.Requests))
}

// TestBudgetBoundsRetriesInABrownout makes every backend fail half its
// answers and keeps the breakers from tripping, so the client wants to
// retry far more than the budget allows: about 0.875 retries per request
// with four attempts. The budget must refuse the excess.
func TestBudgetBoundsRetriesInABrownout(t *testing.T) {
	for _, budget := range []string{"ratio", "bucket"} {
		t.Run(budget, func(t *testing.T) {
			o := defaultOptions()
			o.Backends = []backendSpec{
				{Name: "a", FailRate: 0.5},
				{Name: "b", FailRate: 0.5},
				{Name: "c", FailRate: 0.5},
			}
			o.Requests = 300
			o.Callers = 16
			o.Bulkhead = 6
			o.Seed = 7
			o.TripAfter = 1_000_000 // never trips: the budget alone limits retries
			o.Budget = budget
			o.RatioPercent = 0.1
			o.RatioFloor = 1
			o.BucketTokens = 20
			o.BucketRatio = 0.1
			var out bytes.Buffer
			r, err := run(t.Context(), &out, o)
			require.NoError(t, err)
			t.Log("\n" + out.String())

			requireCommonBounds(t, o, r)
			require.Positive(t, r.FailedBudget, "the budget never refused a retry")
			if budget == "ratio" {
				// The ratio budget refuses only what exceeds its bound,
				// and demand exceeds it throughout, so most of the bound
				// is used. (gRPC's bucket instead takes a token for every
				// failure, refused retries included, so under a 50%
				// failure rate it stays below half full and grants few.)
				require.GreaterOrEqual(t, float64(r.Retries), r.RetryBound/2)
			}
		})
	}
}

// TestDefaultScenario runs what main runs, with fewer requests and the
// breakers' open period longer than the run.
func TestDefaultScenario(t *testing.T) {
	o := defaultOptions()
	o.Requests = 300
	o.OpenDuration = time.Minute
	var out bytes.Buffer
	r, err := run(t.Context(), &out, o)
	require.NoError(t, err)
	t.Log("\n" + out.String())
	for _, want := range []string{"backend", "breaker transitions:", "e: closed -> open", "retries:", "succeeded:"} {
		require.Contains(t, out.String(), want)
	}
	require.Equal(t, breaker.StateOpen, backendNamed(t, r, "e").State)
	requireCommonBounds(t, o, r)
	require.GreaterOrEqual(t, float64(r.Successes), 0.99*float64(r.Requests))
}

func TestInvalidOptions(t *testing.T) {
	var out bytes.Buffer
	o := testOptions(backendSpec{Name: "a"})
	_, err := run(t.Context(), &out, o)
	require.ErrorContains(t, err, "repeated")

	o = testOptions(backendSpec{Name: "dead", Dead: true})
	o.Budget = "unlimited"
	_, err = run(t.Context(), &out, o)
	require.ErrorContains(t, err, "unknown budget")

	o.Requests = 0
	_, err = run(t.Context(), &out, o)
	require.Error(t, err)
}

// TestRunStopsWhenContextEnds checks that run gives up promptly, cleanly
// and with the context's error when its context has ended.
func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out bytes.Buffer
	r, err := run(ctx, &out, testOptions(backendSpec{Name: "dead", Dead: true}))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, r.Requests)
	require.Contains(t, out.String(), "0 requests")
}
