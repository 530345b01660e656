package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
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
}

// replica is one running node of the store: the state machine, the raft.Node
// that feeds it, and what the node runs on.
type replica struct {
	store   *Store
	node    *raft.Node
	storage *raft.WALStorage
	tr      *tcpnet.Transport

	// client and seq name this replica's proposals in the node's client
	// sessions, so that a proposal retried with the same seq applies once.
	client uint64
	seq    atomic.Uint64
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
	r := &replica{store: newStore(), storage: storage, tr: cfg.Transport, client: rand.Uint64()}
	r.node, err = raft.NewNode(raft.NodeConfig{
		Raft: raft.Config{
			ID:     cfg.ID,
			Voters: cfg.Voters,
			// Each node draws its own seed so that election timeouts differ.
			Seed:   rand.Uint64(),
			Logger: cfg.Logger,
		},
		Transport:    cfg.Transport,
		Storage:      storage,
		StateMachine: r.store,
		Sessions:     true,
		Metrics:      cfg.Metrics,
		Logger:       cfg.Logger,
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
// there is no leader yet, or the leader is busy. Other errors (the node
// stopped, the request's time ran out) are final.
func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrQuorumLost) ||
		errors.Is(err, raft.ErrProposalDropped) ||
		errors.Is(err, raft.ErrTransferInProgress)
}

// retry calls f until it succeeds, fails for good, or ctx ends, waiting a
// little longer after each retryable failure. A failover takes about an
// election timeout (0.5 to 1 s by default), so a request that arrives during
// one waits for the new leader instead of failing.
func retry(ctx context.Context, f func() error) error {
	wait := 20 * time.Millisecond
	for {
		err := f()
		if err == nil || !retryable(err) {
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

// write proposes one command and waits until this node has applied it. The
// command carries the same session sequence number on every attempt, so if
// an attempt that seemed to fail did commit, the retry does not apply it
// twice.
func (r *replica) write(ctx context.Context, c command) error {
	data := c.encode()
	seq := r.seq.Add(1)
	return retry(ctx, func() error {
		res, err := r.node.ProposeSession(ctx, r.client, seq, data)
		if err != nil {
			return err
		}
		if err, ok := res.(error); ok {
			return err // the command was refused by the store
		}
		return nil
	})
}

// read returns key's value. Unless stale, it first waits for a read barrier
// (ReadIndex): once this node has applied everything committed before the
// call, its copy reflects every write acknowledged before the read began, on
// any node.
func (r *replica) read(ctx context.Context, key string, stale bool) (string, bool, error) {
	if !stale {
		if err := retry(ctx, func() error { return r.node.ReadIndex(ctx) }); err != nil {
			return "", false, err
		}
	}
	v, ok := r.store.Get(key)
	return v, ok, nil
}
