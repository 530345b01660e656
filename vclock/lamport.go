package vclock

import (
	"cmp"
	"encoding/binary"
	"strconv"
	"sync/atomic"
)

// MaxLamportTime is the largest remote time Lamport.Observe accepts. Half of
// the uint64 range is left above it, so that no sequence of ticks a real
// process can make overflows the counter, even after a faulty or malicious
// peer sent the largest time allowed.
const MaxLamportTime = 1<<63 - 1

// Lamport is a Lamport clock: a counter that increases with every local
// event and jumps past every time received from another replica, so that if
// event e happened before f then e's time is less than f's. The converse does
// not hold: a smaller time does not mean "happened before", so a Lamport
// clock cannot detect concurrency (use a VersionVector for that).
//
// The zero value is a clock at time 0, ready to use. A Lamport is safe for
// concurrent use; it is a single atomic word and must not be copied after
// first use.
type Lamport struct {
	t atomic.Uint64
}

// Tick records a local event and returns its time: one more than the clock's
// previous time.
func (l *Lamport) Tick() uint64 { return l.t.Add(1) }

// Time returns the clock's current time: the time of the latest event it
// recorded, without recording a new one.
func (l *Lamport) Time() uint64 { return l.t.Load() }

// Observe records the receipt of a message stamped with a remote time and
// returns the receipt's time, max(local, remote) + 1, which is after both the
// sender's event and every earlier local event. A remote time above
// MaxLamportTime is rejected with ErrOutOfRange and leaves the clock
// unchanged.
func (l *Lamport) Observe(remote uint64) (uint64, error) {
	if remote > MaxLamportTime {
		return 0, ErrOutOfRange
	}
	for {
		cur := l.t.Load()
		next := max(cur, remote) + 1
		if l.t.CompareAndSwap(cur, next) {
			return next, nil
		}
	}
}

// Stamp records a local event and returns it as a LamportTime owned by
// replica id, ready to be totally ordered against other replicas' stamps.
func (l *Lamport) Stamp(id ReplicaID) LamportTime {
	return LamportTime{Time: l.Tick(), Replica: id}
}

// AppendBinary appends the encoding of the clock's current time to b.
func (l *Lamport) AppendBinary(b []byte) ([]byte, error) {
	return binary.AppendUvarint(append(b, codecV1), l.Time()), nil
}

// MarshalBinary encodes the clock's current time, for persisting it across
// restarts.
func (l *Lamport) MarshalBinary() ([]byte, error) { return l.AppendBinary(nil) }

// UnmarshalBinary restores a time encoded by MarshalBinary. The clock only
// moves forward: it is set to the decoded time if that is later than its
// current time, so restoring an old snapshot never makes it go back.
func (l *Lamport) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "lamport clock")
	if err != nil {
		return err
	}
	t, b, err := readUvarint(b, "lamport time")
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return corrupt("%d trailing bytes after lamport clock", len(b))
	}
	for {
		cur := l.t.Load()
		if t <= cur || l.t.CompareAndSwap(cur, t) {
			return nil
		}
	}
}

// LamportTime is one event's Lamport time together with the replica that
// produced it. Ordering by time and then by replica ID gives a total order of
// all events that extends happened-before, as long as each replica stamps its
// events from one Lamport clock.
type LamportTime struct {
	Time    uint64
	Replica ReplicaID
}

// Compare returns -1, 0 or +1 as t is before, the same as, or after o in the
// total order: by Time, then by Replica.
func (t LamportTime) Compare(o LamportTime) int {
	if c := cmp.Compare(t.Time, o.Time); c != 0 {
		return c
	}
	return cmp.Compare(t.Replica, o.Replica)
}

// Less reports whether t comes before o in the total order.
func (t LamportTime) Less(o LamportTime) bool { return t.Compare(o) < 0 }

// String formats t as "time@replica".
func (t LamportTime) String() string {
	return strconv.FormatUint(t.Time, 10) + "@" + string(t.Replica)
}

// AppendBinary appends the encoding of t to b. It never fails.
func (t LamportTime) AppendBinary(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(append(b, codecV1), t.Time)
	return appendStr(b, string(t.Replica)), nil
}

// MarshalBinary returns the encoding of t.
func (t LamportTime) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// UnmarshalBinary sets t from an encoding made by MarshalBinary. On error t
// is unchanged and the error wraps ErrCorrupt.
func (t *LamportTime) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "lamport time")
	if err != nil {
		return err
	}
	n, b, err := readUvarint(b, "lamport time")
	if err != nil {
		return err
	}
	id, b, err := readStr(b, "replica id")
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return corrupt("%d trailing bytes after lamport time", len(b))
	}
	*t = LamportTime{Time: n, Replica: ReplicaID(id)}
	return nil
}
