package raft_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// kvSM is a small replicated map for the node tests. A command "k=v" sets
// k; its result is how many commands the machine has applied, so tests can
// tell whether a command was applied once.
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
		cmds[i].Result = s.applied
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
		if agree && c.nodes[lead].Status().Role == raft.StateLeader {
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
		require.Equal(t, 1, res)
		v, ok := c.sms[lead].get("a")
		require.True(t, ok)
		require.Equal(t, "1", v)

		// A follower forwards, and gets the result of applying on itself.
		f := c.follower(lead)
		res, err = c.nodes[f].Propose(ctx, []byte("b=2"))
		require.NoError(t, err)
		require.Equal(t, 2, res)
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
		results := make(chan int, 200)
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
				results <- res.(int)
			}()
		}
		wg.Wait()
		close(results)
		seen := map[int]bool{}
		for r := range results {
			require.False(t, seen[r], "result %d twice", r)
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

var _ = errors.Is
var _ transport.NodeID
