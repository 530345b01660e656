package raft

import (
	"encoding/binary"
	"fmt"
)

// The wire format of a Message, version 1. All integers are unsigned
// varints in their shortest form, so one Message has exactly one encoding:
//
//	version byte (1)
//	type    byte
//	flags   byte (bit 0: Reject, bit 1: Force; other bits zero)
//	term, logTerm, index, commit, rejectHint, context
//	entry count, then per entry: term, index, type byte, data length, data
//	snapshot chunk flag byte (0 or 1), then if 1: index, term, voters,
//	learners, learners to promote and outgoing voters (each a count, then
//	per ID a length and bytes),
//	offset, total, data length, data
//
// From and To are not encoded: the transport knows them.
const codecVersion = 1

const (
	flagReject = 1 << iota
	flagForce
)

// minEntrySize is the fewest bytes an encoded entry takes, which bounds the
// entry count a decoder believes before allocating.
const minEntrySize = 4

// AppendMessage appends the encoding of m to dst and returns the result.
func AppendMessage(dst []byte, m *Message) []byte {
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.Force {
		flags |= flagForce
	}
	dst = append(dst, codecVersion, byte(m.Type), flags)
	dst = binary.AppendUvarint(dst, m.Term)
	dst = binary.AppendUvarint(dst, m.LogTerm)
	dst = binary.AppendUvarint(dst, m.Index)
	dst = binary.AppendUvarint(dst, m.Commit)
	dst = binary.AppendUvarint(dst, m.RejectHint)
	dst = binary.AppendUvarint(dst, m.Context)
	dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		dst = binary.AppendUvarint(dst, e.Term)
		dst = binary.AppendUvarint(dst, e.Index)
		dst = append(dst, byte(e.Type))
		dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
		dst = append(dst, e.Data...)
	}
	if m.Snap == nil {
		return append(dst, 0)
	}
	s := m.Snap
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, s.Meta.Index)
	dst = binary.AppendUvarint(dst, s.Meta.Term)
	for _, ids := range [4][]NodeID{s.Meta.ConfState.Voters, s.Meta.ConfState.Learners, s.Meta.ConfState.Promote, s.Meta.ConfState.VotersOutgoing} {
		dst = binary.AppendUvarint(dst, uint64(len(ids)))
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, uint64(len(id)))
			dst = append(dst, id...)
		}
	}
	dst = binary.AppendUvarint(dst, s.Offset)
	dst = binary.AppendUvarint(dst, s.Total)
	dst = binary.AppendUvarint(dst, uint64(len(s.Data)))
	return append(dst, s.Data...)
}

// EncodedSize returns the length of m's encoding.
func EncodedSize(m *Message) int {
	n := 3 + uvarintLen(m.Term) + uvarintLen(m.LogTerm) + uvarintLen(m.Index) +
		uvarintLen(m.Commit) + uvarintLen(m.RejectHint) + uvarintLen(m.Context) + uvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += uvarintLen(e.Term) + uvarintLen(e.Index) + 1 + uvarintLen(uint64(len(e.Data))) + len(e.Data)
	}
	n++
	if s := m.Snap; s != nil {
		n += uvarintLen(s.Meta.Index) + uvarintLen(s.Meta.Term)
		for _, ids := range [4][]NodeID{s.Meta.ConfState.Voters, s.Meta.ConfState.Learners, s.Meta.ConfState.Promote, s.Meta.ConfState.VotersOutgoing} {
			n += uvarintLen(uint64(len(ids)))
			for _, id := range ids {
				n += uvarintLen(uint64(len(id))) + len(id)
			}
		}
		n += uvarintLen(s.Offset) + uvarintLen(s.Total) + uvarintLen(uint64(len(s.Data))) + len(s.Data)
	}
	return n
}

// DecodeMessage decodes a Message encoded by AppendMessage. From and To are
// left empty for the caller to fill from the transport. The entries' Data
// alias b, which the caller must not modify afterwards. Every error wraps
// ErrCorrupt; no input makes it panic, and it allocates at most in
// proportion to len(b).
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion {
		if d.err != nil {
			return m, d.err
		}
		return m, fmt.Errorf("%w: unknown version %d", ErrCorrupt, v)
	}
	t := MsgType(d.byte())
	flags := d.byte()
	if d.err != nil {
		return m, d.err
	}
	if t == msgNone || int(t) >= len(msgTypeNames) {
		return m, fmt.Errorf("%w: unknown message type %d", ErrCorrupt, t)
	}
	if flags&^(flagReject|flagForce) != 0 {
		return m, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	m.Type, m.Reject, m.Force = t, flags&flagReject != 0, flags&flagForce != 0
	m.Term = d.uvarint()
	m.LogTerm = d.uvarint()
	m.Index = d.uvarint()
	m.Commit = d.uvarint()
	m.RejectHint = d.uvarint()
	m.Context = d.uvarint()
	n := d.uvarint()
	if d.err != nil {
		return Message{}, d.err
	}
	if n > uint64(len(d.b)-d.off)/minEntrySize {
		return Message{}, fmt.Errorf("%w: %d entries cannot fit in %d bytes", ErrCorrupt, n, len(d.b)-d.off)
	}
	if n > 0 {
		m.Entries = make([]Entry, n)
		for i := range m.Entries {
			e := &m.Entries[i]
			e.Term = d.uvarint()
			e.Index = d.uvarint()
			e.Type = EntryType(d.byte())
			size := d.uvarint()
			if d.err != nil {
				return Message{}, d.err
			}
			if e.Type > EntryConfChange {
				return Message{}, fmt.Errorf("%w: unknown entry type %d", ErrCorrupt, e.Type)
			}
			if size > uint64(len(d.b)-d.off) {
				return Message{}, fmt.Errorf("%w: entry data of %d bytes exceeds the input", ErrCorrupt, size)
			}
			if size > 0 {
				e.Data = d.b[d.off : d.off+int(size) : d.off+int(size)]
				d.off += int(size)
			}
		}
	}
	switch flag := d.byte(); {
	case d.err != nil:
		return Message{}, d.err
	case flag == 1:
		s := &SnapshotChunk{}
		s.Meta.Index = d.uvarint()
		s.Meta.Term = d.uvarint()
		s.Meta.ConfState.Voters = d.ids()
		s.Meta.ConfState.Learners = d.ids()
		s.Meta.ConfState.Promote = d.ids()
		s.Meta.ConfState.VotersOutgoing = d.ids()
		s.Offset = d.uvarint()
		s.Total = d.uvarint()
		s.Data = d.bytes()
		if d.err != nil {
			return Message{}, d.err
		}
		m.Snap = s
	case flag != 0:
		return Message{}, fmt.Errorf("%w: bad snapshot flag %d", ErrCorrupt, flag)
	}
	if d.off != len(d.b) {
		return Message{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b)-d.off)
	}
	return m, nil
}

// bytes reads a length-prefixed byte string, aliasing the input; an empty
// one is nil.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = fmt.Errorf("%w: %d bytes exceed the input", ErrCorrupt, n)
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

// ids reads a count and that many length-prefixed node IDs; none is nil.
func (d *decoder) ids() []NodeID {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = fmt.Errorf("%w: %d IDs cannot fit in %d bytes", ErrCorrupt, n, len(d.b)-d.off)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]NodeID, n)
	for i := range out {
		out[i] = NodeID(d.bytes())
		if d.err != nil {
			return nil
		}
	}
	return out
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.err = fmt.Errorf("%w: truncated at byte %d", ErrCorrupt, d.off)
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint at byte %d", ErrCorrupt, d.off)
		return 0
	}
	if n != uvarintLen(v) {
		// Only the shortest form is valid, so every message has exactly
		// one encoding.
		d.err = fmt.Errorf("%w: overlong varint at byte %d", ErrCorrupt, d.off)
		return 0
	}
	d.off += n
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
