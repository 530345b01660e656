package raft_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// kvSM is a small replicated map for the node tests. A command "k=v" sets
// k; its result is how many commands the machine has applied (as a string,
// so that session results survive snapshots), so tests can tell whether a
// command was applied once.
type kvSM struct {
	mu      sync.Mutex
	m       map[string]string
	applied int
}

func newKV() *kvSM { return &kvSM{m: map[string]string{}} }

func (s *kvSM) Apply(cmds []raft.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range cmds {
		k, v, _ := strings.Cut(string(cmds[i].Data), "=")
		s.m[k] = v
		s.applied++
		cmds[i].Result = strconv.Itoa(s.applied)
	}
	return nil
}

type kvSnap struct {
	M       map[string]string
	Applied int
}

func (s *kvSM) Snapshot() (raft.SnapshotWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &kvWriter{snap: kvSnap{M: maps.Clone(s.m), Applied: s.applied}}, nil
}

func (s *kvSM) Restore(r io.Reader) error {
	var snap kvSnap
	if err := json.NewDecoder(r).Decode(&snap); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m, s.applied = snap.M, snap.Applied
	if s.m == nil {
		s.m = map[string]string{}
	}
	return nil
}

func (s *kvSM) get(k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}

func (s *kvSM) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

type kvWriter struct{ snap kvSnap }

func (w *kvWriter) WriteSnapshot(out io.Writer) error { return json.NewEncoder(out).Encode(w.snap) }
func (w *kvWriter) Release()                          {}

// testCluster is n nodes on one memnet network; create it inside a synctest
// bubble.
type testCluster struct {
	t      *testing.T
	net    *memnet.Network
	ids    []raft.NodeID
	nodes  map[raft.NodeID]*raft.Node
	sms    map[raft.NodeID]*kvSM
	stores map[raft.NodeID]*raft.MemoryStorage
	eps    map[raft.NodeID]*memnet.Endpoint
	tweak  func(*raft.NodeConfig)
}

func newTestCluster(t *testing.T, size int, tweak func(*raft.NodeConfig)) *testCluster {
	t.Helper()
	net, err := memnet.New(memnet.Config{Seed: 1, Link: memnet.Link{Latency: time.Millisecond}})
	require.NoError(t, err)
	c := &testCluster{t: t, net: net, nodes: map[raft.NodeID]*raft.Node{}, sms: map[raft.NodeID]*kvSM{},
		stores: map[raft.NodeID]*raft.MemoryStorage{}, eps: map[raft.NodeID]*memnet.Endpoint{}, tweak: tweak}
	for i := 1; i <= size; i++ {
		c.ids = append(c.ids, raft.NodeID(fmt.Sprintf("n%d", i)))
	}
	for i, id := range c.ids {
		ep, err := net.Join(id)
		require.NoError(t, err)
		c.eps[id] = ep
		c.stores[id] = raft.NewMemoryStorage()
		c.start(id, uint64(i+1))
	}
	return c
}

func (c *testCluster) start(id raft.NodeID, seed uint64) {
	c.t.Helper()
	c.sms[id] = newKV()
	cfg := raft.NodeConfig{
		Raft:         raft.Config{ID: id, Voters: c.ids, Seed: seed},
		Transport:    c.eps[id],
		Storage:      c.stores[id],
		StateMachine: c.sms[id],
		TickInterval: 10 * time.Millisecond,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	n, err := raft.NewNode(cfg)
	require.NoError(c.t, err)
	require.NoError(c.t, n.Start())
	c.nodes[id] = n
}

func (c *testCluster) close() {
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			require.NoError(c.t, n.Close())
		}
	}
	require.NoError(c.t, c.net.Close())
}

// leader waits until every node agrees on one leader and returns it.
func (c *testCluster) leader() raft.NodeID {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var lead raft.NodeID
		agree := true
		for _, id := range c.ids {
			n := c.nodes[id]
			if n == nil {
				continue
			}
			l, err := n.WaitLeader(ctx)
			require.NoError(c.t, err)
			if lead == raft.None {
				lead = l
			} else if l != lead {
				agree = false
			}
		}
		if agree && c.nodes[lead] != nil && c.nodes[lead].Status().Role == raft.StateLeader {
			return lead
		}
		time.Sleep(10 * time.Millisecond) // virtual time: lets the election settle
	}
}

func (c *testCluster) follower(lead raft.NodeID) raft.NodeID {
	for _, id := range c.ids {
		if id != lead && c.nodes[id] != nil {
			return id
		}
	}
	panic("no follower")
}

func TestNodeProposeReadStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()

		res, err := c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.NoError(t, err)
		require.Equal(t, "1", res)
		v, ok := c.sms[lead].get("a")
		require.True(t, ok)
		require.Equal(t, "1", v)

		// A follower forwards, and gets the result of applying on itself.
		f := c.follower(lead)
		res, err = c.nodes[f].Propose(ctx, []byte("b=2"))
		require.NoError(t, err)
		require.Equal(t, "2", res)
		v, _ = c.sms[f].get("b")
		require.Equal(t, "2", v)

		// ReadIndex on every node sees both writes.
		for _, id := range c.ids {
			require.NoError(t, c.nodes[id].ReadIndex(ctx))
			v, ok := c.sms[id].get("b")
			require.True(t, ok, "node %s", id)
			require.Equal(t, "2", v)
			require.NoError(t, c.nodes[id].LeaseRead(ctx))
		}

		st := c.nodes[lead].Status()
		require.Equal(t, raft.StateLeader, st.Role)
		require.Equal(t, lead, st.Leader)
		require.Equal(t, lead, st.ID)
		require.GreaterOrEqual(t, st.Commit, uint64(3))
		require.Equal(t, st.Commit, st.Applied)
		require.Len(t, st.Progress, 3)
		for _, p := range st.Progress {
			require.Equal(t, st.LastIndex, p.Match, "peer %s", p.ID)
			require.True(t, p.Voter)
		}
		fst := c.nodes[f].Status()
		require.Equal(t, raft.StateFollower, fst.Role)
		require.Equal(t, lead, fst.Leader)
		require.Equal(t, st.Term, fst.Term)
		require.Nil(t, fst.Progress)
	})
}

func TestNodeConcurrentProposals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		results := make(chan string, 200)
		for i := 0; i < 200; i++ {
			id := c.ids[i%3]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := c.nodes[id].Propose(ctx, fmt.Appendf(nil, "k%d=%d", i, i))
				if err != nil {
					t.Errorf("propose %d on %s: %v", i, id, err)
					return
				}
				results <- res.(string)
			}()
		}
		wg.Wait()
		close(results)
		seen := map[string]bool{}
		for r := range results {
			require.False(t, seen[r], "result %s twice", r)
			seen[r] = true
		}
		require.Len(t, seen, 200)
		require.NoError(t, c.nodes[lead].ReadIndex(ctx))
		require.Equal(t, 200, c.sms[lead].count())
	})
}

func TestNodeCloseFailsPendingCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		lead := c.leader()
		f := c.follower(lead)
		// Cut the follower off so its calls cannot finish, then close it.
		c.net.Isolate(f)
		errs := make(chan error, 3)
		ctx := context.Background()
		go func() { _, err := c.nodes[f].Propose(ctx, []byte("x=1")); errs <- err }()
		go func() { errs <- c.nodes[f].ReadIndex(ctx) }()
		go func() { _, err := c.nodes[f].WaitLeader(ctx); errs <- err }()
		synctest.Wait()
		require.NoError(t, c.nodes[f].Close())
		for i := 0; i < 3; i++ {
			err := <-errs
			// WaitLeader may have returned the old leader at once.
			if err != nil {
				require.ErrorIs(t, err, raft.ErrStopped)
			}
		}
		require.NoError(t, c.nodes[f].Close(), "Close is idempotent")
		_, err := c.nodes[f].Propose(ctx, []byte("y=1"))
		require.ErrorIs(t, err, raft.ErrStopped)
		require.ErrorIs(t, c.nodes[f].Start(), raft.ErrStopped)
		c.close()
	})
}

var _ transport.NodeID

func TestNodeQuorumLostWhenLeaderIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		c.net.Isolate(lead)
		start := time.Now()
		// The isolated leader cannot commit: check-quorum makes it step down
		// within an election timeout and the call fails, not hangs.
		_, err := c.nodes[lead].Propose(context.Background(), []byte("x=1"))
		require.ErrorIs(t, err, raft.ErrQuorumLost)
		require.LessOrEqual(t, time.Since(start), 2*10*10*time.Millisecond)
		// With no leader for two election timeouts, calls fail at once.
		time.Sleep(2 * 10 * 10 * time.Millisecond)
		start = time.Now()
		err = c.nodes[lead].ReadIndex(context.Background())
		require.ErrorIs(t, err, raft.ErrQuorumLost)
		require.Zero(t, time.Since(start))

		// The others elect a new leader and go on.
		c.net.Heal()
		c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := c.nodes[lead].Propose(ctx, []byte("y=1"))
		require.NoError(t, err)
		require.NotNil(t, res)
		v, _ := c.sms[lead].get("y")
		require.Equal(t, "1", v)
	})
}

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

func TestNodeDropsBadPayloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		evil, err := c.net.Join("evil")
		require.NoError(t, err)
		defer evil.Close()
		good := raft.AppendMessage(nil, &raft.Message{Type: raft.MsgHeartbeat, Term: 1})
		for _, p := range [][]byte{nil, {0}, {1, 200}, {1, 6, 0, 0xff, 0xff}, good[:len(good)-1], []byte("garbage")} {
			for _, id := range c.ids {
				require.NoError(t, evil.Send(context.Background(), id, p))
			}
		}
		// A well-formed message from a stranger is ignored too.
		for _, id := range c.ids {
			require.NoError(t, evil.Send(context.Background(), id, raft.AppendMessage(nil, &raft.Message{Type: raft.MsgVote, Term: 100})))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.NoError(t, err)
		require.Equal(t, lead, c.leader())
	})
}

func TestNodeTransferAndMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		f := c.follower(lead)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.NoError(t, err)

		require.NoError(t, c.nodes[lead].TransferLeadership(ctx, f))
		require.Equal(t, f, c.leader())
		err = c.nodes[lead].TransferLeadership(ctx, f)
		var nl *raft.NotLeaderError
		require.ErrorAs(t, err, &nl)
		lead = f

		// A fourth node joins as a learner, then becomes a voter.
		ep, err := c.net.Join("n4")
		require.NoError(t, err)
		c.eps["n4"] = ep
		c.stores["n4"] = raft.NewMemoryStorage()
		c.ids = append(c.ids, "n4")
		oldTweak := c.tweak
		c.tweak = func(cfg *raft.NodeConfig) {
			if cfg.Raft.ID == "n4" {
				cfg.Raft.Voters = nil
				cfg.Raft.Join = true
			}
		}
		c.start("n4", 4)
		c.tweak = oldTweak
		require.NoError(t, c.nodes[lead].AddLearner(ctx, "n4"))
		require.NoError(t, c.nodes[lead].AddVoter(ctx, "n4"))
		for {
			voter := false
			for _, p := range c.nodes[lead].Status().Progress {
				if p.ID == "n4" && p.Voter {
					voter = true
				}
			}
			if voter {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, c.nodes["n4"].ReadIndex(ctx))
		v, _ := c.sms["n4"].get("a")
		require.Equal(t, "1", v)

		// Membership calls on a follower name the leader.
		err = c.nodes["n4"].RemoveServer(ctx, "n1")
		require.ErrorAs(t, err, &nl)
		require.Equal(t, lead, nl.Leader)
		require.NoError(t, c.nodes[lead].RemoveServer(ctx, "n4"))
		require.Len(t, c.nodes[lead].Status().Progress, 3)
	})
}

func TestNodeRemoveLeaderItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.NoError(t, err)
		require.NoError(t, c.nodes[lead].RemoveServer(ctx, lead))
		old := lead
		c.nodes[old].Close()
		delete(c.nodes, old)
		lead = c.leader()
		require.NotEqual(t, old, lead)
		_, err = c.nodes[lead].Propose(ctx, []byte("b=1"))
		require.NoError(t, err)
		require.Len(t, c.nodes[lead].Status().Progress, 2)
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

func TestNodeQuorumLostErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		f := c.follower(lead)
		c.net.Isolate(f)
		// Once f has not heard from the leader for an election timeout,
		// its calls fail at once, and say they were not proposed.
		time.Sleep(10 * 10 * time.Millisecond)
		synctest.Wait()
		start := time.Now()
		_, err := c.nodes[f].Propose(context.Background(), []byte("x=1"))
		require.Zero(t, time.Since(start))
		require.ErrorIs(t, err, raft.ErrQuorumLost)
		require.ErrorIs(t, err, raft.ErrNotLeader)
		var nl *raft.NotLeaderError
		require.ErrorAs(t, err, &nl)
		require.Equal(t, raft.None, nl.Leader)
		require.ErrorIs(t, c.nodes[f].ReadIndex(context.Background()), raft.ErrQuorumLost)
		// WaitLeader is not failed by a lost quorum: it waits for its ctx.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = c.nodes[f].WaitLeader(ctx)
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
	})
}

// blockingSM is a kvSM whose Apply waits while its gate is shut. The gate
// is a channel, which testing/synctest sees as durably blocking.
type blockingSM struct {
	*kvSM
	gate atomic.Pointer[chan struct{}]
}

func (s *blockingSM) Apply(cmds []raft.Command) error {
	if g := s.gate.Load(); g != nil {
		<-*g
	}
	return s.kvSM.Apply(cmds)
}

func (s *blockingSM) shut() {
	g := make(chan struct{})
	s.gate.Store(&g)
}

func (s *blockingSM) open() { close(*s.gate.Load()) }

// TestNodeSlowStateMachine checks that a stalled state machine neither
// stalls consensus (no election while it waits) nor lets proposals pile up
// without bound in the apply queue.
func TestNodeSlowStateMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := map[raft.NodeID]*blockingSM{}
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			cfg.Raft.MaxApplyBytes = 1000
			b := &blockingSM{kvSM: cfg.StateMachine.(*kvSM)}
			slow[cfg.Raft.ID] = b
			cfg.StateMachine = b
		})
		defer c.close()
		lead := c.leader()
		term := c.nodes[lead].Status().Term
		for _, b := range slow {
			b.shut()
		}
		opened := false
		openAll := func() {
			if !opened {
				opened = true
				for _, b := range slow {
					b.open()
				}
			}
		}
		defer openAll()
		var wg sync.WaitGroup
		propose := func(from, to int) {
			for i := from; i < to; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					cmd := fmt.Appendf(nil, "k%d=%s", i, strings.Repeat("x", 100))
					if _, err := c.nodes[lead].Propose(ctx, cmd); err != nil {
						t.Errorf("propose %d: %v", i, err)
					}
				}()
			}
		}
		// The first wave commits (consensus goes on); once its entries
		// wait to be applied beyond 2*MaxApplyBytes, the second wave
		// waits in its callers instead of growing the log and the apply
		// queue.
		propose(0, 100)
		time.Sleep(time.Second)
		first := c.nodes[lead].Status()
		require.Equal(t, first.LastIndex, first.Commit)
		propose(100, 200)
		time.Sleep(2 * time.Second)
		st := c.nodes[lead].Status()
		require.Equal(t, term, st.Term, "an election happened while the state machine was slow")
		require.Equal(t, raft.StateLeader, st.Role)
		require.Equal(t, first.LastIndex, st.LastIndex, "status %+v", st)
		openAll()
		wg.Wait()
		require.Equal(t, 200, c.sms[lead].count())
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

func TestNodeLeaseRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) { cfg.Raft.LeaseReads = true })
		defer c.close()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // heartbeats establish the lease
		// The leader serves a lease read without a round trip (links have
		// 1 ms of latency); ReadIndex always confirms with one.
		start := time.Now()
		require.NoError(t, c.nodes[lead].LeaseRead(ctx))
		require.Less(t, time.Since(start), time.Millisecond)
		start = time.Now()
		require.NoError(t, c.nodes[lead].ReadIndex(ctx))
		require.GreaterOrEqual(t, time.Since(start), 2*time.Millisecond)
		f := c.follower(lead)
		require.NoError(t, c.nodes[f].LeaseRead(ctx))
		v, _ := c.sms[f].get("a")
		require.Equal(t, "1", v)
		// A transfer ends the lease on the old leader.
		require.NoError(t, c.nodes[lead].TransferLeadership(ctx, f))
		err = c.nodes[lead].LeaseRead(ctx)
		require.NoError(t, err)
		v, _ = c.sms[lead].get("a")
		require.Equal(t, "1", v)
	})
}

func TestNodeCommandTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) { cfg.MaxCommandBytes = 1000 })
		defer c.close()
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, make([]byte, 1001))
		require.ErrorIs(t, err, raft.ErrCommandTooLarge)
		_, err = c.nodes[lead].Propose(ctx, append([]byte("a="), make([]byte, 998)...))
		require.NoError(t, err)
	})
}
