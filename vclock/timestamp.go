package vclock

import (
	"encoding/binary"
	"strconv"
	"time"
)

// Timestamp is a hybrid logical clock timestamp packed into 64 bits:
//
//	bit 63                         16 15            0
//	    [ wall: 48 bits, Unix ms     ][ logical: 16 ]
//
// The wall part counts milliseconds since the Unix epoch (UTC), which lasts
// until the year 10889; the logical part orders events within one wall
// millisecond. Because the wall part is the high half, comparing two
// Timestamps as integers (<, ==, cmp.Compare) compares them as hybrid
// times, and adding one carries a full logical part into the wall part:
// logical overflow advances the wall time by a millisecond instead of
// wrapping.
//
// The zero Timestamp is before every timestamp a clock issues. The big-endian
// bytes of a Timestamp sort like the Timestamp, so it works as a key prefix
// in ordered stores.
type Timestamp uint64

const (
	logicalBits = 16
	logicalMask = 1<<logicalBits - 1
	// MaxWallMillis is the largest wall time a Timestamp can hold.
	MaxWallMillis = 1<<48 - 1
)

// MakeTimestamp packs a wall time in Unix milliseconds and a logical
// counter. It returns ErrOutOfRange if wallMillis is negative or above
// MaxWallMillis.
func MakeTimestamp(wallMillis int64, logical uint16) (Timestamp, error) {
	if wallMillis < 0 || wallMillis > MaxWallMillis {
		return 0, ErrOutOfRange
	}
	return Timestamp(uint64(wallMillis)<<logicalBits | uint64(logical)), nil
}

// WallMillis returns the wall part: milliseconds since the Unix epoch.
func (t Timestamp) WallMillis() int64 { return int64(t >> logicalBits) }

// Logical returns the logical part.
func (t Timestamp) Logical() uint16 { return uint16(t & logicalMask) }

// Time returns the wall part as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.WallMillis()).UTC() }

// Parts returns the struct form of t.
func (t Timestamp) Parts() TimestampParts {
	return TimestampParts{WallMillis: t.WallMillis(), Logical: t.Logical()}
}

// String formats t as its wall time in RFC 3339 with milliseconds, a slash,
// and the logical part: "2026-11-27T16:05:00.123Z/4".
func (t Timestamp) String() string {
	return t.Time().Format("2006-01-02T15:04:05.000Z07:00") + "/" + strconv.FormatUint(uint64(t.Logical()), 10)
}

// AppendBinary appends the encoding of t to b: a version byte, then the 8
// bytes of t in big-endian order. It never fails.
func (t Timestamp) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(append(b, codecV1), uint64(t)), nil
}

// MarshalBinary returns the 9-byte encoding of t.
func (t Timestamp) MarshalBinary() ([]byte, error) { return t.AppendBinary(make([]byte, 0, 9)) }

// UnmarshalBinary sets t from an encoding made by MarshalBinary. On error t
// is unchanged and the error wraps ErrCorrupt.
func (t *Timestamp) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "timestamp")
	if err != nil {
		return err
	}
	if len(b) != 8 {
		return corrupt("timestamp has %d bytes after the version, want 8", len(b))
	}
	*t = Timestamp(binary.BigEndian.Uint64(b))
	return nil
}

// TimestampParts is the struct form of a Timestamp, for code that wants
// named fields rather than bit fields. Pack converts it back.
type TimestampParts struct {
	WallMillis int64  // milliseconds since the Unix epoch, 0 to MaxWallMillis
	Logical    uint16 // orders events within one wall millisecond
}

// Pack returns the packed form of p, or ErrOutOfRange if p.WallMillis does
// not fit in 48 bits.
func (p TimestampParts) Pack() (Timestamp, error) { return MakeTimestamp(p.WallMillis, p.Logical) }

// Compare returns -1, 0 or +1 as p is before, equal to or after o.
func (p TimestampParts) Compare(o TimestampParts) int {
	switch {
	case p.WallMillis < o.WallMillis:
		return -1
	case p.WallMillis > o.WallMillis:
		return 1
	case p.Logical < o.Logical:
		return -1
	case p.Logical > o.Logical:
		return 1
	}
	return 0
}
