package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/distkit/distkit/raft"
)

// server is one node's HTTP API. The node behind it can be stopped and
// started again (the in-process demo's /admin endpoints do that); while it
// is stopped every request gets 503.
type server struct {
	id      raft.NodeID
	timeout time.Duration // bound on one request's wait for the cluster

	mu  sync.Mutex
	rep *replica // nil while stopped
}

func (s *server) replica() *replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rep
}

// handler serves the API:
//
//	PUT    /keys/{key}              set key to the request body
//	GET    /keys/{key}              the value, read linearizably
//	GET    /keys/{key}?stale=true   the value in this node's copy, maybe stale
//	DELETE /keys/{key}              delete key
//	GET    /status                  the node's raft status as JSON
//
// Any node accepts writes: a follower forwards them to the leader.
func (s *server) handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /keys/{key}", s.withReplica(s.put))
	mux.HandleFunc("GET /keys/{key}", s.withReplica(s.get))
	mux.HandleFunc("DELETE /keys/{key}", s.withReplica(s.delete))
	mux.HandleFunc("GET /status", s.status)
	return mux
}

// withReplica bounds the request's time, checks the key, and hands the
// running replica to h.
func (s *server) withReplica(h func(context.Context, *replica, string, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if len(key) > maxKeyLen {
			http.Error(w, fmt.Sprintf("key longer than %d bytes", maxKeyLen), http.StatusBadRequest)
			return
		}
		rep := s.replica()
		if rep == nil {
			http.Error(w, "node "+string(s.id)+" is stopped", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		h(ctx, rep, key, w, r)
	}
}

func (s *server) put(ctx context.Context, rep *replica, key string, w http.ResponseWriter, r *http.Request) {
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueLen))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("value longer than %d bytes", maxValueLen), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "reading the value: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := rep.write(ctx, command{Op: opPut, Key: key, Value: string(value)}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) delete(ctx context.Context, rep *replica, key string, w http.ResponseWriter, r *http.Request) {
	if err := rep.write(ctx, command{Op: opDelete, Key: key}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) get(ctx context.Context, rep *replica, key string, w http.ResponseWriter, r *http.Request) {
	stale := false
	if q := r.URL.Query().Get("stale"); q != "" {
		var err error
		if stale, err = strconv.ParseBool(q); err != nil {
			http.Error(w, "stale must be true or false", http.StatusBadRequest)
			return
		}
	}
	v, ok, err := rep.read(ctx, key, stale)
	if err != nil {
		writeError(w, err)
		return
	}
	if !ok {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = io.WriteString(w, v)
}

// statusView is what GET /status returns: the node's raft.NodeStatus with
// its role spelled out, and how many keys the node's copy holds.
type statusView struct {
	ID        raft.NodeID `json:"id"`
	Role      string      `json:"role"`
	Term      uint64      `json:"term"`
	Leader    raft.NodeID `json:"leader"`
	Commit    uint64      `json:"commit"`
	Applied   uint64      `json:"applied"`
	LastIndex uint64      `json:"last_index"`
	Keys      int         `json:"keys"`
	// Progress is the leader's view of each node's replication; only the
	// leader has it.
	Progress []raft.PeerProgress `json:"progress,omitempty"`
	Stopped  bool                `json:"stopped,omitempty"`
	Err      string              `json:"error,omitempty"`
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	v := statusView{ID: s.id, Role: "stopped", Stopped: true}
	if rep := s.replica(); rep != nil {
		st := rep.node.Status()
		v = statusView{
			ID: st.ID, Role: st.Role.String(), Term: st.Term, Leader: st.Leader,
			Commit: st.Commit, Applied: st.Applied, LastIndex: st.LastIndex,
			Keys: rep.store.Len(), Progress: st.Progress, Stopped: st.Stopped,
		}
		if st.Err != nil {
			v.Err = st.Err.Error()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError maps a failed call to an HTTP status: 503 when the cluster
// could not serve the request in time (no leader, no quorum, node stopped),
// 504 when the request's time ran out while it waited for an answer. After either, a write
// may or may not have been applied (a proposal can commit after its caller
// gave up); only a 2xx means it was. PUT and DELETE are idempotent, so a
// client retries them.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = http.StatusGatewayTimeout
	case retryable(err), errors.Is(err, raft.ErrOutcomeUnknown), errors.Is(err, raft.ErrStopped):
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, errCorrupt):
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}
