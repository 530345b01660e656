package raft_test

import (
	"fmt"

	"github.com/distkit/distkit/raft"
)

// Example runs a three-node cluster in one goroutine, passing messages from
// core to core directly, and commits one entry.
func Example() {
	ids := []raft.NodeID{"n1", "n2", "n3"}
	cores := map[raft.NodeID]*raft.Core{}
	stores := map[raft.NodeID]*raft.MemoryStorage{}
	for i, id := range ids {
		stores[id] = raft.NewMemoryStorage()
		c, err := raft.New(raft.Config{ID: id, Voters: ids, Storage: stores[id], Seed: uint64(i + 1)})
		if err != nil {
			panic(err)
		}
		cores[id] = c
	}
	deliver := func(ms []raft.Message) {
		for _, m := range ms {
			_ = cores[m.To].Step(m)
		}
	}
	// run carries out every node's batches until the cluster is quiet.
	run := func() {
		for busy := true; busy; {
			busy = false
			for _, id := range ids {
				c := cores[id]
				rd := c.Ready()
				if rd == nil {
					continue
				}
				busy = true
				deliver(rd.Messages)
				if err := stores[id].Save(rd.Persist); err != nil {
					panic(err)
				}
				deliver(rd.Persisted())
				for _, e := range rd.Apply {
					if len(e.Data) > 0 {
						fmt.Printf("%s applied %q at index %d\n", id, e.Data, e.Index)
					}
				}
				if err := c.Advance(rd); err != nil {
					panic(err)
				}
			}
		}
	}
	// Tick n1 until its election timeout fires and it wins.
	for cores["n1"].Status().State != raft.StateLeader {
		cores["n1"].Tick()
		run()
	}
	if _, _, err := cores["n1"].Propose([]byte("hello")); err != nil {
		panic(err)
	}
	run()
	_, _, err := cores["n2"].Propose([]byte("from a follower"))
	fmt.Println(err)
	// Output:
	// n1 applied "hello" at index 2
	// n2 applied "hello" at index 2
	// n3 applied "hello" at index 2
	// raft: not leader (leader is "n1")
}
