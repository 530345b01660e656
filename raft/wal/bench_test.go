package wal

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// BenchmarkSave measures one writer appending 256-byte entries, each Save
// fsynced, on the real file system.
func BenchmarkSave(b *testing.B) {
	w, err := Open(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	data := make([]byte, 256)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(256)
	var idx uint64
	for b.Loop() {
		idx++
		if err := w.Save(ctx, nil, []Entry{{Index: idx, Term: 1, Data: data}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveNoSync isolates the WAL's own CPU cost from the disk.
func BenchmarkSaveNoSync(b *testing.B) {
	w, err := Open(Config{Dir: b.TempDir(), Sync: SyncOff})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	data := make([]byte, 256)
	ctx := context.Background()
	b.ReportAllocs()
	var idx uint64
	for b.Loop() {
		idx++
		if err := w.Save(ctx, nil, []Entry{{Index: idx, Term: 1, Data: data}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures recovery of a log of WAL_BENCH_MIB MiB (default
// 1024) of 256-byte entries. Building the log is not timed.
func BenchmarkOpen(b *testing.B) {
	mib := 1024
	if s := os.Getenv("WAL_BENCH_MIB"); s != "" {
		fmt.Sscan(s, &mib)
	}
	dir := b.TempDir()
	w, err := Open(Config{Dir: dir, Sync: SyncOff})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 256)
	batch := make([]Entry, 4096)
	total := mib << 20
	idx := uint64(0)
	for written := 0; written < total; written += len(batch) * len(data) {
		for i := range batch {
			idx++
			batch[i] = Entry{Index: idx, Term: 1, Data: data}
		}
		if err := w.Save(context.Background(), nil, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		w, err := Open(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if w.LastIndex() != idx {
			b.Fatalf("recovered %d entries, want %d", w.LastIndex(), idx)
		}
		w.Close()
	}
	b.ReportMetric(float64(idx), "entries")
}
