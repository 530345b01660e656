package wal_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/distkit/distkit/raft/wal"
)

func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	w, err := wal.Open(wal.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	hs := wal.HardState{Term: 1, Vote: "n1", Commit: 2}
	err = w.Save(ctx, &hs, []wal.Entry{
		{Index: 1, Term: 1, Data: []byte("set x=1")},
		{Index: 2, Term: 1, Data: []byte("set y=2")},
		{Index: 3, Term: 1, Data: []byte("set z=3")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// A new leader in term 2 replaces the uncommitted entry 3.
	if err := w.Save(ctx, nil, []wal.Entry{{Index: 3, Term: 2, Data: []byte("set z=4")}}); err != nil {
		log.Fatal(err)
	}
	w.Close()

	// After a restart the log and the hard state are back.
	w, err = wal.Open(wal.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	ents, err := w.Entries(w.FirstIndex(), w.LastIndex()+1, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range ents {
		fmt.Printf("%d/%d %s\n", e.Index, e.Term, e.Data)
	}
	fmt.Printf("%+v\n", w.HardState())
	// Output:
	// 1/1 set x=1
	// 2/1 set y=2
	// 3/2 set z=4
	// {Term:1 Vote:n1 Commit:2}
}

func ExampleSnapshotStore() {
	dir, err := os.MkdirTemp("", "snap-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := wal.OpenSnapshots(wal.SnapshotConfig{Dir: dir, Retain: 2})
	if err != nil {
		log.Fatal(err)
	}
	sw, err := store.Create(wal.SnapshotMeta{Index: 100, Term: 3, Metadata: []byte("voters=a,b,c")})
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(sw, `{"x":1,"y":2}`)
	if err := sw.Commit(); err != nil {
		log.Fatal(err)
	}

	meta, r, err := store.Latest()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	state, err := io.ReadAll(r) // fails with wal.ErrCorrupt if the checksum does not match
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("index %d term %d %s: %s\n", meta.Index, meta.Term, meta.Metadata, state)
	// Output:
	// index 100 term 3 voters=a,b,c: {"x":1,"y":2}
}
