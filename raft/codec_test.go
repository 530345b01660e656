package raft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func genMessage() *rapid.Generator[Message] {
	return rapid.Custom(func(t *rapid.T) Message {
		m := Message{
			Type:       MsgType(rapid.IntRange(1, len(msgTypeNames)-1).Draw(t, "type")),
			Term:       rapid.Uint64().Draw(t, "term"),
			LogTerm:    rapid.Uint64().Draw(t, "logTerm"),
			Index:      rapid.Uint64().Draw(t, "index"),
			Commit:     rapid.Uint64().Draw(t, "commit"),
			Reject:     rapid.Bool().Draw(t, "reject"),
			RejectHint: rapid.Uint64().Draw(t, "hint"),
			Force:      rapid.Bool().Draw(t, "force"),
			Context:    rapid.Uint64().Draw(t, "context"),
		}
		n := rapid.IntRange(0, 5).Draw(t, "entries")
		for i := 0; i < n; i++ {
			e := Entry{Term: rapid.Uint64().Draw(t, "eterm"), Index: rapid.Uint64().Draw(t, "eindex")}
			if d := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "data"); len(d) > 0 {
				e.Data = d
			}
			m.Entries = append(m.Entries, e)
		}
		if rapid.Bool().Draw(t, "snap") {
			s := &SnapshotChunk{
				Meta:   SnapshotMeta{Index: rapid.Uint64().Draw(t, "sindex"), Term: rapid.Uint64().Draw(t, "sterm")},
				Offset: rapid.Uint64().Draw(t, "offset"), Total: rapid.Uint64().Draw(t, "total"),
			}
			if d := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "sdata"); len(d) > 0 {
				s.Data = d
			}
			ids := rapid.SliceOfN(rapid.StringMatching("[a-z0-9]{1,4}"), 0, 3)
			for _, id := range ids.Draw(t, "voters") {
				s.Meta.ConfState.Voters = append(s.Meta.ConfState.Voters, NodeID(id))
			}
			for _, id := range ids.Draw(t, "learners") {
				s.Meta.ConfState.Learners = append(s.Meta.ConfState.Learners, NodeID(id))
			}
			for _, id := range ids.Draw(t, "promote") {
				s.Meta.ConfState.Promote = append(s.Meta.ConfState.Promote, NodeID(id))
			}
			for _, id := range ids.Draw(t, "outgoing") {
				s.Meta.ConfState.VotersOutgoing = append(s.Meta.ConfState.VotersOutgoing, NodeID(id))
			}
			m.Snap = s
		}
		return m
	})
}

// TestCodecRoundTrip checks decode(encode(m)) == m and that the encoding
// is canonical: re-encoding the decoded message gives the same bytes.
func TestCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage().Draw(t, "msg")
		b := AppendMessage(nil, &m)
		require.Len(t, b, EncodedSize(&m))
		got, err := DecodeMessage(b)
		require.NoError(t, err)
		require.Equal(t, m, got)
		require.Equal(t, b, AppendMessage(nil, &got))
	})
}

func TestCodecRejectsCorruption(t *testing.T) {
	m := Message{Type: MsgApp, Term: 3, Index: 7, LogTerm: 2, Commit: 5,
		Entries: []Entry{{Term: 3, Index: 8, Data: []byte("hello")}}}
	good := AppendMessage(nil, &m)
	for name, b := range map[string][]byte{
		"empty":          {},
		"version":        append([]byte{2}, good[1:]...),
		"type":           append([]byte{1, 0}, good[2:]...),
		"flags":          append([]byte{1, byte(MsgApp), 4}, good[3:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte(nil), good...), 0),
		"overlong":       {1, byte(MsgApp), 0, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0},
		"huge count":     {1, byte(MsgApp), 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge data":      {1, byte(MsgApp), 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0xff, 0xff, 0x03},
		"bad entry type": {1, byte(MsgApp), 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 9, 0, 0},
		"snap flag":      {1, byte(MsgSnap), 0, 0, 0, 0, 0, 0, 0, 0, 2},
		"huge ids":       {1, byte(MsgSnap), 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0xff, 0xff, 0x03},
	} {
		_, err := DecodeMessage(b)
		require.Error(t, err, name)
		require.True(t, errors.Is(err, ErrCorrupt), "%s: %v", name, err)
	}
}

// FuzzDecodeMessage checks that no input makes the decoder panic and that
// every accepted input is the canonical encoding of what it decodes to.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []Message{
		{Type: MsgVote, Term: 5, Index: 10, LogTerm: 4},
		{Type: MsgAppResp, Term: 5, Index: 10, Reject: true, RejectHint: 7, LogTerm: 3},
		{Type: MsgApp, Term: 1 << 40, Index: 99, LogTerm: 1, Commit: 98,
			Entries: []Entry{{Term: 1, Index: 100, Data: []byte("x")}, {Term: 1, Index: 101}}},
		{Type: MsgHeartbeat, Term: 2, Commit: 1, Context: 9},
		{Type: MsgVote, Term: 3, Force: true},
		{Type: MsgProp, Context: 77, Entries: []Entry{{Data: []byte("fwd")}}},
		{Type: MsgSnap, Term: 4, Snap: &SnapshotChunk{Meta: SnapshotMeta{Index: 9, Term: 3,
			ConfState: ConfState{Voters: []NodeID{"a", "b"}, Learners: []NodeID{"c"}}}, Offset: 4, Total: 10, Data: []byte("chunk")}},
	} {
		f.Add(AppendMessage(nil, &m))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if again := AppendMessage(nil, &m); !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical encoding:\n in  %x\n out %x", b, again)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	ents := make([]Entry, 64)
	for i := range ents {
		ents[i] = Entry{Term: 7, Index: uint64(1000 + i), Data: make([]byte, 100)}
	}
	m := Message{Type: MsgApp, Term: 7, Index: 999, LogTerm: 7, Commit: 990, Entries: ents}
	buf := make([]byte, 0, EncodedSize(&m))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
		if _, err := DecodeMessage(buf); err != nil {
			b.Fatal(err)
		}
	}
}
