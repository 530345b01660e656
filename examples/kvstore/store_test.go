package main

import (
	"bytes"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/distkit/distkit/raft"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func apply(t require.TestingT, s *Store, cmds ...command) []raft.Command {
	rc := make([]raft.Command, len(cmds))
	for i, c := range cmds {
		rc[i] = raft.Command{Index: uint64(i + 1), Term: 1, Data: c.encode()}
	}
	require.NoError(t, s.Apply(rc))
	return rc
}

func snapshotBytes(t require.TestingT, s *Store) []byte {
	w, err := s.Snapshot()
	require.NoError(t, err)
	defer w.Release()
	var buf bytes.Buffer
	require.NoError(t, w.WriteSnapshot(&buf))
	return buf.Bytes()
}

// TestStoreMatchesMap checks the store against a plain map after every
// step, and that a snapshot taken at any point restores exactly the state
// of that point, even when written after later commands were applied.
func TestStoreMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newStore()
		model := map[string]string{}
		var pending raft.SnapshotWriter // taken, not yet written
		var pendingModel map[string]string
		key := rapid.StringMatching(`[a-c]{0,2}`)
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				c := command{Op: opPut, Key: key.Draw(t, "key"), Value: rapid.String().Draw(t, "value")}
				apply(t, s, c)
				model[c.Key] = c.Value
			},
			"delete": func(t *rapid.T) {
				c := command{Op: opDelete, Key: key.Draw(t, "key")}
				apply(t, s, c)
				delete(model, c.Key)
			},
			"garbage": func(t *rapid.T) {
				data := rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "data")
				if _, err := decodeCommand(data); err == nil {
					t.Skip("drew a valid command")
				}
				rc := []raft.Command{{Index: 1, Term: 1, Data: data}}
				require.NoError(t, s.Apply(rc))
				require.ErrorIs(t, rc[0].Result.(error), errCorrupt)
			},
			"snapshot": func(t *rapid.T) {
				if pending != nil {
					pending.Release()
				}
				var err error
				pending, err = s.Snapshot()
				require.NoError(t, err)
				pendingModel = maps.Clone(model)
			},
			"restore": func(t *rapid.T) {
				if pending == nil {
					t.Skip("no snapshot taken")
				}
				var buf bytes.Buffer
				require.NoError(t, pending.WriteSnapshot(&buf))
				pending.Release()
				pending = nil
				r := newStore()
				require.NoError(t, r.Restore(&buf))
				require.Equal(t, pendingModel, r.data)
				if rapid.Bool().Draw(t, "replace") {
					s, model = r, pendingModel
				}
			},
			"": func(t *rapid.T) {
				require.Equal(t, len(model), s.Len())
				for k, v := range model {
					got, ok := s.Get(k)
					require.True(t, ok, "key %q", k)
					require.Equal(t, v, got)
				}
			},
		})
	})
}

// TestSnapshotWhileApplying runs WriteSnapshot concurrently with Apply, as
// the node does, so that -race checks the snapshot shares nothing mutable.
func TestSnapshotWhileApplying(t *testing.T) {
	s := newStore()
	for i := range 100 {
		apply(t, s, command{Op: opPut, Key: strings.Repeat("k", i%20+1), Value: "v"})
	}
	w, err := s.Snapshot()
	require.NoError(t, err)
	var wg sync.WaitGroup
	var buf bytes.Buffer
	wg.Go(func() { require.NoError(t, w.WriteSnapshot(&buf)) })
	for i := range 100 {
		apply(t, s, command{Op: opDelete, Key: strings.Repeat("k", i%20+1)})
	}
	wg.Wait()
	w.Release()
	r := newStore()
	require.NoError(t, r.Restore(&buf))
	require.Equal(t, 20, r.Len())
	require.Equal(t, 0, s.Len())
}

func TestEqualStatesEncodeEqually(t *testing.T) {
	a, b := newStore(), newStore()
	apply(t, a, command{Op: opPut, Key: "x", Value: "1"}, command{Op: opPut, Key: "y", Value: "2"})
	apply(t, b, command{Op: opPut, Key: "y", Value: "0"}, command{Op: opPut, Key: "x", Value: "1"},
		command{Op: opPut, Key: "y", Value: "2"}, command{Op: opPut, Key: "z"}, command{Op: opDelete, Key: "z"})
	require.Equal(t, snapshotBytes(t, a), snapshotBytes(t, b))
}

func TestDecodersRejectCorruptInput(t *testing.T) {
	good := command{Op: opPut, Key: "k", Value: "v"}.encode()
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       {9, byte(opPut), 1, 'k', 1, 'v'},
		"op":            {commandVersion, 9, 1, 'k'},
		"short key":     {commandVersion, byte(opPut), 5, 'k'},
		"no value":      {commandVersion, byte(opPut), 1, 'k'},
		"trailing":      append(good, 0),
		"huge length":   {commandVersion, byte(opDelete), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad varint":    {commandVersion, byte(opDelete), 0xff},
		"long key":      append([]byte{commandVersion, byte(opDelete), 0x81, 0x08}, make([]byte, maxKeyLen+1)...),
		"delete+value":  {commandVersion, byte(opDelete), 1, 'k', 1, 'v'},
		"truncated put": good[:len(good)-1],
	} {
		_, err := decodeCommand(b)
		require.ErrorIs(t, err, errCorrupt, name)
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version":     {2, 0},
		"count":       {snapshotVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"no count":    {snapshotVersion},
		"short pair":  {snapshotVersion, 1, 1, 'k'},
		"unsorted":    {snapshotVersion, 2, 1, 'b', 0, 1, 'a', 0},
		"duplicate":   {snapshotVersion, 2, 1, 'a', 0, 1, 'a', 0},
		"trailing":    {snapshotVersion, 0, 0},
		"many claims": {snapshotVersion, 3, 1, 'a', 0},
	} {
		_, err := decodeSnapshot(b)
		require.ErrorIs(t, err, errCorrupt, name)
		require.Error(t, newStore().Restore(bytes.NewReader(b)), name)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(command{Op: opPut, Key: "k", Value: "v"}.encode())
	f.Add(command{Op: opDelete, Key: "key"}.encode())
	f.Add(command{Op: opPut, Key: "", Value: ""}.encode())
	f.Add([]byte{commandVersion, byte(opPut), 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			require.ErrorIs(t, err, errCorrupt)
			return
		}
		// A command that decodes has exactly one encoding: this one.
		require.Equal(t, b, c.encode())
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	s := newStore()
	apply(f, s, command{Op: opPut, Key: "a", Value: "1"}, command{Op: opPut, Key: "b", Value: ""})
	f.Add(snapshotBytes(f, s))
	f.Add(snapshotBytes(f, newStore()))
	f.Add([]byte{snapshotVersion, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeSnapshot(b)
		if err != nil {
			require.ErrorIs(t, err, errCorrupt)
			return
		}
		// A snapshot that decodes re-encodes to the same bytes.
		var buf bytes.Buffer
		require.NoError(t, (&storeSnapshot{data: m}).WriteSnapshot(&buf))
		require.Equal(t, b, buf.Bytes())
	})
}
