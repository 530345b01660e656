package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/balancer"
	"github.com/distkit/distkit/breaker"
	"github.com/distkit/distkit/retry"
	"golang.org/x/sync/semaphore"
)

// errNoBackend is returned when no backend will take a call: the balancer
// has every endpoint marked down, or every breaker it offered refused.
var errNoBackend = errors.New("resilientclient: no backend available")

// statusError is a response other than 200 OK.
type statusError struct{ Code int }

func (e *statusError) Error() string { return fmt.Sprintf("http status %d", e.Code) }

// classify tells each breaker what counts against its backend. A 4xx
// answer (other than 429 Too Many Requests) means the backend is up and
// working, and the request was wrong, so it must not trip the breaker. The
// rest falls back to breaker.DefaultClassify, which counts every error as a
// failure except context.Canceled: a caller giving up says nothing about the
// backend.
func classify(err error) breaker.Outcome {
	var se *statusError
	if errors.As(err, &se) && se.Code < 500 && se.Code != http.StatusTooManyRequests {
		return breaker.Success
	}
	return breaker.DefaultClassify(err)
}

// transition is one state change of one backend's breaker.
type transition struct {
	At       time.Duration // since the client was created
	Backend  string
	From, To breaker.State
}

// endpoint is one backend as the client sees it: its address, its breaker
// and what happened to the calls sent to it.
type endpoint struct {
	name     string
	url      string
	breaker  *breaker.Breaker
	attempts atomic.Int64 // HTTP requests sent
	failed   atomic.Int64 // of which failed
	rejected atomic.Int64 // calls its breaker refused: they never reached the network
}

// clientConfig configures a client. Every field must be set; run fills it
// from the command line's options.
type clientConfig struct {
	Backends map[string]string // endpoint name -> base URL
	Order    []string          // endpoint names in report order
	Seed     uint64            // seeds the balancer's random choices
	Bulkhead int64             // the most HTTP attempts in flight at once

	Breaker breaker.Config // template for every backend's breaker (OnStateChange is set per backend)
	Retry   retry.Config   // MaxAttempts, Backoff, Budget, AttemptTimeout (OnRetry is set by the client)
}

// client sends GET requests to a set of interchangeable backends. Each
// request goes through these layers, outermost first:
//
//	retry     retries a failed attempt after a decorrelated-jitter wait,
//	          while the retry budget shared by all requests allows it;
//	bulkhead  holds each attempt until fewer than Bulkhead are in flight;
//	balancer  picks a backend by power of two choices;
//	breaker   the backend's breaker admits the call, or refuses it at
//	          once when the backend keeps failing;
//	HTTP      the request itself.
//
// The breakers and the balancer are tied by the breakers' state-change
// hook: a breaker that opens marks its backend down in the balancer, so it
// is no longer picked, and one that goes half-open marks it up again so a
// probe can reach it. The hook runs outside the breaker's locks, which is
// what makes calling into the balancer (or logging, or the breaker itself)
// from it safe.
type client struct {
	http      *http.Client
	balancer  *balancer.Balancer
	endpoints map[string]*endpoint
	order     []string
	retrier   *retry.Retrier
	bulkhead  *semaphore.Weighted
	start     time.Time

	inFlight    atomic.Int64 // attempts inside the bulkhead
	maxInFlight atomic.Int64 // the most ever seen at once
	retries     atomic.Int64 // retries the retrier made (budget granted)

	mu          sync.Mutex
	transitions []transition
}

// newClient builds the balancer, one breaker per backend and the retrier.
// It starts no goroutine; Close releases the idle connections.
func newClient(cfg clientConfig) (*client, error) {
	// Start from the default transport's dial and TLS timeouts. Keep as many
	// idle connections per backend as attempts can be in flight, or each
	// burst opens (and leaves in TIME_WAIT) new connections: the default
	// keeps only 2.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = int(cfg.Bulkhead)
	c := &client{
		http:      &http.Client{Transport: transport},
		endpoints: make(map[string]*endpoint, len(cfg.Order)),
		order:     cfg.Order,
		bulkhead:  semaphore.NewWeighted(cfg.Bulkhead),
		start:     time.Now(),
	}
	eps := make([]balancer.Endpoint, 0, len(cfg.Order))
	for _, name := range cfg.Order {
		eps = append(eps, balancer.Endpoint{Name: name})
	}
	var err error
	c.balancer, err = balancer.New(balancer.Config{
		Policy:    balancer.PowerOfTwoChoices,
		Endpoints: eps,
		Seed:      cfg.Seed,
		// A failed call counts as this slow, so a backend that fails fast
		// does not look fast. The default (1 s) would keep a backend that
		// failed once out of the rotation for most of a short run; a few
		// milliseconds is "clearly worse than a healthy loopback call".
		FailureLatency: 5 * time.Millisecond,
		// How quickly a penalised backend's cost decays back, so that it is
		// tried again. Finagle's 10 s suits long-lived services; this short
		// demo needs it faster.
		DecayTime: 250 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.Order {
		ep := &endpoint{name: name, url: cfg.Backends[name]}
		bcfg := cfg.Breaker
		bcfg.Name = name
		bcfg.Classify = classify
		bcfg.OnStateChange = func(from, to breaker.State) { c.onStateChange(name, from, to) }
		if ep.breaker, err = breaker.New(bcfg); err != nil {
			return nil, err
		}
		c.endpoints[name] = ep
	}
	rcfg := cfg.Retry
	rcfg.OnRetry = func(int, error, time.Duration) { c.retries.Add(1) }
	if c.retrier, err = retry.New(rcfg); err != nil {
		return nil, err
	}
	return c, nil
}

// onStateChange is every breaker's hook. The breaker delivers one backend's
// changes one at a time and in order, so the last SetHealthy call always
// matches the breaker's latest state.
func (c *client) onStateChange(name string, from, to breaker.State) {
	// Record first: a half-open backend is only picked once SetHealthy
	// below has marked it up, so every half-open period that admitted a
	// probe is in the log by the time that probe returns.
	c.mu.Lock()
	c.transitions = append(c.transitions, transition{At: time.Since(c.start), Backend: name, From: from, To: to})
	c.mu.Unlock()
	up := to != breaker.StateOpen && to != breaker.StateForcedOpen
	// SetHealthy fails only for an unknown name, and every breaker is named
	// after an endpoint.
	_ = c.balancer.SetHealthy(name, up)
}

// Get fetches path from some backend, with retries. It returns the body of
// the first successful attempt, or a *retry.Error telling why it gave up.
func (c *client) Get(ctx context.Context, path string) (string, error) {
	return retry.DoValue(ctx, c.retrier, func(ctx context.Context) (string, error) {
		return c.attempt(ctx, path)
	})
}

// attempt makes one HTTP attempt through the bulkhead, the balancer and a
// breaker.
func (c *client) attempt(ctx context.Context, path string) (string, error) {
	// The bulkhead: wait for a slot, or give up when the request's context
	// ends. It bounds the load this client puts on the backends (and the
	// sockets and goroutines it uses) however many callers pile up behind.
	if err := c.bulkhead.Acquire(ctx, 1); err != nil {
		return "", err
	}
	defer c.bulkhead.Release(1)
	c.enter()
	defer c.inFlight.Add(-1)

	p, tok, err := c.admit()
	if err != nil {
		// Every backend is down or refusing: fail at once rather than spend
		// the retry budget waiting for a breaker to half-open. That is what
		// the breakers are for.
		return "", retry.Permanent(fmt.Errorf("%w: %w", errNoBackend, err))
	}
	ep := c.endpoints[p.Endpoint]
	ep.attempts.Add(1)
	start := time.Now()
	body, err := c.get(ctx, ep.url+path)
	// Report the outcome to both: the breaker counts it toward tripping, the
	// balancer folds the latency into the backend's cost.
	tok.Done(err)
	c.balancer.Done(p, time.Since(start), err)
	if err != nil {
		ep.failed.Add(1)
		return "", fmt.Errorf("%s: %w", p.Endpoint, err)
	}
	return body, nil
}

// admit picks a backend and asks its breaker to admit the call. A breaker
// refusal costs no network call, so instead of spending a retry on it admit
// picks again, at most once per backend. Refusals are rare: only a call
// picked between a breaker opening and its hook marking the backend down, or
// a second call to a half-open backend whose probe slots are taken, is
// refused.
func (c *client) admit() (balancer.Pick, breaker.Token, error) {
	var err error
	for range len(c.order) {
		var p balancer.Pick
		if p, err = c.balancer.Pick(""); err != nil {
			return p, breaker.Token{}, err
		}
		ep := c.endpoints[p.Endpoint]
		var tok breaker.Token
		if tok, err = ep.breaker.Allow(); err == nil {
			return p, tok, nil
		}
		ep.rejected.Add(1)
		// Every Pick needs exactly one Done or Cancel. No request went
		// out, so Cancel releases the pick without a latency sample;
		// the breaker's hook already marks an open backend down.
		c.balancer.Cancel(p)
	}
	return balancer.Pick{}, breaker.Token{}, err
}

// get sends one GET and returns the body of a 200 answer.
func (c *client) get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", retry.Permanent(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err // connection refused, reset, timeout: worth retrying elsewhere
	}
	defer resp.Body.Close()
	// Read the whole (small) body even on errors, so the connection can be
	// reused.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return string(body), nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", &statusError{Code: resp.StatusCode}
	default:
		// Another backend would answer the same: do not retry.
		return "", retry.Permanent(&statusError{Code: resp.StatusCode})
	}
}

// enter counts an attempt into the bulkhead and keeps the maximum.
func (c *client) enter() {
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			return
		}
	}
}

// Transitions returns the breaker state changes so far, oldest first.
func (c *client) Transitions() []transition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]transition(nil), c.transitions...)
}

// Close stops the breakers' timers, so no state-change hook runs after it,
// and releases the client's idle connections.
func (c *client) Close() {
	for _, ep := range c.endpoints {
		ep.breaker.Close()
	}
	c.http.CloseIdleConnections()
}
