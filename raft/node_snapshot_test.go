package raft_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport/memnet"
)

func TestNodeSessionsExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			cfg.Sessions = true
			cfg.Raft.SnapshotEntries = 8
			cfg.SnapshotKeepEntries = 2
		})
		defer c.close()
		lead := c.leader()
		f := c.follower(lead)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		res, err := c.nodes[f].ProposeSession(ctx, 7, 1, []byte("a=1"))
		require.NoError(t, err)
		require.Equal(t, "1", res)
		// A retry of the same request is answered, not applied again.
		res, err = c.nodes[lead].ProposeSession(ctx, 7, 1, []byte("a=1"))
		require.NoError(t, err)
		require.Equal(t, "1", res)
		require.Equal(t, 1, c.sms[lead].count())
		// Plain proposals carry on alongside; enough of them to snapshot.
		for i := 0; i < 20; i++ {
			_, err := c.nodes[lead].Propose(ctx, fmt.Appendf(nil, "p%d=%d", i, i))
			require.NoError(t, err)
		}
		res, err = c.nodes[lead].ProposeSession(ctx, 7, 2, []byte("a=2"))
		require.NoError(t, err)
		last := res
		_, err = c.nodes[lead].ProposeSession(ctx, 7, 1, []byte("a=1"))
		require.ErrorIs(t, err, raft.ErrDuplicateRequest, "an older request")
		// Wait until the follower has a snapshot covering the session.
		require.NoError(t, c.nodes[f].ReadIndex(ctx))
		for {
			snap, err := c.stores[f].Snapshot()
			require.NoError(t, err)
			if snap.Meta.Index >= c.nodes[f].Status().Applied-1 && !snap.IsEmpty() {
				break
			}
			_, err = c.nodes[lead].Propose(ctx, []byte("tick=1"))
			require.NoError(t, err)
			require.NoError(t, c.nodes[f].ReadIndex(ctx))
			time.Sleep(10 * time.Millisecond)
		}
		// Restart the follower: it restores the snapshot, session table
		// included, and a retry is still answered once.
		require.NoError(t, c.nodes[f].Close())
		c.start(f, 99)
		count := c.sms[f].count()
		res, err = c.nodes[f].ProposeSession(ctx, 7, 2, []byte("a=2"))
		require.NoError(t, err)
		require.Equal(t, last, res)
		require.NoError(t, c.nodes[f].ReadIndex(ctx))
		require.GreaterOrEqual(t, c.sms[f].count(), count)
		v, _ := c.sms[f].get("a")
		require.Equal(t, "2", v)
		for _, id := range c.ids {
			require.NoError(t, c.nodes[id].ReadIndex(ctx))
			require.Equal(t, c.sms[lead].count(), c.sms[id].count(), "node %s applied a different number of commands", id)
		}
	})
}

func TestNodeSnapshotToLaggingFollower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			cfg.Raft.SnapshotEntries = 16
			cfg.Raft.SnapshotChunkBytes = 256
			cfg.SnapshotKeepEntries = 4
		})
		defer c.close()
		lead := c.leader()
		f := c.follower(lead)
		c.net.Isolate(f)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := 0; i < 100; i++ {
			_, err := c.nodes[lead].Propose(ctx, fmt.Appendf(nil, "k%d=%d", i, i))
			require.NoError(t, err)
		}
		// Let the leader's snapshot land and compact its log past f.
		for {
			first, err := c.stores[lead].FirstIndex()
			require.NoError(t, err)
			if first > 10 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.net.Heal()
		// f fails calls fast until it hears from the leader again.
		for {
			err := c.nodes[f].ReadIndex(ctx)
			if !errors.Is(err, raft.ErrQuorumLost) {
				require.NoError(t, err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.Equal(t, c.sms[lead].count(), c.sms[f].count())
		for i := 0; i < 100; i++ {
			v, ok := c.sms[f].get(fmt.Sprintf("k%d", i))
			require.True(t, ok)
			require.Equal(t, strconv.Itoa(i), v)
		}
		snap, err := c.stores[f].Snapshot()
		require.NoError(t, err)
		require.False(t, snap.IsEmpty(), "the follower caught up from a snapshot")
		st := c.nodes[lead].Status()
		for _, p := range st.Progress {
			require.False(t, p.Snapshot)
		}
	})
}

// TestNodeSessionsUnderFaults proposes from every node over lossy,
// duplicating, reordering links, retrying each request with its sequence
// number until it gets an answer, and checks that every request was applied
// exactly once.
func TestNodeSessionsUnderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) { cfg.Sessions = true })
		defer c.close()
		c.leader()
		require.NoError(t, c.net.SetDefaultLink(memnet.Link{Loss: 0.1, Duplicate: 0.1, Latency: time.Millisecond,
			Jitter: 2 * time.Millisecond, Reorder: 0.1}))
		const clients, reqs = 6, 15
		var wg sync.WaitGroup
		for cl := 1; cl <= clients; cl++ {
			id := c.ids[cl%len(c.ids)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 1; seq <= reqs; seq++ {
					for {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
						_, err := c.nodes[id].ProposeSession(ctx, uint64(cl), uint64(seq), fmt.Appendf(nil, "c%d-%d=x", cl, seq))
						cancel()
						if err == nil {
							break
						}
						if !errors.Is(err, raft.ErrOutcomeUnknown) && !errors.Is(err, raft.ErrQuorumLost) &&
							!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, raft.ErrProposalDropped) {
							t.Errorf("client %d seq %d: %v", cl, seq, err)
							return
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
		require.NoError(t, c.net.SetDefaultLink(memnet.Link{}))
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, id := range c.ids {
			require.NoError(t, c.nodes[id].ReadIndex(ctx))
			require.Equal(t, clients*reqs, c.sms[id].count(), "node %s (leader %s)", id, lead)
		}
	})
}

// TestNodeWALRestart runs a cluster on WALStorage in temporary directories,
// with snapshots and compaction, restarts every node from its directory and
// checks that the state machines come back and the cluster goes on.
func TestNodeWALRestart(t *testing.T) {
	dirs := map[raft.NodeID]string{}
	for _, id := range []raft.NodeID{"n1", "n2", "n3"} {
		dirs[id] = t.TempDir()
	}
	synctest.Test(t, func(t *testing.T) {
		net, err := memnet.New(memnet.Config{Seed: 3, Link: memnet.Link{Latency: time.Millisecond}})
		require.NoError(t, err)
		defer net.Close()
		ids := []raft.NodeID{"n1", "n2", "n3"}
		eps := map[raft.NodeID]*memnet.Endpoint{}
		for _, id := range ids {
			eps[id], err = net.Join(id)
			require.NoError(t, err)
		}
		c := &testCluster{t: t, net: net, ids: ids, nodes: map[raft.NodeID]*raft.Node{}, sms: map[raft.NodeID]*kvSM{}}
		wals := map[raft.NodeID]*raft.WALStorage{}
		metrics := map[raft.NodeID]*recMetrics{}
		startAll := func() {
			for i, id := range ids {
				st, err := raft.OpenWALStorage(wal.Config{Dir: dirs[id]})
				require.NoError(t, err)
				wals[id] = st
				c.sms[id] = newKV()
				metrics[id] = &recMetrics{}
				n, err := raft.NewNode(raft.NodeConfig{
					Raft:                raft.Config{ID: id, Voters: ids, Seed: uint64(i + 1), SnapshotEntries: 16},
					Transport:           eps[id],
					Storage:             st,
					StateMachine:        c.sms[id],
					TickInterval:        10 * time.Millisecond,
					SnapshotKeepEntries: 4,
					Metrics:             metrics[id],
				})
				require.NoError(t, err)
				require.NoError(t, n.Start())
				c.nodes[id] = n
			}
		}
		stopAll := func() {
			for _, id := range ids {
				require.NoError(t, c.nodes[id].Close())
				require.NoError(t, wals[id].Close())
			}
		}
		startAll()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := 0; i < 60; i++ {
			_, err := c.nodes[ids[i%3]].Propose(ctx, fmt.Appendf(nil, "k%d=%d", i, i))
			require.NoError(t, err)
		}
		for _, id := range ids {
			require.NoError(t, c.nodes[id].ReadIndex(ctx))
		}
		m := metrics[lead].snapshot()
		require.Positive(t, m.commits)
		require.Positive(t, m.fsyncs)
		require.Positive(t, m.elections)
		stopAll()

		startAll()
		lead = c.leader()
		_, err = c.nodes[lead].Propose(ctx, []byte("after=restart"))
		require.NoError(t, err)
		for _, id := range ids {
			require.NoError(t, c.nodes[id].ReadIndex(ctx))
			require.Equal(t, 61, c.sms[id].count(), "node %s", id)
			v, _ := c.sms[id].get("k59")
			require.Equal(t, "59", v)
			snap, err := wals[id].Snapshot()
			require.NoError(t, err)
			require.False(t, snap.IsEmpty(), "node %s took a snapshot", id)
		}
		stopAll()
	})
}

// TestNodeSnapshotRateLimitedUnderWrites sends a snapshot to a lagging
// follower at a low rate while writes continue (so the leader would take
// newer snapshots meanwhile), and checks that the follower catches up and
// that the transfer kept to the rate.
func TestNodeSnapshotRateLimitedUnderWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 2048
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			cfg.Raft.SnapshotEntries = 16
			cfg.Raft.SnapshotChunkBytes = 256
			cfg.SnapshotKeepEntries = 4
			cfg.SnapshotRateBytes = rate
		})
		defer c.close()
		lead := c.leader()
		f := c.follower(lead)
		c.net.Isolate(f)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := 0; i < 100; i++ {
			_, err := c.nodes[lead].Propose(ctx, fmt.Appendf(nil, "k%03d=%040d", i, i))
			require.NoError(t, err)
		}
		for {
			if first, _ := c.stores[lead].FirstIndex(); first > 20 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		snap, err := c.stores[lead].Snapshot()
		require.NoError(t, err)
		size := len(snap.Data)
		target := c.nodes[lead].Status().Applied

		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				_, _ = c.nodes[lead].Propose(ctx, fmt.Appendf(nil, "b%d=x", i))
			}
		}()
		c.net.Heal()
		start := time.Now()
		for c.nodes[f].Status().Applied < target {
			time.Sleep(10 * time.Millisecond)
			require.Less(t, time.Since(start), 50*time.Second, "follower did not catch up")
		}
		elapsed := time.Since(start)
		close(stop)
		<-done
		// One second of burst, then the rate.
		minTime := time.Duration(float64(size-rate) / rate * float64(time.Second))
		require.GreaterOrEqual(t, elapsed, minTime, "a %d-byte snapshot at %d B/s", size, rate)
		v, ok := c.sms[f].get("k099")
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("%040d", 99), v)
	})
}

// recMetrics counts the calls of the Metrics hook.
type recMetrics struct {
	mu                                      sync.Mutex
	commits, fsyncs, lags, elections, snaps int
	fsyncEntries                            int
}

func (m *recMetrics) CommitLatency(time.Duration) { m.mu.Lock(); m.commits++; m.mu.Unlock() }
func (m *recMetrics) FsyncLatency(_ time.Duration, n int) {
	m.mu.Lock()
	m.fsyncs++
	m.fsyncEntries += n
	m.mu.Unlock()
}
func (m *recMetrics) ApplyLag(uint64)         { m.mu.Lock(); m.lags++; m.mu.Unlock() }
func (m *recMetrics) Election(uint64, bool)   { m.mu.Lock(); m.elections++; m.mu.Unlock() }
func (m *recMetrics) SnapshotBytes(bool, int) { m.mu.Lock(); m.snaps++; m.mu.Unlock() }
func (m *recMetrics) snapshot() recMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return recMetrics{commits: m.commits, fsyncs: m.fsyncs, lags: m.lags, elections: m.elections, snaps: m.snaps, fsyncEntries: m.fsyncEntries}
}
