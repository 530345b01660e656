package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"path/filepath"
	"testing"
)

// validSegments builds the segment files of a small real log, for seeds.
func validSegments(t testing.TB) [][]byte {
	fs := newMemFS(1)
	w, err := Open(Config{Dir: testDir, FS: fs, SegmentSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := uint64(1); i <= 12; i++ {
		hs := HardState{Term: 1, Vote: "n1", Commit: i - 1}
		if err := w.Save(ctx, &hs, ents(i, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Save(ctx, nil, ents(10, 2, 2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(ctx, 5); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var out [][]byte
	for _, name := range segmentFiles(fs) {
		data, _ := fs.get(name)
		out = append(out, data)
	}
	return out
}

// FuzzRecover feeds arbitrary bytes as the last segment after a valid one:
// recovery must never panic, and must either fail with ErrCorrupt or yield a
// log it can read back in full.
func FuzzRecover(f *testing.F) {
	segs := validSegments(f)
	for _, s := range segs {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("DKWL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := newMemFS(1)
		fs.put(segmentName(testDir, 1), segs[0])
		fs.put(segmentName(testDir, 2), data)
		w, err := Open(Config{Dir: testDir, FS: fs, MaxRecordSize: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		defer w.Close()
		if first, last := w.FirstIndex(), w.LastIndex(); last >= first {
			if _, err := w.Entries(first, last+1, 0); err != nil {
				t.Fatalf("recovered log unreadable: %v", err)
			}
		}
		// The recovered log accepts new writes.
		if err := w.Save(context.Background(), nil, []Entry{{Index: w.LastIndex() + 1, Term: 9}}); err != nil {
			t.Fatalf("save after recovery: %v", err)
		}
	})
}

// FuzzSnapshotReader feeds arbitrary bytes as a snapshot file: reading it
// must never panic and must end in io.EOF only for an intact snapshot.
func FuzzSnapshotReader(f *testing.F) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	if err != nil {
		f.Fatal(err)
	}
	w, _ := s.Create(SnapshotMeta{Index: 3, Term: 1, Metadata: []byte("m")})
	w.Write([]byte("snapshot data"))
	if err := w.Commit(); err != nil {
		f.Fatal(err)
	}
	good, _ := fs.get(filepath.Join(testDir, snapshotFileName(3, 1)))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("DKSN"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := newMemFS(1)
		fs.put(filepath.Join(testDir, snapshotFileName(3, 1)), data)
		s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := s.Latest()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		defer r.Close()
		_, err = io.ReadAll(r)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read error does not wrap ErrCorrupt: %v", err)
		}
		if err == nil {
			// Accepted data must carry a checksum that really matches.
			body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
			if crc32.Checksum(body, castagnoli) != sum {
				t.Fatalf("snapshot with a wrong checksum was accepted")
			}
		}
	})
}
