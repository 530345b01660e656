// Command resilientclient is an HTTP client that keeps working while its
// backends misbehave. It starts several flaky backends on the loopback
// interface (one of them crashed), sends them a few thousand requests from
// many goroutines, and prints what each layer of the client did:
//
//   - package balancer spreads the attempts by power of two choices;
//   - package breaker gives each backend a circuit breaker, whose
//     state-change hook takes the backend out of the balancer while it is
//     open;
//   - package retry retries failed attempts after a decorrelated-jitter
//     wait, within a retry budget shared by all requests, so retries cannot
//     multiply the load when everything fails;
//   - golang.org/x/sync/semaphore is a bulkhead that caps the attempts in
//     flight.
//
// Run it with
//
//	go run ./examples/resilientclient
//	go run ./examples/resilientclient -requests 10000 -open 1m -budget bucket
//
// The code to copy is client.go; backends.go fakes the fleet and this file
// wires them together and prints the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/breaker"
	"github.com/distkit/distkit/retry"
)

func main() {
	opts := defaultOptions()
	flag.IntVar(&opts.Requests, "requests", opts.Requests, "requests to send")
	flag.IntVar(&opts.Callers, "callers", opts.Callers, "goroutines sending them")
	flag.Int64Var(&opts.Bulkhead, "bulkhead", opts.Bulkhead, "most HTTP attempts in flight at once")
	flag.Uint64Var(&opts.Seed, "seed", opts.Seed, "seed of the backends' failures and the balancer's choices")
	flag.DurationVar(&opts.OpenDuration, "open", opts.OpenDuration, "how long a breaker stays open after it trips (doubles after each failed probe)")
	flag.StringVar(&opts.Budget, "budget", opts.Budget, `retry budget: "ratio" (Finagle) or "bucket" (gRPC)`)
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// options are the knobs of one run.
type options struct {
	Backends []backendSpec
	Requests int    // requests to send in total
	Callers  int    // goroutines sending them; more than Bulkhead, so callers queue
	Bulkhead int64  // most HTTP attempts in flight at once
	Seed     uint64 // seeds the backends' failures and the balancer

	TripAfter       int           // consecutive failures that open a breaker
	OpenDuration    time.Duration // first open period
	MaxOpenDuration time.Duration // cap of the open period, which doubles after each failed probe
	HalfOpenProbes  int           // probes admitted at once while half-open

	MaxAttempts    int           // attempts per request, the first included
	BackoffBase    time.Duration // decorrelated jitter: first wait, and the least wait
	BackoffCap     time.Duration // decorrelated jitter: the longest wait
	AttemptTimeout time.Duration // bound on each HTTP attempt

	Budget       string        // "ratio" or "bucket"
	RatioPercent float64       // ratio budget: retries allowed per request
	RatioFloor   int           // ratio budget: retries allowed per second regardless of traffic
	RatioTTL     time.Duration // ratio budget: window over which the two are counted
	BucketTokens float64       // token bucket: size; retries stop below half
	BucketRatio  float64       // token bucket: tokens a success puts back
}

// defaultOptions is the scenario main runs: five backends, three flaky (one
// of them slow), one restarting and one crashed.
func defaultOptions() options {
	return options{
		Backends: []backendSpec{
			{Name: "a", FailRate: 0.05},
			{Name: "b", FailRate: 0.10},
			{Name: "c", FailRate: 0.05, Latency: 2 * time.Millisecond},
			{Name: "d", DownFor: 100 * time.Millisecond},
			{Name: "e", Closed: true},
		},
		Requests: 3000,
		Callers:  32,
		Bulkhead: 8,
		Seed:     1,

		TripAfter:       5,
		OpenDuration:    20 * time.Millisecond,
		MaxOpenDuration: time.Second,
		HalfOpenProbes:  1,

		MaxAttempts:    4,
		BackoffBase:    time.Millisecond,
		BackoffCap:     8 * time.Millisecond,
		AttemptTimeout: time.Second,

		Budget:       "ratio",
		RatioPercent: 0.2,
		RatioFloor:   10,
		RatioTTL:     10 * time.Second,
		BucketTokens: 100,
		BucketRatio:  0.1,
	}
}

// report is what happened in one run.
type report struct {
	Requests  int
	Successes int
	Failures  int // Requests - Successes, broken down below
	// Why the failed requests gave up.
	FailedBudget    int // a retry was refused by the budget
	FailedNoBackend int // no backend would take the call
	FailedAttempts  int // every allowed attempt failed
	FailedOther     int // the context ended, or an unexpected answer

	Retries     int64   // retries made
	RetryBound  float64 // the most the budget could have allowed
	BoundText   string  // how RetryBound was computed
	MaxInFlight int64   // the most attempts ever inside the bulkhead
	Bulkhead    int64
	Elapsed     time.Duration

	Backends    []backendReport
	Transitions []transition
}

// backendReport is what happened to one backend.
type backendReport struct {
	Name      string
	Behaviour string
	Attempts  int64 // HTTP requests the client sent it
	Served    int64 // requests that reached its handler (0 when crashed)
	Failed    int64 // attempts that failed
	Rejected  int64 // calls its breaker refused before they reached the network
	State     breaker.State
	HalfOpens int    // times its breaker went half-open, from the client's log
	Changes   uint64 // state changes its breaker counted (breaker.Metrics.Transitions)
}

// run starts the backends, sends opts.Requests requests through a client
// from opts.Callers goroutines, prints a report to out and returns it.
func run(ctx context.Context, out io.Writer, opts options) (report, error) {
	var rep report
	if len(opts.Backends) == 0 || opts.Requests <= 0 || opts.Callers <= 0 || opts.Bulkhead <= 0 {
		return rep, errors.New("resilientclient: need backends, requests, callers and a bulkhead")
	}
	backends := make([]*backend, len(opts.Backends))
	urls := make(map[string]string, len(backends))
	order := make([]string, len(backends))
	for i, spec := range opts.Backends {
		if _, dup := urls[spec.Name]; dup || spec.Name == "" {
			return rep, fmt.Errorf("resilientclient: backend name %q empty or repeated", spec.Name)
		}
		backends[i] = startBackend(spec, opts.Seed, i)
		defer backends[i].Close()
		urls[spec.Name] = backends[i].URL()
		order[i] = spec.Name
	}

	// Elapsed counts from before the budget exists, so that a run shorter
	// than the ratio budget's TTL is certainly inside its first window.
	start := time.Now()
	budget, bound, err := newBudget(opts)
	if err != nil {
		return rep, err
	}
	c, err := newClient(clientConfig{
		Backends: urls,
		Order:    order,
		Seed:     opts.Seed,
		Bulkhead: opts.Bulkhead,
		Breaker: breaker.Config{
			ConsecutiveFailures: opts.TripAfter,
			OpenDuration:        opts.OpenDuration,
			MaxOpenDuration:     max(opts.MaxOpenDuration, opts.OpenDuration),
			HalfOpenProbes:      opts.HalfOpenProbes,
		},
		Retry: retry.Config{
			MaxAttempts:    opts.MaxAttempts,
			Backoff:        retry.Decorrelated(opts.BackoffBase, opts.BackoffCap),
			AttemptTimeout: opts.AttemptTimeout,
			Budget:         budget,
		},
	})
	if err != nil {
		return rep, err
	}
	defer c.Close()

	// The callers share a counter of requests to send, so each request
	// is sent exactly once whatever the scheduling.
	var (
		next, sent                               atomic.Int64
		ok, noBackend, budgetOut, attempts, misc atomic.Int64
		wg                                       sync.WaitGroup
	)
	for range opts.Callers {
		wg.Go(func() {
			for {
				id := next.Add(1) - 1
				if id >= int64(opts.Requests) || ctx.Err() != nil {
					return
				}
				sent.Add(1)
				body, err := c.Get(ctx, fmt.Sprintf("/item/%d", id))
				switch {
				case err == nil && strings.HasPrefix(body, fmt.Sprintf("%d from ", id)):
					ok.Add(1)
				case errors.Is(err, retry.ErrBudgetExhausted):
					budgetOut.Add(1)
				case errors.Is(err, errNoBackend):
					noBackend.Add(1)
				case errors.Is(err, retry.ErrAttemptsExhausted):
					attempts.Add(1)
				default:
					misc.Add(1)
				}
			}
		})
	}
	wg.Wait()

	rep = report{
		Requests:        int(sent.Load()),
		Successes:       int(ok.Load()),
		FailedBudget:    int(budgetOut.Load()),
		FailedNoBackend: int(noBackend.Load()),
		FailedAttempts:  int(attempts.Load()),
		FailedOther:     int(misc.Load()),
		Retries:         c.retries.Load(),
		MaxInFlight:     c.maxInFlight.Load(),
		Bulkhead:        opts.Bulkhead,
		Elapsed:         time.Since(start),
		Transitions:     c.Transitions(),
	}
	rep.Failures = rep.Requests - rep.Successes
	rep.RetryBound, rep.BoundText = bound(rep)
	for i, name := range order {
		ep := c.endpoints[name]
		br := backendReport{
			Name:      name,
			Behaviour: opts.Backends[i].describe(),
			Attempts:  ep.attempts.Load(),
			Served:    backends[i].served.Load(),
			Failed:    ep.failed.Load(),
			Rejected:  ep.rejected.Load(),
			State:     ep.breaker.State(),
			Changes:   ep.breaker.Metrics().Transitions,
		}
		for _, t := range rep.Transitions {
			if t.Backend == name && t.To == breaker.StateHalfOpen {
				br.HalfOpens++
			}
		}
		rep.Backends = append(rep.Backends, br)
	}
	printReport(out, rep)
	return rep, ctx.Err()
}

// newBudget builds the retry budget opts asks for, and a function giving
// the most retries it can allow in a run, with the formula spelled out.
func newBudget(opts options) (retry.Budget, func(report) (float64, string), error) {
	switch opts.Budget {
	case "ratio", "":
		b, err := retry.NewRatioBudget(retry.RatioBudgetConfig{
			Percent:      opts.RatioPercent,
			MinPerSecond: opts.RatioFloor,
			TTL:          opts.RatioTTL,
		})
		bound := func(r report) (float64, string) {
			// Within one TTL window no request expires from the budget,
			// so for a run shorter than the TTL the guarantee covers the
			// whole run. A longer run gets this much per window.
			floor := float64(opts.RatioFloor) * opts.RatioTTL.Seconds()
			v := opts.RatioPercent*float64(r.Requests) + floor
			text := fmt.Sprintf("ratio budget: %g x %d requests + %d/s x %v",
				opts.RatioPercent, r.Requests, opts.RatioFloor, opts.RatioTTL)
			if r.Elapsed >= opts.RatioTTL {
				text += fmt.Sprintf(", per %v window; this run was longer", opts.RatioTTL)
			}
			return v, text
		}
		return b, bound, err
	case "bucket":
		b, err := retry.NewTokenBucket(retry.TokenBucketConfig{
			MaxTokens:  opts.BucketTokens,
			TokenRatio: opts.BucketRatio,
		})
		bound := func(r report) (float64, string) {
			// Every granted retry takes one token and must leave more than
			// half the bucket; only successes put tokens back, so retries
			// stay below MaxTokens/2 + TokenRatio x successes.
			v := opts.BucketTokens/2 + opts.BucketRatio*float64(r.Successes)
			return v, fmt.Sprintf("token bucket: %g/2 + %g x %d successes",
				opts.BucketTokens, opts.BucketRatio, r.Successes)
		}
		return b, bound, err
	default:
		return nil, nil, fmt.Errorf("resilientclient: unknown budget %q (want ratio or bucket)", opts.Budget)
	}
}

// printReport writes r as a few readable tables.
func printReport(out io.Writer, r report) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	p("%d requests in %v, bulkhead of %d (at most %d attempts were in flight at once)\n\n",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Bulkhead, r.MaxInFlight)

	p("%-8s %-28s %8s %8s %8s %8s  %s\n", "backend", "behaviour", "attempts", "served", "failed", "refused", "breaker")
	for _, b := range r.Backends {
		p("%-8s %-28s %8d %8d %8d %8d  %v\n", b.Name, b.Behaviour, b.Attempts, b.Served, b.Failed, b.Rejected, b.State)
	}
	p("(refused: calls the breaker turned away before they reached the network)\n\n")

	p("breaker transitions:\n")
	if len(r.Transitions) == 0 {
		p("  none\n")
	}
	// A short open period and a long run make many transitions; the first
	// ones tell the story.
	const maxShown = 24
	for i, t := range r.Transitions {
		if i == maxShown {
			p("  ... and %d more\n", len(r.Transitions)-maxShown)
			break
		}
		p("  %8v  %s: %v -> %v\n", t.At.Round(100*time.Microsecond), t.Backend, t.From, t.To)
	}

	p("\nretries: %d, refused by the budget: %d (the %s allows at most %.0f)\n",
		r.Retries, r.FailedBudget, r.BoundText, r.RetryBound)
	p("succeeded: %d of %d (%.2f%%)\n", r.Successes, r.Requests, 100*float64(r.Successes)/float64(max(r.Requests, 1)))
	p("failed: %d (retry refused by the budget %d, every attempt failed %d, no backend available %d, other %d)\n",
		r.Failures, r.FailedBudget, r.FailedAttempts, r.FailedNoBackend, r.FailedOther)
}
