package bench

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distkit/distkit/raft/wal"
)

// walEntrySize is the entry size of the WAL comparisons.
const walEntrySize = 256

var walCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// walRawAppender writes the WAL's record framing by hand to a plain file and
// fsyncs after each record: the floor any WAL on this disk is measured
// against.
type walRawAppender struct {
	f   *os.File
	buf []byte
}

func (r *walRawAppender) append(idx uint64, data []byte) error {
	r.buf = append(r.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0, 1)
	r.buf = binary.AppendUvarint(r.buf, idx)
	r.buf = binary.AppendUvarint(r.buf, 1)
	r.buf = append(r.buf, data...)
	binary.LittleEndian.PutUint32(r.buf, uint32(len(r.buf)-9))
	binary.LittleEndian.PutUint32(r.buf[4:], crc32.Checksum(r.buf[8:], walCastagnoli))
	if _, err := r.f.Write(r.buf); err != nil {
		return err
	}
	return r.f.Sync()
}

// BenchmarkWALAppend: one writer appends 256-byte entries with an fsync per
// append, through the WAL and by hand on a plain file.
func BenchmarkWALAppend(b *testing.B) {
	data := make([]byte, walEntrySize)
	b.Run("distkit", func(b *testing.B) {
		w, err := wal.Open(wal.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		ctx := context.Background()
		b.ReportAllocs()
		var idx uint64
		for b.Loop() {
			idx++
			if err := w.Save(ctx, nil, []wal.Entry{{Index: idx, Term: 1, Data: data}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw.wal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		raw := &walRawAppender{f: f}
		b.ReportAllocs()
		var idx uint64
		for b.Loop() {
			idx++
			if err := raw.append(idx, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// walSyncCounter counts the fsyncs the WAL makes through its FS and the time
// they take.
type walSyncCounter struct {
	wal.OSFS
	n      atomic.Int64
	busyNs atomic.Int64
}

type walCountedFile struct {
	wal.File
	c *walSyncCounter
}

func (f walCountedFile) Sync() error {
	t := time.Now()
	err := f.File.Sync()
	f.c.busyNs.Add(int64(time.Since(t)))
	f.c.n.Add(1)
	return err
}

func (c *walSyncCounter) Create(name string) (wal.File, error) {
	f, err := c.OSFS.Create(name)
	if err != nil {
		return nil, err
	}
	return walCountedFile{f, c}, nil
}

func (c *walSyncCounter) OpenAppend(name string) (wal.File, error) {
	f, err := c.OSFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return walCountedFile{f, c}, nil
}

// BenchmarkWALGroupCommit: 64 goroutines append 256-byte entries at once.
// It reports entries per fsync, entries per second, the fsyncs per second
// the disk sustained in this very run (1 / mean fsync latency), and
// efficiency = entries/s ÷ (disk fsyncs/s × entries/fsync): the share of the
// fsync-bound ideal the WAL reached, which the issue asks to be ≥ 0.8.
func BenchmarkWALGroupCommit(b *testing.B) {
	b.Run("distkit", func(b *testing.B) {
		fs := &walSyncCounter{}
		w, err := wal.Open(wal.Config{Dir: b.TempDir(), FS: fs})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		data := make([]byte, walEntrySize)
		b.ReportAllocs()
		var n atomic.Int64
		syncs0, busy0 := fs.n.Load(), fs.busyNs.Load()
		start := time.Now()
		var wg sync.WaitGroup
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n.Add(1) <= int64(b.N) {
					if _, err := w.Append(context.Background(), 1, data); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		syncs := float64(fs.n.Load() - syncs0)
		busy := time.Duration(fs.busyNs.Load() - busy0).Seconds()
		perSync := float64(b.N) / syncs
		rate := float64(b.N) / elapsed
		diskRate := syncs / busy
		b.ReportMetric(perSync, "entries/fsync")
		b.ReportMetric(rate, "entries/s")
		b.ReportMetric(diskRate, "disk-fsyncs/s")
		b.ReportMetric(rate/(diskRate*perSync), "efficiency")
	})
}
