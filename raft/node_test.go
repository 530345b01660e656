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

// failingSM fails Apply on the command "boom".
type failingSM struct{ *kvSM }

var errBoom = errors.New("boom")

func (s failingSM) Apply(cmds []raft.Command) error {
	for _, c := range cmds {
		if string(c.Data) == "boom" {
			return errBoom
		}
	}
	return s.kvSM.Apply(cmds)
}

// TestNodeStateMachineErrorStops checks that an Apply error stops the node:
// its calls fail with ErrStopped wrapping the error, and Close returns it.
func TestNodeStateMachineErrorStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			cfg.StateMachine = failingSM{cfg.StateMachine.(*kvSM)}
		})
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, []byte("boom"))
		require.ErrorIs(t, err, raft.ErrStopped)
		require.ErrorIs(t, err, errBoom)
		_, err = c.nodes[lead].Propose(ctx, []byte("a=1"))
		require.ErrorIs(t, err, raft.ErrStopped)
		st := c.nodes[lead].Status()
		require.True(t, st.Stopped)
		require.ErrorIs(t, st.Err, errBoom)
		require.ErrorIs(t, c.nodes[lead].Close(), errBoom)
		require.ErrorIs(t, c.nodes[lead].Close(), errBoom, "Close is idempotent")
		// The followers may or may not have learnt that "boom" committed.
		for _, id := range c.ids {
			if id != lead {
				if err := c.nodes[id].Close(); err != nil {
					require.ErrorIs(t, err, errBoom)
				}
			}
		}
		require.NoError(t, c.net.Close())
	})
}

// BenchmarkNodePropose measures one proposal's round trip through a
// three-node cluster in one process on memnet, from the leader: alone, and
// with 64 proposers sharing the cluster (which batches their entries).
func BenchmarkNodePropose(b *testing.B) {
	net, err := memnet.New(memnet.Config{})
	require.NoError(b, err)
	defer net.Close()
	ids := []raft.NodeID{"n1", "n2", "n3"}
	nodes := map[raft.NodeID]*raft.Node{}
	for i, id := range ids {
		ep, err := net.Join(id)
		require.NoError(b, err)
		n, err := raft.NewNode(raft.NodeConfig{
			Raft:         raft.Config{ID: id, Voters: ids, Seed: uint64(i + 1)},
			Transport:    ep,
			Storage:      raft.NewMemoryStorage(),
			StateMachine: newKV(),
			TickInterval: 10 * time.Millisecond,
		})
		require.NoError(b, err)
		require.NoError(b, n.Start())
		defer n.Close()
		nodes[id] = n
	}
	ctx := context.Background()
	lead, err := nodes["n1"].WaitLeader(ctx)
	require.NoError(b, err)
	leader := nodes[lead]
	cmd := []byte("key=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567")
	b.Run("proposers=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := leader.Propose(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proposers=64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // 64 goroutines on 2 CPUs
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := leader.Propose(ctx, cmd); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
