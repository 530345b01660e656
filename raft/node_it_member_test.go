package raft_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// These tests change who is in the cluster and who leads it: a learner
// catching up and being promoted, a node so far behind that it needs the
// leader's snapshot, and leadership handed over while clients write.

// waitCaughtUp waits until id has applied the leader's commit index.
func (c *itCluster) waitCaughtUp(t testing.TB, id raft.NodeID, timeout time.Duration) {
	t.Helper()
	ok := waitFor(timeout, 5*time.Millisecond, func() bool {
		lead, _ := c.leader()
		ln, _ := c.running(lead)
		node, _ := c.running(id)
		return ln != nil && node != nil && node.Status().Applied >= ln.Status().Commit
	})
	require.True(t, ok, "%s did not catch up within %v: %v", id, timeout, itStatusErr(c, id))
}

// TestNodeITLearnerCatchUpAndPromotion adds an empty node as a learner, lets
// it catch up, promotes it, and proves it votes: with a voter removed and
// another stopped, only its acknowledgements complete a quorum. A second
// node joins with AddVoter directly (a learner first, then a voter).
func TestNodeITLearnerCatchUpAndPromotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(5), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		w := newITWrites()
		c.waitLeader(10*time.Second, 0)
		for range 60 {
			w.put(t, c, 5*time.Second)
		}

		// n4 starts empty and waits to be added.
		c.add("n4", true)
		require.NoError(t, c.start("n4"))
		require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
			return n.AddLearner(ctx, "n4")
		}))
		c.waitCaughtUp(t, "n4", 10*time.Second)
		w.check(t, c.converge(10*time.Second))
		n4, _ := c.running("n4")
		require.NotEqual(t, raft.StateLeader, n4.Status().Role)
		require.Equal(t, itVoter{true, false}, c.voter("n4"), "n4 after AddLearner")

		require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
			return n.AddVoter(ctx, "n4")
		}))
		for range 10 {
			w.put(t, c, 5*time.Second)
		}
		require.True(t, waitFor(5*time.Second, 10*time.Millisecond, func() bool { return c.voter("n4") == itVoter{true, true} }),
			"n4 not a voter after AddVoter")

		// Prove n4 votes: remove n3, so the voters are n1, n2 and n4, then
		// stop whichever of n1 and n2 does not lead. Only n4's
		// acknowledgements can then complete a quorum.
		require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
			return n.RemoveServer(ctx, "n3")
		}))
		require.NoError(t, c.stop("n3"))
		lead := c.waitLeader(10*time.Second, 0)
		victim := raft.NodeID("n1")
		if lead == "n1" {
			victim = "n2"
		}
		require.NoError(t, c.stop(victim))
		for range 10 {
			w.put(t, c, 10*time.Second)
		}
		require.NoError(t, c.start(victim))
		w.check(t, c.converge(20*time.Second))

		// n5 joins with AddVoter directly: it catches up as a learner
		// first, then votes.
		c.add("n5", true)
		require.NoError(t, c.start("n5"))
		require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
			return n.AddVoter(ctx, "n5")
		}))
		for range 10 {
			w.put(t, c, 5*time.Second)
		}
		c.waitCaughtUp(t, "n5", 10*time.Second)
		w.check(t, c.converge(20*time.Second))
	})
}

// itVoter is whether the leader lists a member, and as a voter.
type itVoter struct{ Member, Voter bool }

// voter returns how the current leader sees id.
func (c *itCluster) voter(id raft.NodeID) itVoter {
	lead, _ := c.leader()
	node, _ := c.running(lead)
	if node == nil {
		return itVoter{}
	}
	for _, p := range node.Status().Progress {
		if p.ID == id {
			return itVoter{true, p.Voter}
		}
	}
	return itVoter{}
}

// itSnapMetrics counts the snapshot bytes a node sends and receives.
type itSnapMetrics struct {
	sent, received atomic.Int64
}

func (m *itSnapMetrics) CommitLatency(time.Duration)     {}
func (m *itSnapMetrics) FsyncLatency(time.Duration, int) {}
func (m *itSnapMetrics) ApplyLag(uint64)                 {}
func (m *itSnapMetrics) Election(uint64, bool)           {}
func (m *itSnapMetrics) SnapshotBytes(sent bool, n int) {
	if sent {
		m.sent.Add(int64(n))
	} else {
		m.received.Add(int64(n))
	}
}

// TestNodeITSnapshotInstall brings back a node whose log the leader has
// compacted away, over a link that loses and reorders chunks: it must
// install the leader's snapshot (in many small chunks, resumed after
// losses) and catch up.
func TestNodeITSnapshotInstall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		metrics := map[raft.NodeID]*itSnapMetrics{}
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(6), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(id raft.NodeID, cfg *raft.NodeConfig) {
				// Snapshot often and send it in many small chunks.
				cfg.Raft.SnapshotEntries = 20
				cfg.Raft.SnapshotChunkBytes = 512
				cfg.SnapshotLogBytes = 4 << 10
				cfg.SnapshotKeepEntries = 8
				mu.Lock()
				if metrics[id] == nil {
					metrics[id] = &itSnapMetrics{}
				}
				cfg.Metrics = metrics[id]
				mu.Unlock()
			}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		for range 5 {
			w.put(t, c, 5*time.Second)
		}
		behind := c.ids[0]
		if behind == lead {
			behind = c.ids[1]
		}
		c.waitCaughtUp(t, behind, 10*time.Second)
		require.NoError(t, c.kill(behind))

		// Far more than the snapshot threshold, with values large enough
		// that the snapshot spans many chunks.
		pad := fmt.Sprintf("%064d", 0)
		for i := range 300 {
			k, v := fmt.Sprintf("s%04d", i), fmt.Sprintf("%s-%d", pad, i)
			require.NoError(t, c.putRetry(5*time.Second, k, v))
			w.acked[k] = v
		}
		// The leader has compacted past everything the stopped node has.
		lead, _ = c.leader()
		c.mu.Lock()
		lws := c.nodes[lead].ws
		c.mu.Unlock()
		first, err := lws.FirstIndex()
		require.NoError(t, err)
		require.Greater(t, first, uint64(100), "leader did not compact its log")

		// The link to the lagging node loses and reorders chunks, so the
		// transfer has to resume.
		require.NoError(t, c.net.SetLink(lead, behind, memnet.Link{Latency: time.Millisecond, Jitter: 2 * time.Millisecond,
			Loss: 0.1, Reorder: 0.1}))
		require.NoError(t, c.revive(behind))
		c.waitCaughtUp(t, behind, 30*time.Second)
		w.check(t, c.converge(30*time.Second))

		_, sm := c.running(behind)
		restores, _, _ := sm.counters()
		require.Positive(t, restores, "%s caught up without installing a snapshot", behind)
		mu.Lock()
		sent := metrics[lead].sent.Load()
		received := metrics[behind].received.Load()
		mu.Unlock()
		t.Logf("snapshot install to %s: leader %s sent %d snapshot bytes, %s received %d", behind, lead, sent, behind, received)
		require.Positive(t, sent, "leader reported no snapshot bytes sent")
	})
}

// TestNodeITLeadershipTransfer hands leadership around four times while two
// clients write, each transfer within an election timeout, and checks that
// invalid targets are refused with ErrInvalidTransfer and that no
// acknowledged write is lost.
func TestNodeITLeadershipTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(7), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		c.waitLeader(10*time.Second, 0)

		// Writers keep proposing through the transfers, as in
		// hashicorp/raft PR #581's failure.
		w := c.startWriters(2, "t", 5*time.Millisecond)
		defer w.halt()

		for round := range 4 {
			from, term := c.leader()
			to := c.ids[(slices.Index(c.ids, from)+1+round%2)%len(c.ids)]
			node, _ := c.running(from)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := time.Now()
			err := node.TransferLeadership(ctx, to)
			cancel()
			require.NoError(t, err, "transfer %s -> %s", from, to)
			elapsed := time.Since(start)
			t.Logf("transfer %s -> %s took %v", from, to, elapsed)
			require.LessOrEqual(t, elapsed, itElection, "transfer slower than an election timeout")
			got := c.waitLeader(itElection, term)
			require.Equal(t, to, got, "transfer %s -> %s: %s leads", from, to, got)
			pause(100 * time.Millisecond)
		}

		// Invalid targets fail with a reason.
		from, _ := c.leader()
		node, _ := c.running(from)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		require.ErrorIs(t, node.TransferLeadership(ctx, "nobody"), raft.ErrInvalidTransfer)
		require.ErrorIs(t, node.TransferLeadership(ctx, from), raft.ErrInvalidTransfer)
		cancel()

		w.halt()
		state := c.converge(20 * time.Second)
		require.NotEmpty(t, w.acked)
		for k, v := range w.acked {
			require.Equal(t, v, state[k], "acknowledged write %s=%s lost", k, v)
		}
	})
}

// TestNodeITSnapshotRateLimited sends a snapshot at a low rate to a node
// that fell far behind: alone, with the node restarted in the middle of the
// transfer, and with writes going on so that the leader takes newer
// snapshots while one is in flight. The node must catch up, the transfer
// must respect the rate, and it should not waste the rate on resends.
func TestNodeITSnapshotRateLimited(t *testing.T) {
	for _, tc := range []struct {
		name            string
		restart, writes bool
	}{
		{"alone", false, false},
		{"restart-mid-transfer", true, false},
		{"writes-during-transfer", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSnapshotRateLimited(t, tc.restart, tc.writes)
		})
	}
}

func testSnapshotRateLimited(t *testing.T, restart, writes bool) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 4 << 10 // bytes per second, with one second of burst
		var mu sync.Mutex
		metrics := map[raft.NodeID]*itSnapMetrics{}
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(10), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(id raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Raft.SnapshotEntries = 20
				cfg.Raft.SnapshotChunkBytes = 512
				cfg.SnapshotLogBytes = 4 << 10
				cfg.SnapshotKeepEntries = 8
				cfg.SnapshotRateBytes = rate
				mu.Lock()
				if metrics[id] == nil {
					metrics[id] = &itSnapMetrics{}
				}
				cfg.Metrics = metrics[id]
				mu.Unlock()
			}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		behind := c.ids[0]
		if behind == lead {
			behind = c.ids[1]
		}
		c.waitCaughtUp(t, behind, 10*time.Second)
		require.NoError(t, c.kill(behind))
		pad := fmt.Sprintf("%064d", 0)
		for i := range 300 {
			k, v := fmt.Sprintf("s%04d", i), fmt.Sprintf("%s-%d", pad, i)
			require.NoError(t, c.putRetry(5*time.Second, k, v))
			w.acked[k] = v
		}
		lead, _ = c.leader()
		c.mu.Lock()
		lws := c.nodes[lead].ws
		c.mu.Unlock()
		snap, err := lws.Snapshot()
		require.NoError(t, err)
		size := len(snap.Data)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Stop the background goroutines also when the test fails first.
		stopAll := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopAll()
		var wmu sync.Mutex
		if writes {
			// 20 writes a second: a new snapshot every second.
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					k, v := fmt.Sprintf("b%04d", i), fmt.Sprintf("x%d", i)
					if c.putRetry(10*time.Second, k, v) == nil {
						wmu.Lock()
						w.acked[k] = v
						wmu.Unlock()
					}
				}
			})
		}

		require.NoError(t, c.revive(behind))
		start := time.Now()
		if restart {
			mu.Lock()
			got := metrics[behind]
			mu.Unlock()
			require.True(t, waitFor(30*time.Second, 10*time.Millisecond, func() bool { return got.received.Load() > int64(size/3) }),
				"no snapshot bytes reached %s", behind)
			require.NoError(t, c.restart(behind), "restart %s mid-transfer", behind)
		}
		c.waitCaughtUp(t, behind, 120*time.Second)
		elapsed := time.Since(start)
		stopAll()
		wmu.Lock()
		defer wmu.Unlock()
		w.check(t, c.converge(30*time.Second))

		_, sm := c.running(behind)
		restores, _, _ := sm.counters()
		mu.Lock()
		sent := metrics[lead].sent.Load()
		mu.Unlock()
		ideal := time.Duration(float64(size-rate) / rate * float64(time.Second))
		t.Logf("snapshot of %d bytes to %s at %d B/s (restart %v, writes %v): caught up after %v (ideal %v); leader sent %d snapshot bytes",
			size, behind, rate, restart, writes, elapsed, ideal, sent)
		require.Positive(t, restores, "%s caught up without installing a snapshot", behind)
		// The first full transfer alone cannot be faster than the rate.
		require.GreaterOrEqual(t, elapsed, ideal, "snapshot of %d bytes at %d B/s arrived too fast", size, rate)
		// Nor much slower: resends of the chunk in flight must not eat the
		// rate (RAFTIT-3), and newer snapshots must not restart the
		// transfer forever (RAFTIT-2).
		bound := 2*ideal + 2*time.Second
		if restart {
			bound += ideal
		}
		require.LessOrEqual(t, elapsed, bound, "snapshot transfer far slower than its rate allows")
	})
}

// TestNodeITTransferToUnreachable asks for a leadership transfer to a node
// that is down, and to one that is far behind. The first must fail with a
// typed error within about an election timeout, leaving the old leader in
// charge; the second must succeed once the target has caught up.
func TestNodeITTransferToUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(14), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		var others []raft.NodeID
		for _, id := range c.ids {
			if id != lead {
				others = append(others, id)
			}
		}
		down, lagging := others[0], others[1]

		require.NoError(t, c.kill(down))
		_, term := c.leader()
		node, _ := c.running(lead)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := node.TransferLeadership(ctx, down)
		cancel()
		elapsed := time.Since(start)
		t.Logf("transfer %s -> %s (down): %v after %v", lead, down, err, elapsed)
		require.ErrorIs(t, err, raft.ErrTransferTimeout)
		require.LessOrEqual(t, elapsed, itElection+2*itTick, "failed transfer took longer than an election timeout")
		// The old leader goes on leading and serving writes.
		for range 5 {
			w.put(t, c, 5*time.Second)
		}
		lead2, term2 := c.leader()
		require.Equal(t, lead, lead2)
		require.Equal(t, term, term2)
		require.NoError(t, c.revive(down))

		// Leave lagging behind by many entries, then hand it leadership
		// as soon as it can hear the leader again.
		c.net.Cut(lead, lagging)
		for range 100 {
			w.put(t, c, 5*time.Second)
		}
		c.net.Restore(lead, lagging)
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		start = time.Now()
		err = node.TransferLeadership(ctx, lagging)
		cancel()
		t.Logf("transfer %s -> %s (100 entries behind): %v after %v", lead, lagging, err, time.Since(start))
		require.NoError(t, err)
		require.Equal(t, lagging, c.waitLeader(itElection, term))
		for range 5 {
			w.put(t, c, 5*time.Second)
		}
		w.check(t, c.converge(20*time.Second))
	})
}

// TestNodeITCloseSettlesCalls closes a node while calls of every kind wait
// on it (its cluster has lost its quorum, so none can finish): each must
// return ErrStopped at once, none may wait for its context.
func TestNodeITCloseSettlesCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(15), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		lead := c.waitLeader(10*time.Second, 0)
		require.NoError(t, c.putRetry(5*time.Second, "k", "v"))
		c.net.Isolate(lead)
		node, _ := c.running(lead)
		calls := map[string]func(ctx context.Context) error{
			"Propose": func(ctx context.Context) error {
				_, err := node.Propose(ctx, itCmd("k", "late"))
				return err
			},
			"ReadIndex": node.ReadIndex,
			"LeaseRead": node.LeaseRead,
			"AddLearner": func(ctx context.Context) error {
				return node.AddLearner(ctx, "n9")
			},
			"TransferLeadership": func(ctx context.Context) error {
				return node.TransferLeadership(ctx, c.ids[(slices.Index(c.ids, lead)+1)%3])
			},
		}
		type result struct {
			name string
			err  error
			at   time.Time
		}
		results := make(chan result, len(calls))
		for name, call := range calls {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				err := call(ctx)
				results <- result{name, err, time.Now()}
			}()
		}
		// Give the calls time to be queued and sent, not long enough for
		// check-quorum to fail them.
		pause(2 * itTick)
		closed := time.Now()
		require.NoError(t, c.stop(lead))
		for range calls {
			r := <-results
			if r.at.Before(closed) {
				// It failed by itself before Close (a transfer to a node
				// the leader cannot reach, for instance): fine, as long
				// as it failed.
				require.Error(t, r.err, "%s succeeded on an isolated leader", r.name)
				continue
			}
			require.ErrorIs(t, r.err, raft.ErrStopped, "%s after Close", r.name)
			require.Zero(t, r.at.Sub(closed), "%s returned %v after Close", r.name, r.at.Sub(closed))
		}
	})
}

// TestNodeITLargeSnapshotNoElection sends a 4 MiB snapshot, in the default
// 1 MiB chunks at the default rate, to a follower that fell behind, and
// requires the install to happen without an election: heartbeats must keep
// flowing while the chunks do.
func TestNodeITLargeSnapshotNoElection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(18), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Raft.SnapshotEntries = 16
				cfg.SnapshotKeepEntries = 8
			}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		behind := c.ids[0]
		if behind == lead {
			behind = c.ids[1]
		}
		c.waitCaughtUp(t, behind, 10*time.Second)
		require.NoError(t, c.kill(behind))
		big := strings.Repeat("v", 128<<10)
		for i := range 32 {
			k, v := fmt.Sprintf("big%02d", i), fmt.Sprintf("%s-%d", big, i)
			require.NoError(t, c.putRetry(5*time.Second, k, v))
			w.acked[k] = v
		}
		lead, term := c.leader()
		require.NoError(t, c.revive(behind))
		start := time.Now()
		c.waitCaughtUp(t, behind, 30*time.Second)
		elapsed := time.Since(start)
		w.check(t, c.converge(30*time.Second))
		_, sm := c.running(behind)
		restores, _, _ := sm.counters()
		require.Positive(t, restores, "%s caught up without a snapshot", behind)
		lead2, term2 := c.leader()
		t.Logf("4 MiB snapshot installed on %s in %v", behind, elapsed)
		require.Equal(t, lead, lead2, "leadership changed during the install")
		require.Equal(t, term, term2, "term rose during the install")
	})
}

// TestNodeITSlowSnapshotWrites makes every snapshot file take a second to
// fsync, so that under a steady write load a snapshot is nearly always
// being written, and then brings back a follower that needs the leader's
// snapshot. The leader's loop must keep heartbeating while its state
// machine's snapshots are written, so no election may happen. Before
// RAFTIT-5 was fixed the loop blocked in Storage.Snapshot behind the
// write; under synctest a goroutine waiting on a mutex freezes virtual
// time, so a regression shows as a hang (the go test timeout).
func TestNodeITSlowSnapshotWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(19), CrashFS: true, SnapshotSyncTime: time.Second,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Raft.SnapshotEntries = 16
				cfg.SnapshotKeepEntries = 4
			}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		behind := c.ids[0]
		if behind == lead {
			behind = c.ids[1]
		}
		c.waitCaughtUp(t, behind, 10*time.Second)
		require.NoError(t, c.kill(behind))
		for range 50 {
			w.put(t, c, 5*time.Second)
		}
		// Let the snapshots finish and the log be compacted past behind.
		pause(5 * time.Second)
		lead, term := c.leader()

		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Stop the background goroutines also when the test fails first.
		stopAll := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopAll()
		var wmu sync.Mutex
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(30 * time.Millisecond):
				}
				k, v := fmt.Sprintf("y%04d", i), fmt.Sprintf("x%d", i)
				if c.putRetry(10*time.Second, k, v) == nil {
					wmu.Lock()
					w.acked[k] = v
					wmu.Unlock()
				}
			}
		})
		pause(time.Second)
		require.NoError(t, c.revive(behind))
		c.waitCaughtUp(t, behind, 30*time.Second)
		pause(2 * time.Second)
		stopAll()
		wmu.Lock()
		defer wmu.Unlock()
		w.check(t, c.converge(30*time.Second))
		_, sm := c.running(behind)
		restores, _, _ := sm.counters()
		require.Positive(t, restores, "%s caught up without a snapshot", behind)
		lead2, term2 := c.leader()
		require.Equal(t, lead, lead2, "leadership changed while snapshots were written")
		require.Equal(t, term, term2, "term rose while snapshots were written")
	})
}

// TestNodeITRemoveAndReadd removes a voter, wipes its storage, and adds it
// back under the same ID as a fresh node, twice, while a client writes: it
// must catch up from scratch and count as a voter again.
func TestNodeITRemoveAndReadd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(20), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) { cfg.Raft.SnapshotEntries = 32 }})
		defer c.close()
		w := newITWrites()
		c.waitLeader(10*time.Second, 0)
		for round := range 2 {
			for range 20 {
				w.put(t, c, 5*time.Second)
			}
			lead, _ := c.leader()
			victim := c.ids[(slices.Index(c.ids, lead)+1+round)%len(c.ids)]
			require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
				return n.RemoveServer(ctx, victim)
			}), "round %d: remove %s", round, victim)
			require.NoError(t, c.stop(victim))
			for range 20 {
				w.put(t, c, 5*time.Second)
			}
			// Wipe it: a fresh directory, a node that waits to be added.
			c.mu.Lock()
			n := c.nodes[victim]
			n.dir = filepath.Join(c.t.TempDir(), fmt.Sprintf("%s-again-%d", victim, round))
			n.join = true
			c.mu.Unlock()
			require.NoError(t, c.start(victim))
			require.NoError(t, itLeaderCall(c, 10*time.Second, func(ctx context.Context, n *raft.Node) error {
				return n.AddVoter(ctx, victim)
			}), "round %d: add %s back", round, victim)
			c.waitCaughtUp(t, victim, 20*time.Second)
			require.True(t, waitFor(10*time.Second, 10*time.Millisecond, func() bool { return c.voter(victim) == itVoter{true, true} }),
				"round %d: %s not a voter again", round, victim)
			w.check(t, c.converge(20*time.Second))
		}
	})
}
