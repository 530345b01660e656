package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// backendSpec describes how one test backend misbehaves. The zero spec is a
// healthy, fast backend.
type backendSpec struct {
	// Name labels the backend in the report.
	Name string
	// FailRate is the probability, in [0, 1], that a request fails with
	// 503. The draws come from a generator seeded per backend, so the n-th
	// request a backend serves fails or not identically in every run.
	FailRate float64
	// DownFor makes every request fail with 503 until DownFor has passed
	// since the backend started, as while a process restarts or warms up;
	// after that FailRate applies.
	DownFor time.Duration
	// Latency is added to every response, so the balancer has something to
	// steer by.
	Latency time.Duration
	// Dead makes every request fail with 503: a backend that accepts
	// connections but cannot serve, such as one that lost its database.
	Dead bool
	// Closed shuts the server down before the run starts, so every
	// connection is refused: a crashed process.
	Closed bool
}

// describe returns a few words about the spec for the report.
func (s backendSpec) describe() string {
	switch {
	case s.Closed:
		return "crashed (connection refused)"
	case s.Dead:
		return "dead (always 503)"
	}
	var parts []string
	if s.DownFor > 0 {
		parts = append(parts, fmt.Sprintf("down for the first %v", s.DownFor))
	}
	if s.FailRate > 0 {
		parts = append(parts, fmt.Sprintf("fails %g%%", 100*s.FailRate))
	}
	if s.Latency > 0 {
		parts = append(parts, fmt.Sprintf("+%v", s.Latency))
	}
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, ", ")
}

// backend is one flaky HTTP server on the loopback interface.
type backend struct {
	spec   backendSpec
	srv    *httptest.Server
	upAt   time.Time    // end of DownFor
	served atomic.Int64 // requests that reached the handler

	mu  sync.Mutex // guards rng: draws happen in arrival order
	rng *rand.Rand
}

// startBackend starts a server for spec. Its failures are drawn from a PCG
// generator seeded with (seed, index), so each backend has its own fixed
// sequence of outcomes.
func startBackend(spec backendSpec, seed uint64, index int) *backend {
	b := &backend{
		spec: spec,
		upAt: time.Now().Add(spec.DownFor),
		rng:  rand.New(rand.NewPCG(seed, uint64(index))),
	}
	// httptest.NewServer listens on 127.0.0.1 on a free port.
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	if spec.Closed {
		// Keep the URL and close the listener: connections are refused
		// from now on (unless the OS hands the port to someone else,
		// which it does not do within a short run).
		b.srv.Close()
	}
	return b
}

// URL returns the server's base URL, such as http://127.0.0.1:41234.
func (b *backend) URL() string { return b.srv.URL }

// Close stops the server. It waits for requests in flight to finish.
func (b *backend) Close() {
	if !b.spec.Closed {
		b.srv.Close()
	}
}

// fail decides whether the current request fails.
func (b *backend) fail() bool {
	b.mu.Lock()
	draw := b.rng.Float64() // drawn for every request, so the sequence of draws never changes
	b.mu.Unlock()
	return b.spec.Dead || time.Now().Before(b.upAt) || draw < b.spec.FailRate
}

// serve answers GET /item/ID with "ID from NAME", or 503.
func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.served.Add(1)
	if b.spec.Latency > 0 {
		// Wait without holding up shutdown: the request's context ends when
		// the client goes away.
		t := time.NewTimer(b.spec.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if b.fail() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/item/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = io.WriteString(w, id+" from "+b.spec.Name)
}
