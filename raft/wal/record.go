package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk layout, little-endian throughout (see doc.go for the whole format):
//
//	segment header (17 bytes): magic "DKWL" | version (1) | sequence (8) | CRC32C of the first 13 bytes (4)
//	record: payload length (4) | CRC32C over type and payload (4) | type (1) | payload
const (
	segmentMagic      = "DKWL"
	formatVersion     = 1
	segmentHeaderSize = 17
	recordHeaderSize  = 9
)

// recordType says what a record's payload holds. It goes on the wire: append
// only, do not reorder.
type recordType byte

const (
	recordInvalid   recordType = iota // zero bytes left by a lost write decode to this
	recordEntry                       // uvarint index | uvarint term | data
	recordHardState                   // uvarint term | uvarint commit | uvarint len(vote) | vote
	recordMark                        // uvarint index | uvarint term | reset (0 or 1)
	recordTruncate                    // uvarint index: entries at and above it are gone
	recordTypeCount
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendSegmentHeader(b []byte, seq uint64) []byte {
	start := len(b)
	b = append(b, segmentMagic...)
	b = append(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, seq)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// parseSegmentHeader returns the sequence number in a segment header.
func parseSegmentHeader(b []byte) (uint64, string) {
	if len(b) < segmentHeaderSize {
		return 0, "short segment header"
	}
	if string(b[:4]) != segmentMagic {
		return 0, "bad segment magic"
	}
	if crc32.Checksum(b[:13], castagnoli) != binary.LittleEndian.Uint32(b[13:17]) {
		return 0, "segment header checksum mismatch"
	}
	if b[4] != formatVersion {
		return 0, "unsupported format version"
	}
	return binary.LittleEndian.Uint64(b[5:13]), ""
}

// beginRecord appends a record header with room for the length and CRC,
// which finishRecord fills in once the payload is appended.
func beginRecord(b []byte, t recordType) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, byte(t))
	return b, start
}

func finishRecord(b []byte, start int) []byte {
	payload := b[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], castagnoli))
	return b
}

// appendEntryRecord appends an entry record and returns the buffer and the
// offset of the entry's data inside it.
func appendEntryRecord(b []byte, e Entry) ([]byte, int) {
	b, start := beginRecord(b, recordEntry)
	b = binary.AppendUvarint(b, e.Index)
	b = binary.AppendUvarint(b, e.Term)
	dataOff := len(b)
	b = append(b, e.Data...)
	return finishRecord(b, start), dataOff
}

func appendHardStateRecord(b []byte, hs HardState) []byte {
	b, start := beginRecord(b, recordHardState)
	b = binary.AppendUvarint(b, hs.Term)
	b = binary.AppendUvarint(b, hs.Commit)
	b = binary.AppendUvarint(b, uint64(len(hs.Vote)))
	b = append(b, hs.Vote...)
	return finishRecord(b, start)
}

func appendMarkRecord(b []byte, index, term uint64, reset bool) []byte {
	b, start := beginRecord(b, recordMark)
	b = binary.AppendUvarint(b, index)
	b = binary.AppendUvarint(b, term)
	r := byte(0)
	if reset {
		r = 1
	}
	b = append(b, r)
	return finishRecord(b, start)
}

func appendTruncateRecord(b []byte, index uint64) []byte {
	b, start := beginRecord(b, recordTruncate)
	b = binary.AppendUvarint(b, index)
	return finishRecord(b, start)
}

// record is one decoded record. data aliases the read buffer.
type record struct {
	typ         recordType
	index, term uint64 // entry, mark, truncate
	reset       bool   // mark
	hs          HardState
	data        []byte // entry data
	dataOff     int    // offset of data inside the record
}

// decodeRecord parses a record's payload. It never panics; a malformed
// payload returns a reason.
func decodeRecord(t recordType, p []byte) (record, string) {
	r := record{typ: t}
	var n int
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(p[n:])
		if k <= 0 {
			return 0, false
		}
		n += k
		return v, true
	}
	var ok bool
	switch t {
	case recordEntry:
		if r.index, ok = uv(); !ok {
			return r, "bad entry index"
		}
		if r.term, ok = uv(); !ok {
			return r, "bad entry term"
		}
		r.dataOff = recordHeaderSize + n
		r.data = p[n:]
	case recordHardState:
		if r.hs.Term, ok = uv(); !ok {
			return r, "bad hard state term"
		}
		if r.hs.Commit, ok = uv(); !ok {
			return r, "bad hard state commit"
		}
		l, ok := uv()
		if !ok || l != uint64(len(p)-n) {
			return r, "bad hard state vote"
		}
		r.hs.Vote = string(p[n:])
	case recordMark:
		if r.index, ok = uv(); !ok {
			return r, "bad mark index"
		}
		if r.term, ok = uv(); !ok {
			return r, "bad mark term"
		}
		if len(p)-n != 1 || p[n] > 1 {
			return r, "bad mark flag"
		}
		r.reset = p[n] == 1
	case recordTruncate:
		if r.index, ok = uv(); !ok || n != len(p) {
			return r, "bad truncate index"
		}
	default:
		return r, "unknown record type"
	}
	return r, ""
}
