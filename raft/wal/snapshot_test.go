package wal

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeSnapshot(t *testing.T, s *SnapshotStore, index, term uint64, data []byte) {
	t.Helper()
	w, err := s.Create(SnapshotMeta{Index: index, Term: term, Metadata: []byte("conf:a,b,c")})
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
}

func readLatest(t *testing.T, s *SnapshotStore) (SnapshotMeta, []byte, error) {
	t.Helper()
	meta, r, err := s.Latest()
	if err != nil {
		return meta, nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return meta, data, err
}

func TestSnapshotRoundTripAndRetention(t *testing.T) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs, Retain: 2})
	require.NoError(t, err)
	_, _, err = s.Latest()
	require.ErrorIs(t, err, ErrNoSnapshot)
	big := bytes.Repeat([]byte("state "), 100_000)
	for i := uint64(1); i <= 4; i++ {
		writeSnapshot(t, s, i*100, i, append(big, byte(i)))
	}
	meta, data, err := readLatest(t, s)
	require.NoError(t, err)
	require.Equal(t, uint64(400), meta.Index)
	require.Equal(t, uint64(4), meta.Term)
	require.Equal(t, []byte("conf:a,b,c"), meta.Metadata)
	require.Equal(t, append(big, 4), data)
	list, err := s.List()
	require.NoError(t, err)
	require.Len(t, list, 2, "only Retain snapshots are kept")
	require.Equal(t, uint64(300), list[1].Index)
}

func TestSnapshotCorruptionIsDetected(t *testing.T) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	writeSnapshot(t, s, 10, 2, []byte("the whole state machine"))
	name := filepath.Join(testDir, snapshotFileName(10, 2))
	raw, _ := fs.get(name)
	raw[snapHeaderSize+len("conf:a,b,c")+3] ^= 1
	fs.put(name, raw)
	_, _, err = readLatest(t, s)
	require.ErrorIs(t, err, ErrCorrupt)

	fs.put(name, raw[:10])
	_, _, err = s.Latest()
	require.ErrorIs(t, err, ErrCorrupt, "a truncated file is refused at open")
}

func TestSnapshotCrashBeforeCommitKeepsThePreviousOne(t *testing.T) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	writeSnapshot(t, s, 10, 1, []byte("old"))
	w, err := s.Create(SnapshotMeta{Index: 20, Term: 1})
	require.NoError(t, err)
	_, err = w.Write([]byte("new but never committed"))
	require.NoError(t, err)
	fs.PowerCut()

	s, err = OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	meta, data, err := readLatest(t, s)
	require.NoError(t, err)
	require.Equal(t, uint64(10), meta.Index)
	require.Equal(t, []byte("old"), data)
	names, _ := fs.ReadDir(testDir)
	for _, n := range names {
		require.NotContains(t, n, ".tmp", "leftover temporary files are removed at open")
	}
}

func TestSnapshotCommittedSurvivesPowerCut(t *testing.T) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	writeSnapshot(t, s, 10, 1, []byte("durable"))
	fs.PowerCut()
	s, err = OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	_, data, err := readLatest(t, s)
	require.NoError(t, err)
	require.Equal(t, []byte("durable"), data)
}

func TestSnapshotWriteFailureLeavesNothing(t *testing.T) {
	fs := newMemFS(1)
	s, err := OpenSnapshots(SnapshotConfig{Dir: testDir, FS: fs})
	require.NoError(t, err)
	w, err := s.Create(SnapshotMeta{Index: 5, Term: 1})
	require.NoError(t, err)
	_, err = w.Write(bytes.Repeat([]byte{1}, 1<<20))
	require.NoError(t, err)
	fs.arm(1, faultError)
	require.ErrorIs(t, w.Commit(), errInjected)
	_, _, err = s.Latest()
	require.ErrorIs(t, err, ErrNoSnapshot)
}

func TestSnapshotOnDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSnapshots(SnapshotConfig{Dir: dir})
	require.NoError(t, err)
	writeSnapshot(t, s, 7, 3, []byte("on a real disk"))
	_, data, err := readLatest(t, s)
	require.NoError(t, err)
	require.Equal(t, []byte("on a real disk"), data)
}
