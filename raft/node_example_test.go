package raft_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
)

// counter is a replicated counter: each command adds its length to the
// total, and its result is the new total.
type counter struct {
	mu    sync.Mutex
	total int
}

func (c *counter) Apply(cmds []raft.Command) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range cmds {
		c.total += len(cmds[i].Data)
		cmds[i].Result = c.total
	}
	return nil
}

func (c *counter) Snapshot() (raft.SnapshotWriter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counterSnap(c.total), nil // a copy: later Applies do not touch it
}

func (c *counter) Restore(r io.Reader) error {
	var total int
	if _, err := fmt.Fscan(r, &total); err != nil {
		return err
	}
	c.mu.Lock()
	c.total = total
	c.mu.Unlock()
	return nil
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

type counterSnap int

func (s counterSnap) WriteSnapshot(w io.Writer) error { _, err := fmt.Fprint(w, int(s)); return err }
func (s counterSnap) Release()                        {}

// ExampleNode runs a three-node cluster in one process over memnet,
// proposes from a follower, and reads linearizably on another node.
func ExampleNode() {
	net, err := memnet.New(memnet.Config{})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	ids := []raft.NodeID{"n1", "n2", "n3"}
	nodes := map[raft.NodeID]*raft.Node{}
	sms := map[raft.NodeID]*counter{}
	for i, id := range ids {
		ep, err := net.Join(id)
		if err != nil {
			panic(err)
		}
		sms[id] = &counter{}
		n, err := raft.NewNode(raft.NodeConfig{
			Raft:         raft.Config{ID: id, Voters: ids, Seed: uint64(i + 1)},
			Transport:    ep,
			Storage:      raft.NewMemoryStorage(),
			StateMachine: sms[id],
			TickInterval: 5 * time.Millisecond,
		})
		if err != nil {
			panic(err)
		}
		if err := n.Start(); err != nil {
			panic(err)
		}
		defer n.Close()
		nodes[id] = n
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader, err := nodes["n1"].WaitLeader(ctx)
	if err != nil {
		panic(err)
	}
	var follower, other raft.NodeID
	for _, id := range ids {
		switch {
		case id == leader:
		case follower == raft.None:
			follower = id
		default:
			other = id
		}
	}
	// A follower forwards the proposal to the leader and returns the
	// result of applying it on the follower itself.
	res, err := nodes[follower].Propose(ctx, []byte("hello"))
	if err != nil {
		panic(err)
	}
	fmt.Println("total after proposing:", res)
	res, err = nodes[leader].Propose(ctx, bytes.Repeat([]byte("x"), 10))
	if err != nil {
		panic(err)
	}
	fmt.Println("total after proposing:", res)

	// ReadIndex makes the third node's state machine catch up with every
	// acknowledged write before it is read.
	if err := nodes[other].ReadIndex(ctx); err != nil {
		panic(err)
	}
	fmt.Println("total read on another node:", sms[other].get())
	// Output:
	// total after proposing: 5
	// total after proposing: 15
	// total read on another node: 15
}
