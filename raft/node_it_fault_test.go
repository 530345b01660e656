package raft_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// These tests drive a raft.Node cluster over memnet through the failures a
// deployment meets: the leader crashing, the leader cut off in a minority,
// links that lose messages in one direction only, every node restarted in
// turn or all at once, power cuts that lose unsynced writes, an isolated
// leader still asked to read. Each checks that acknowledged writes survive,
// that reads stay linearizable, and that calls that cannot succeed fail
// fast instead of hanging.

// itElection is the election timeout the tests run with: the default
// ElectionTicks ticks of itTick.
const itElection = raft.DefaultElectionTicks * itTick

// itWrites tracks acknowledged writes, one unique key each, so that a test
// can check that none was lost.
type itWrites struct {
	acked map[string]string
	n     int
}

func newITWrites() *itWrites { return &itWrites{acked: map[string]string{}} }

// put writes a new key through the leader (retrying) and records it.
func (w *itWrites) put(t testing.TB, c *itCluster, timeout time.Duration) {
	t.Helper()
	w.n++
	k, v := fmt.Sprintf("w%04d", w.n), fmt.Sprintf("v%04d", w.n)
	require.NoError(t, c.putRetry(timeout, k, v))
	w.acked[k] = v
}

// check requires every acknowledged write in state.
func (w *itWrites) check(t testing.TB, state map[string]string) {
	t.Helper()
	for k, v := range w.acked {
		require.Equal(t, v, state[k], "acknowledged write %s=%s lost", k, v)
	}
}

// TestNodeITLeaderCrashFailover kills the leader of a 3-node cluster: another
// node must take over, serve writes, and the revived old leader must rejoin
// as a follower with every acknowledged write.
func TestNodeITLeaderCrashFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(1), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		for range 20 {
			w.put(t, c, 5*time.Second)
		}
		_, term := c.leader()

		require.NoError(t, c.kill(lead))
		start := time.Now()
		next := c.waitLeader(4*itElection, term)
		t.Logf("killed leader %s (term %d); %s leads after %v", lead, term, next, time.Since(start))
		require.NotEqual(t, lead, next)
		for range 20 {
			w.put(t, c, 5*time.Second)
		}

		require.NoError(t, c.revive(lead))
		state := c.converge(20 * time.Second)
		w.check(t, state)
		node, _ := c.running(lead)
		require.Equal(t, raft.StateFollower, node.Status().Role, "revived old leader")
	})
}

// TestNodeITPartitionedLeader cuts the leader and one follower off from the
// other three nodes of five: calls on the minority side must fail fast with
// ErrQuorumLost or ErrNotLeader, the majority must elect a leader and go on,
// and healing must converge with no acknowledged write lost and no
// disruption of the new leader.
func TestNodeITPartitionedLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 5, Seed: itSeed(2), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		for range 10 {
			w.put(t, c, 5*time.Second)
		}
		_, term := c.leader()

		// Cut the leader and one follower off from the other three.
		var minority, majority []raft.NodeID
		minority = append(minority, lead)
		for _, id := range c.ids {
			if id == lead {
				continue
			}
			if len(minority) < 2 {
				minority = append(minority, id)
			} else {
				majority = append(majority, id)
			}
		}
		c.net.Partition(minority, majority)
		start := time.Now()

		// Calls on the minority side must fail fast, not hang until their
		// context ends: the old leader loses its quorum within about an
		// election timeout (check-quorum), and its follower stops hearing a
		// leader.
		type outcome struct {
			via     raft.NodeID
			err     error
			elapsed time.Duration
		}
		results := make(chan outcome, 4)
		for i, id := range minority {
			go func() {
				err := c.put(id, 30*time.Second, "minority", fmt.Sprintf("m%d", i))
				results <- outcome{id, err, time.Since(start)}
			}()
			go func() {
				_, err := c.get(id, 30*time.Second, "minority", false)
				results <- outcome{id, err, time.Since(start)}
			}()
		}

		next := c.waitLeader(10*itElection, term)
		require.Contains(t, majority, next)
		for range 10 {
			w.put(t, c, 5*time.Second)
		}
		for range 4 {
			r := <-results
			t.Logf("minority call via %s failed after %v: %v", r.via, r.elapsed, r.err)
			require.Error(t, r.err, "minority call via %s succeeded", r.via)
			require.True(t, itErrIs(r.err, raft.ErrQuorumLost, raft.ErrNotLeader),
				"minority call via %s: want ErrQuorumLost or ErrNotLeader, got %v", r.via, r.err)
			// The old leader steps down within two election timeouts
			// (check-quorum looks back one timeout, once per timeout). Its
			// follower learns there is no leader when its own election
			// timer fires, up to two timeouts later, and gives up after
			// two more without a leader (as Propose documents).
			bound := 2*itElection + 2*itTick
			if r.via != lead {
				bound += 4 * itElection
			}
			require.LessOrEqual(t, r.elapsed, bound, "minority call via %s took too long to fail", r.via)
		}
		node, _ := c.running(lead)
		require.NotEqual(t, raft.StateLeader, node.Status().Role, "old leader still leads in the minority")

		_, newTerm := c.leader()
		c.net.Heal()
		state := c.converge(20 * time.Second)
		w.check(t, state)
		// Pre-vote keeps the rejoining minority from deposing the leader.
		lead2, term2 := c.leader()
		require.Equal(t, next, lead2, "leadership changed when the partition healed")
		require.Equal(t, newTerm, term2, "term rose when the partition healed")
	})
}

// TestNodeITAsymmetricLinkLoss cuts one direction of the link between the
// leader and a follower: writes go on through the other follower, nobody's
// term moves, and the follower catches up once the link is back.
func TestNodeITAsymmetricLinkLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		// cut returns the directed link to cut, given the leader and a
		// follower.
		cut func(lead, f raft.NodeID) (from, to raft.NodeID)
	}{
		{"leader-to-follower", func(lead, f raft.NodeID) (raft.NodeID, raft.NodeID) { return lead, f }},
		{"follower-to-leader", func(lead, f raft.NodeID) (raft.NodeID, raft.NodeID) { return f, lead }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(3), WAL: true,
					Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
				defer c.close()
				w := newITWrites()
				lead := c.waitLeader(10*time.Second, 0)
				for range 5 {
					w.put(t, c, 5*time.Second)
				}
				_, term := c.leader()
				f := c.ids[0]
				if f == lead {
					f = c.ids[1]
				}
				from, to := tc.cut(lead, f)
				c.net.Cut(from, to)

				// The other follower still completes a quorum, so writes go
				// on; and since it hears the leader, the cut-off follower's
				// pre-votes fail and nobody's term moves.
				end := time.Now().Add(5 * itElection)
				for time.Now().Before(end) {
					w.put(t, c, 5*time.Second)
					pause(20 * time.Millisecond)
				}
				lead2, term2 := c.leader()
				require.Equal(t, lead, lead2, "leader changed while %s->%s was cut", from, to)
				require.Equal(t, term, term2, "term rose while %s->%s was cut", from, to)

				c.net.Restore(from, to)
				state := c.converge(20 * time.Second)
				w.check(t, state)
				lead3, term3 := c.leader()
				require.Equal(t, lead, lead3)
				require.Equal(t, term, term3)
			})
		})
	}
}

// TestNodeITRollingRestart restarts every node in turn, the leader last,
// each from its WAL directory (a snapshot plus a log suffix), with writes in
// between: none may be lost.
func TestNodeITRollingRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A small snapshot threshold makes the restarts recover from a
		// snapshot plus a log suffix, not from the log alone.
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(4), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) { cfg.Raft.SnapshotEntries = 16 }})
		defer c.close()
		w := newITWrites()
		c.waitLeader(10*time.Second, 0)
		// Enough for every node to hold a snapshot before it restarts.
		for range 30 {
			w.put(t, c, 5*time.Second)
		}
		// Restart the followers first and the leader last, so that the
		// leader's restart is the last step.
		lead, _ := c.leader()
		order := make([]raft.NodeID, 0, len(c.ids))
		for _, id := range c.ids {
			if id != lead {
				order = append(order, id)
			}
		}
		order = append(order, lead)
		for _, id := range order {
			require.NoError(t, c.stop(id), "stop %s", id)
			for range 25 {
				w.put(t, c, 10*time.Second)
			}
			require.NoError(t, c.start(id), "restart %s", id)
			state := c.converge(20 * time.Second)
			w.check(t, state)
		}
		for range 10 {
			w.put(t, c, 5*time.Second)
		}
		w.check(t, c.converge(20*time.Second))
		for _, id := range c.ids {
			_, sm := c.running(id)
			restores, _, _ := sm.counters()
			require.Positive(t, restores, "%s restarted without restoring the snapshot", id)
		}
	})
}

// itStatusErr summarizes a node's view for failure messages.
func itStatusErr(c *itCluster, id raft.NodeID) error {
	node, _ := c.running(id)
	if node == nil {
		return fmt.Errorf("%s down", id)
	}
	st := node.Status()
	return fmt.Errorf("%s: role %v term %d leader %s commit %d applied %d", id, st.Role, st.Term, st.Leader, st.Commit, st.Applied)
}

// itLeaderCall runs f on the current leader, retrying on a leader change
// until it succeeds or timeout passes.
func itLeaderCall(c *itCluster, timeout time.Duration, f func(ctx context.Context, n *raft.Node) error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		lead, _ := c.leader()
		node, _ := c.running(lead)
		if node == nil {
			pause(10 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err = f(ctx, node)
		cancel()
		if err == nil || !itErrIs(err, raft.ErrNotLeader, raft.ErrQuorumLost, raft.ErrConfChangePending) {
			return err
		}
		pause(20 * time.Millisecond)
	}
	return errors.Join(fmt.Errorf("not done within %v", timeout), err)
}

// TestNodeITIsolatedLeaderReads isolates a leader that serves lease reads
// and keeps reading through it, with both barriers, while the others elect
// a new leader and overwrite the key. A read through the old leader may
// succeed only while its lease can still hold, and may never return the
// old value once the new one was acknowledged. The drift case gives the
// nodes tick intervals up to 8% apart, within the lease's default drift
// bound (LeaseDriftTicks 2 of ElectionTicks 10).
func TestNodeITIsolatedLeaderReads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ticks map[raft.NodeID]time.Duration
	}{
		{"same-clock", nil},
		{"drift", map[raft.NodeID]time.Duration{"n1": itTick, "n2": 46 * time.Millisecond, "n3": 48 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) { testIsolatedLeaderReads(t, tc.ticks) })
	}
}

func testIsolatedLeaderReads(t *testing.T, ticks map[raft.NodeID]time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(9), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(id raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Raft.LeaseReads = true
				if d, ok := ticks[id]; ok {
					cfg.TickInterval = d
				}
			}})
		defer c.close()
		lead := c.waitLeader(10*time.Second, 0)
		require.NoError(t, c.putRetry(5*time.Second, "k", "old"))
		v, err := c.get(lead, time.Second, "k", true)
		require.NoError(t, err)
		require.Equal(t, "old", v)
		_, term := c.leader()

		c.net.Isolate(lead)
		isolated := time.Now()
		type read struct {
			at    time.Duration
			lease bool
			v     string
			err   error
		}
		var mu sync.Mutex
		var reads []read
		var overwritten time.Duration // since isolation; 0 until acknowledged
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Stop the background goroutines also when the test fails first.
		stopAll := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopAll()
		for _, lease := range []bool{true, false} {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, err := c.get(lead, 200*time.Millisecond, "k", lease)
					mu.Lock()
					reads = append(reads, read{time.Since(isolated), lease, v, err})
					mu.Unlock()
					pause(5 * time.Millisecond)
				}
			})
		}

		var next raft.NodeID
		require.True(t, waitFor(10*time.Second, time.Millisecond, func() bool {
			l, tm := c.leader()
			next = l
			return l != lead && l != raft.None && tm > term
		}), "no new leader")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		node, _ := c.running(next)
		_, err = node.Propose(ctx, itCmd("k", "new"))
		cancel()
		require.NoError(t, err)
		mu.Lock()
		overwritten = time.Since(isolated)
		mu.Unlock()
		pause(2 * itElection)
		stopAll()

		var lastOK time.Duration
		for _, r := range reads {
			if r.err != nil {
				continue
			}
			lastOK = max(lastOK, r.at)
			require.Equal(t, "old", r.v, "read (lease %v) %v after isolation", r.lease, r.at)
			require.Less(t, r.at, overwritten, "isolated leader served a read (lease %v) at %v, after the overwrite at %v", r.lease, r.at, overwritten)
		}
		t.Logf("isolated leader %s: %d reads, last success %v after isolation; %s overwrote the key %v after isolation",
			lead, len(reads), lastOK, next, overwritten)
		c.net.Heal()
		state := c.converge(20 * time.Second)
		require.Equal(t, "new", state["k"])
	})
}

// TestNodeITFullClusterRestart stops every node, as after a power cut or a
// redeploy of the whole cluster, and starts them all again from their WALs:
// they must elect a leader and keep every acknowledged write.
func TestNodeITFullClusterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(12), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) { cfg.Raft.SnapshotEntries = 16 }})
		defer c.close()
		w := newITWrites()
		c.waitLeader(10*time.Second, 0)
		for round := range 3 {
			for range 25 {
				w.put(t, c, 5*time.Second)
			}
			_, term := c.leader()
			for _, id := range c.ids {
				require.NoError(t, c.stop(id), "round %d: stop %s", round, id)
			}
			pause(itElection)
			for _, id := range c.ids {
				require.NoError(t, c.start(id), "round %d: start %s", round, id)
			}
			start := time.Now()
			c.waitLeader(10*itElection, term)
			t.Logf("round %d: leader after %v", round, time.Since(start))
			w.check(t, c.converge(20*time.Second))
		}
	})
}

// TestNodeITRemoveLeader removes the leader from the cluster while clients
// write: it must hand over to a new leader, and no acknowledged write may be
// lost.
func TestNodeITRemoveLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 4, Seed: itSeed(13), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		lead := c.waitLeader(10*time.Second, 0)
		w := c.startWriters(2, "r", 5*time.Millisecond)
		defer w.halt()
		pause(300 * time.Millisecond)
		_, term := c.leader()
		node, _ := c.running(lead)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := node.RemoveServer(ctx, lead)
		cancel()
		require.NoError(t, err, "leader %s removing itself", lead)
		next := c.waitLeader(4*itElection, term)
		require.NotEqual(t, lead, next)
		require.NoError(t, c.retire(lead))
		pause(300 * time.Millisecond)
		w.halt()
		state := c.converge(20 * time.Second)
		require.NotEmpty(t, w.acked)
		for k, v := range w.acked {
			require.Equal(t, v, state[k], "acknowledged write %s=%s lost", k, v)
		}
		require.Equal(t, itVoter{}, c.voter(lead), "removed leader %s still listed", lead)
	})
}

// TestNodeITIsolatedFollowerRejoins cuts a follower off for ten election
// timeouts while the others keep writing. Pre-vote keeps it from raising its
// term meanwhile, so when it comes back it rejoins without deposing the
// leader (no term bump) and catches up.
func TestNodeITIsolatedFollowerRejoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(16), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
		defer c.close()
		w := newITWrites()
		lead := c.waitLeader(10*time.Second, 0)
		_, term := c.leader()
		f := c.ids[0]
		if f == lead {
			f = c.ids[1]
		}
		c.net.Isolate(f)
		end := time.Now().Add(10 * itElection)
		for time.Now().Before(end) {
			w.put(t, c, 5*time.Second)
			pause(50 * time.Millisecond)
		}
		fn, _ := c.running(f)
		st := fn.Status()
		require.Equal(t, term, st.Term, "isolated follower %s raised its term to %d", f, st.Term)
		c.net.Heal()
		w.check(t, c.converge(20*time.Second))
		lead2, term2 := c.leader()
		require.Equal(t, lead, lead2, "leadership changed when %s rejoined", f)
		require.Equal(t, term, term2, "term rose when %s rejoined", f)
	})
}

// TestNodeITPowerCut cuts the power of nodes under a steady write load, on
// file systems that lose what was not fsynced (itCrashFS): one node at a
// time, then the whole cluster at once. A write is acknowledged only once a
// quorum holds it durably, so none may be lost.
func TestNodeITPowerCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(17), CrashFS: true, SyncTime: 5 * time.Millisecond,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: 2 * time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) { cfg.Raft.SnapshotEntries = 32 }})
		defer c.close()
		c.waitLeader(10*time.Second, 0)
		w := c.startWriters(3, "p", 2*time.Millisecond)
		defer w.halt()
		rng := rand.New(rand.NewPCG(c.cfg.Seed, 0x90e7))
		for round := range 20 {
			pause(time.Duration(50+rng.IntN(300)) * time.Millisecond)
			victims := c.ids
			if round%4 != 3 {
				// One node, often the leader.
				lead, _ := c.leader()
				v := c.ids[rng.IntN(len(c.ids))]
				if rng.IntN(2) == 0 && lead != raft.None {
					v = lead
				}
				victims = []raft.NodeID{v}
			}
			for _, id := range victims {
				require.NoError(t, c.kill(id))
			}
			pause(time.Duration(rng.IntN(500)) * time.Millisecond)
			for _, id := range victims {
				require.NoError(t, c.revive(id), "round %d: revive %s", round, id)
			}
		}
		pause(time.Second)
		w.halt()
		state := c.converge(30 * time.Second)
		c.mu.Lock()
		lost := c.lostBytes
		c.mu.Unlock()
		t.Logf("%d acknowledged writes; power cuts threw away %d unsynced bytes", len(w.acked), lost)
		require.Positive(t, lost, "the power cuts lost nothing: the test does not test durability")
		for k, v := range w.acked {
			require.Equal(t, v, state[k], "acknowledged write %s=%s lost", k, v)
		}
	})
}
