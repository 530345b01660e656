package raft_test

import (
	"fmt"
	"os"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
)

// ExampleOpenWALStorage runs a single-node cluster on a WAL, commits an
// entry, then "restarts" the node: the new Core reads its term, vote and
// log back from the directory.
func ExampleOpenWALStorage() {
	dir, err := os.MkdirTemp("", "walstorage-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	start := func() (*raft.WALStorage, *raft.Core) {
		store, err := raft.OpenWALStorage(wal.Config{Dir: dir})
		if err != nil {
			panic(err)
		}
		core, err := raft.New(raft.Config{ID: "n1", Voters: []raft.NodeID{"n1"}, Storage: store, Seed: 1})
		if err != nil {
			panic(err)
		}
		return store, core
	}
	run := func(store *raft.WALStorage, core *raft.Core) {
		for rd := core.Ready(); rd != nil; rd = core.Ready() {
			if err := store.Save(rd.Persist); err != nil { // durable when it returns
				panic(err)
			}
			rd.Persisted() // a single node has no one to send to
			for _, e := range rd.Apply {
				if len(e.Data) > 0 {
					fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
				}
			}
			if err := core.Advance(rd); err != nil {
				panic(err)
			}
		}
	}

	store, core := start()
	for core.Status().State != raft.StateLeader {
		core.Tick()
		run(store, core)
	}
	if _, _, err := core.Propose([]byte("hello")); err != nil {
		panic(err)
	}
	run(store, core)
	if err := store.Close(); err != nil {
		panic(err)
	}

	store, core = start()
	defer store.Close()
	hs, _, _ := store.InitialState()
	st := core.Status()
	fmt.Printf("after restart: term %d, vote %s, last index %d\n", st.Term, hs.Vote, st.LastIndex)
	// Output:
	// applied "hello" at index 2
	// after restart: term 1, vote n1, last index 2
}
