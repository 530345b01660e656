package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport/tcpnet"
)

// replicaConfig says how to start one node of the store.
type replicaConfig struct {
	ID        raft.NodeID
	Voters    []raft.NodeID     // every node of the cluster, this one included
	Dir       string            // the node's data directory: its WAL and snapshots
	Transport *tcpnet.Transport // the replica owns it from then on and closes it
	Metrics   raft.Metrics      // optional
	Logger    *slog.Logger      // nil is silent

	// SnapshotEntries is how many entries a node applies between
	// snapshots, and how many it keeps in its log behind one. Zero means
	// raft's defaults (10000 and 1024); the test makes it small so that
	// snapshots are taken, restored and sent to a node that fell behind.
	SnapshotEntries uint64
}

// replica is one running node of the store: the state machine, the raft.Node
// that feeds it, and what the node runs on.
type replica struct {
	store   *Store
	node    *raft.Node
	storage *raft.WALStorage
	tr      *tcpnet.Transport

	// sessions are the client sessions not in use (see write).
	mu       sync.Mutex
	sessions []*session
}

// session is one client of the node's session table: it makes one request
// at a time, numbered 1, 2, 3, ... (raft.Node.ProposeSession).
type session struct {
	client, seq uint64
}

// startReplica opens the data directory and starts the node. A directory
// that already holds a log resumes from it: the node restores the store from
// the latest snapshot and applies the entries after it again.
func startReplica(cfg replicaConfig) (*replica, error) {
	storage, err := raft.OpenWALStorage(wal.Config{Dir: cfg.Dir, Logger: cfg.Logger})
	if err != nil {
		_ = cfg.Transport.Close()
		return nil, err
	}
	r := &replica{store: newStore(), storage: storage, tr: cfg.Transport}
	r.node, err = raft.NewNode(raft.NodeConfig{
		Raft: raft.Config{
			ID:     cfg.ID,
			Voters: cfg.Voters,
			// Each node draws its own seed so that election timeouts differ.
			Seed:            rand.Uint64(),
			SnapshotEntries: cfg.SnapshotEntries,
			Logger:          cfg.Logger,
		},
		SnapshotKeepEntries: cfg.SnapshotEntries,
		Transport:           cfg.Transport,
		Storage:             storage,
		StateMachine:        r.store,
		Sessions:            true,
		Metrics:             cfg.Metrics,
		Logger:              cfg.Logger,
	})
	if err == nil {
		err = r.node.Start()
	}
	if err != nil {
		return nil, errors.Join(err, r.close())
	}
	return r, nil
}

// close stops the node, then closes what it ran on: the node does not close
// its Transport or Storage, since the caller owns them.
func (r *replica) close() error {
	var err error
	if r.node != nil {
		err = r.node.Close()
	}
	return errors.Join(err, r.tr.Close(), r.storage.Close())
}

// retryable reports whether a failed call may succeed if made again soon:
// no leader is known (an election is under way, or the node has heard from
// no leader for an election timeout, ErrQuorumLost), or the leader is busy.
// A failover looks like a lost quorum until the new leader is elected, so
// retrying rides it out; when the quorum is really gone, the request fails
// at its deadline. Other errors are final: the node stopped, or the
// request's time ran out.
func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrQuorumLost) ||
		errors.Is(err, raft.ErrProposalDropped) ||
		errors.Is(err, raft.ErrTransferInProgress)
}

// retry calls f until it succeeds, fails for good (again says which errors
// are worth another attempt), or ctx ends, waiting a little longer after
// each failure. A failover takes about an election timeout (0.5 to 1 s by
// default), so a request that arrives during one waits for the new leader
// instead of failing.
func retry(ctx context.Context, again func(error) bool, f func() error) error {
	wait := 20 * time.Millisecond
	for {
		err := f()
		if err == nil || !again(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err // the last error says more than "deadline exceeded"
		case <-t.C:
		}
		wait = min(2*wait, 300*time.Millisecond)
	}
}

// write proposes one command and waits until this node has applied it.
//
// It retries what Propose alone could not: a proposal whose outcome is
// unknown (forwarded to a leader that crashed before answering) may have
// been applied, or not. So every attempt carries the same client session
// and sequence number, and the node applies the command at most once; a
// retry of one that was applied gets its result, or ErrDuplicateRequest
// when the result was not kept, which here means success (the store's
// only result is an error for a command it cannot decode, and write never
// proposes one).
func (r *replica) write(ctx context.Context, c command) error {
	data := c.encode()
	s := r.session()
	defer r.release(s)
	s.seq++
	again := func(err error) bool { return retryable(err) || errors.Is(err, raft.ErrOutcomeUnknown) }
	return retry(ctx, again, func() error {
		res, err := r.node.ProposeSession(ctx, s.client, s.seq, data)
		if errors.Is(err, raft.ErrDuplicateRequest) {
			return nil
		}
		if err != nil {
			return err
		}
		if err, ok := res.(error); ok {
			return err // the store refused the command
		}
		return nil
	})
}

// session takes a client session that no request is using, or makes a new
// one. A session serves one request at a time because the node remembers
// only a client's latest sequence number: two concurrent requests of one
// client could commit out of order, and the earlier would count as a
// duplicate and never apply. So the node sees as many clients as there were
// concurrent requests at most, each with its requests in order. A request
// that gave up returns its session all the same: should its proposal commit
// late, after the session's next request, the node drops it as a duplicate.
func (r *replica) session() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.sessions); n > 0 {
		s := r.sessions[n-1]
		r.sessions = r.sessions[:n-1]
		return s
	}
	return &session{client: rand.Uint64()}
}

func (r *replica) release(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions = append(r.sessions, s)
}

// read returns key's value. Unless stale, it first waits for a read barrier
// (ReadIndex): once this node has applied everything committed before the
// call, its copy reflects every write acknowledged before the read began, on
// any node.
func (r *replica) read(ctx context.Context, key string, stale bool) (string, bool, error) {
	if !stale {
		if err := retry(ctx, retryable, func() error { return r.node.ReadIndex(ctx) }); err != nil {
			return "", false, err
		}
	}
	v, ok := r.store.Get(key)
	return v, ok, nil
}
