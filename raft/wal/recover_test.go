package wal

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// craftSegment builds segment seq from records appended by build.
func craftSegment(seq uint64, build func([]byte) []byte) []byte {
	return build(appendSegmentHeader(nil, seq))
}

// TestRecoverHugeMarkIsNotAPanic replays well-formed records whose indexes sit
// at the top of the uint64 range, as a damaged or hostile directory may hold:
// recovery must report corruption or recover, never panic.
func TestRecoverHugeMarkIsNotAPanic(t *testing.T) {
	for name, build := range map[string]func([]byte) []byte{
		"mark at max": func(b []byte) []byte {
			b, _ = appendEntryRecord(b, Entry{Index: 1, Term: 1})
			b, _ = appendEntryRecord(b, Entry{Index: 2, Term: 1})
			return appendMarkRecord(b, math.MaxUint64, 1, false)
		},
		"entry at max": func(b []byte) []byte {
			b, _ = appendEntryRecord(b, Entry{Index: math.MaxUint64, Term: 1})
			b, _ = appendEntryRecord(b, Entry{Index: 0, Term: 1})
			return b
		},
		"truncate at max": func(b []byte) []byte {
			b, _ = appendEntryRecord(b, Entry{Index: 1, Term: 1})
			return appendTruncateRecord(b, math.MaxUint64)
		},
	} {
		t.Run(name, func(t *testing.T) {
			fs := newMemFS(1)
			fs.put(segmentName(testDir, 1), craftSegment(1, build))
			w, err := Open(Config{Dir: testDir, FS: fs})
			if err != nil {
				require.True(t, errors.Is(err, ErrCorrupt), "%v", err)
				return
			}
			w.Close()
		})
	}
}

func TestApplySnapshotAtTheTopIndexIsRefused(t *testing.T) {
	w := openMem(t, newMemFS(1), Config{})
	defer w.Close()
	require.ErrorIs(t, w.ApplySnapshot(t.Context(), math.MaxUint64, 1), ErrOutOfRange)
}

// TestFailedFsyncIsNotReadBackAsDurable: after a failed fsync Linux keeps the
// unwritten bytes in the page cache as clean pages, so a reopen in a new
// process would read them back, and its own fsync would not write them. The
// WAL must not present them as part of the log, or a power cut then takes
// back entries that Open reported.
func TestFailedFsyncIsNotReadBackAsDurable(t *testing.T) {
	ctx := t.Context()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(ctx, nil, ents(1, 2, 1)))
	fs.arm(2, faultLostSync) // the write succeeds, its fsync fails
	require.ErrorIs(t, w.Save(ctx, nil, ents(3, 1, 1)), ErrFailed)
	require.NoError(t, w.Close())

	w = openMem(t, fs, Config{})
	reopened := w.LastIndex()
	require.NoError(t, w.Close())
	fs.PowerCut()
	w = openMem(t, fs, Config{})
	defer w.Close()
	require.GreaterOrEqual(t, w.LastIndex(), reopened, "a power cut took back entries a reopen had reported")
	requireLog(t, w, ents(1, reopened, 1))
}

// TestLostSectorBeforeAWrittenOneIsTorn: a power cut during an unsynced
// write can persist a later sector and lose an earlier one, since a disk
// writes its cache back in any order. That leaves zeros followed by whole
// records, which is a torn write, not corruption: Open must cut it off.
func TestLostSectorBeforeAWrittenOneIsTorn(t *testing.T) {
	ctx := t.Context()
	for name, lose := range map[string]func(seg []byte, synced int){
		// The sector holding the end of the synced data is lost: zeros
		// from the first unsynced record to the sector's end.
		"boundary sector": func(seg []byte, synced int) {
			clear(seg[synced : (synced/memSector+1)*memSector])
		},
		// A whole sector in the middle of the unsynced batch is lost.
		"middle sector": func(seg []byte, synced int) {
			s := (synced/memSector + 1) * memSector
			clear(seg[s : s+memSector])
		},
	} {
		t.Run(name, func(t *testing.T) {
			fs := newMemFS(1)
			w := openMem(t, fs, Config{})
			require.NoError(t, w.Save(ctx, nil, ents(1, 10, 1)))
			require.NoError(t, w.Close())
			seg := segmentFiles(fs)[0]
			synced, _ := fs.get(seg)
			// An unsynced batch of big entries, cut by the power.
			var batch []byte
			for i := uint64(11); i <= 16; i++ {
				batch, _ = appendEntryRecord(batch, Entry{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 300)})
			}
			data := append(append([]byte(nil), synced...), batch...)
			lose(data, len(synced))
			fs.put(seg, data)

			w = openMem(t, fs, Config{})
			defer w.Close()
			require.True(t, w.Report().TornTail)
			require.Equal(t, int64(len(synced)), w.Report().TornOffset)
			requireLog(t, w, ents(1, 10, 1))
		})
	}
}

// TestBitFlipBeforeAWholeRecordIsStillCorruption: damage with no zeroed
// sector in it, followed by whole records, is not a torn write.
func TestBitFlipBeforeAWholeRecordIsStillCorruption(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	var es []Entry
	for i := uint64(1); i <= 6; i++ {
		es = append(es, Entry{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 300)})
	}
	require.NoError(t, w.Save(t.Context(), nil, es))
	require.NoError(t, w.Close())
	seg := segmentFiles(fs)[0]
	data, _ := fs.get(seg)
	data[600] ^= 0x04
	fs.put(seg, data)
	_, err := Open(Config{Dir: testDir, FS: fs})
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestLostSectorHoldingOnlyAHeadIsTorn: the lost sector held just the first
// few bytes of a record header, the rest of the record and whole records
// after it reached the disk. Open must cut it off as torn, while the same
// zeros in a record damaged elsewhere are still corruption.
func TestLostSectorHoldingOnlyAHeadIsTorn(t *testing.T) {
	build := func(t *testing.T) (*memFS, string, []byte, int) {
		fs := newMemFS(1)
		w := openMem(t, fs, Config{})
		var es []Entry
		for i := uint64(1); i <= 10; i++ {
			// 17 + 10 × (9 + 2 + 38) = 507: the synced data ends 5
			// bytes before a sector boundary.
			es = append(es, Entry{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 38)})
		}
		require.NoError(t, w.Save(t.Context(), nil, es))
		require.NoError(t, w.Close())
		seg := segmentFiles(fs)[0]
		synced, _ := fs.get(seg)
		require.Equal(t, 507, len(synced))
		var batch []byte
		for i := uint64(11); i <= 14; i++ {
			batch, _ = appendEntryRecord(batch, Entry{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 100)})
		}
		data := append(append([]byte(nil), synced...), batch...)
		clear(data[507:512])
		return fs, seg, data, len(synced)
	}
	t.Run("torn", func(t *testing.T) {
		fs, seg, data, synced := build(t)
		fs.put(seg, data)
		w := openMem(t, fs, Config{})
		defer w.Close()
		require.True(t, w.Report().TornTail)
		require.Equal(t, int64(synced), w.Report().TornOffset)
		require.Equal(t, uint64(10), w.LastIndex())
	})
	t.Run("damaged elsewhere", func(t *testing.T) {
		fs, seg, data, _ := build(t)
		data[530] ^= 1
		fs.put(seg, data)
		_, err := Open(Config{Dir: testDir, FS: fs})
		require.ErrorIs(t, err, ErrCorrupt)
	})
}

// TestRecordAboveALowerLimitIsNotTorn: reopening with a smaller
// MaxRecordSize than the log was written with makes an intact record too
// long. Even when its data holds zeroed sectors, that is an error to
// report, not a torn write to cut.
func TestRecordAboveALowerLimitIsNotTorn(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(t.Context(), nil, []Entry{
		{Index: 1, Term: 1, Data: []byte("small")},
		{Index: 2, Term: 1, Data: make([]byte, 4096)},
		{Index: 3, Term: 1, Data: []byte("small")},
	}))
	require.NoError(t, w.Close())
	_, err := Open(Config{Dir: testDir, FS: fs, MaxRecordSize: 1024})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "above the maximum")
}

func TestConfigBoundsMaxRecordSize(t *testing.T) {
	if math.MaxInt > math.MaxUint32 {
		require.Error(t, Config{Dir: "x", MaxRecordSize: int(int64(math.MaxUint32) + 1)}.Validate())
	}
	require.NoError(t, Config{Dir: "x", MaxRecordSize: math.MaxUint32}.Validate())
}

// TestLoneTornSegmentAfterTheFirstIsCorrupt: only the very first segment can
// be torn with no segment before it; any later one had a durable header
// before its predecessors could be deleted.
func TestLoneTornSegmentAfterTheFirstIsCorrupt(t *testing.T) {
	fs := newMemFS(1)
	fs.put(segmentName(testDir, 5), make([]byte, 600))
	_, err := Open(Config{Dir: testDir, FS: fs})
	require.ErrorIs(t, err, ErrCorrupt)

	fs = newMemFS(1)
	fs.put(segmentName(testDir, 1), make([]byte, 10))
	w, err := Open(Config{Dir: testDir, FS: fs})
	require.NoError(t, err, "a first segment torn at creation is dropped")
	require.True(t, w.Report().TornTail)
	require.NoError(t, w.Close())
}

// TestLostHeadOfARewriteIsTorn: as above, with the unsynced batch a Save
// that rewrites the suffix (a truncate record, then entries below the next
// index). The entries after the damage must count as whole records.
func TestLostHeadOfARewriteIsTorn(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	var es []Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, Entry{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 38)})
	}
	require.NoError(t, w.Save(t.Context(), nil, es))
	require.NoError(t, w.Close())
	seg := segmentFiles(fs)[0]
	data, _ := fs.get(seg)
	require.Equal(t, 507, len(data))
	data = appendTruncateRecord(data, 8)
	for i := uint64(8); i <= 12; i++ {
		data, _ = appendEntryRecord(data, Entry{Index: i, Term: 2, Data: bytes.Repeat([]byte{byte(i)}, 100)})
	}
	clear(data[507:512]) // the truncate record's length and first CRC byte
	fs.put(seg, data)

	w = openMem(t, fs, Config{})
	defer w.Close()
	require.True(t, w.Report().TornTail)
	require.Equal(t, int64(507), w.Report().TornOffset)
	requireLog(t, w, es)
}
