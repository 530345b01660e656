package crdt

import (
	"strconv"

	"github.com/distkit/distkit/vclock"
)

// EWFlag is an enable-wins flag (riak_dt od_flag): a boolean that starts
// false.
//
// Concurrency: when one replica enables the flag while another
// concurrently disables it, the flag ends up enabled; a disable cancels
// only the enables it has seen. It stores one dot per concurrent enabler
// and no tombstones.
//
// The zero value is a disabled flag. Not safe for concurrent use.
type EWFlag struct {
	c causal[dotSet]
}

// Enable sets the flag as an event of replica id and returns the delta.
func (x *EWFlag) Enable(id ReplicaID) *EWFlag {
	dc := removeDots(x.c.store)
	d := x.c.ctx.next(id)
	dc.add(d)
	x.c.store = singleDot(d)
	return deltaEWFlag(singleDot(d), dc)
}

// Disable clears the flag and returns the delta. Disabling a disabled flag
// is a no-op.
func (x *EWFlag) Disable() *EWFlag {
	dc := removeDots(x.c.store)
	x.c.store = dotSet{}
	return deltaEWFlag(dotSet{}, dc)
}

// Value reports whether the flag is enabled.
func (x *EWFlag) Value() bool { return !x.c.store.bottom() }

// MarshalJSON encodes Value as a JSON boolean.
func (x *EWFlag) MarshalJSON() ([]byte, error) { return strconv.AppendBool(nil, x.Value()), nil }

func (x *EWFlag) fillStats(st *Stats) {
	if x.Value() {
		st.Elements = 1
	}
}

// DWFlag is a disable-wins flag (riak_dt oe_flag): a boolean that starts
// false.
//
// Concurrency: when one replica enables the flag while another
// concurrently disables it, the flag ends up disabled; an enable wins only
// over disables it has seen. A disabled flag keeps one tombstone dot per
// concurrent disabler until CompactTombstones drops them.
//
// The zero value is a disabled flag. Not safe for concurrent use.
type DWFlag struct {
	c causal[dotFun[bool]]
}

func (x *DWFlag) write(id ReplicaID, v bool) *DWFlag {
	dc := removeDots(x.c.store)
	d := x.c.ctx.next(id)
	dc.add(d)
	s := dotFun[bool]{entries: []dotVal[bool]{{dot: d, val: v}}}
	x.c.store = s
	return deltaDWFlag(s.clone(), dc)
}

// Enable sets the flag as an event of replica id and returns the delta.
func (x *DWFlag) Enable(id ReplicaID) *DWFlag { return x.write(id, true) }

// Disable clears the flag as an event of replica id and returns the delta.
// It wins over concurrent enables. Disabling a disabled flag is a no-op.
func (x *DWFlag) Disable(id ReplicaID) *DWFlag {
	if !x.Value() {
		return new(DWFlag)
	}
	return x.write(id, false)
}

// Value reports whether the flag is enabled.
func (x *DWFlag) Value() bool { return allTrue(x.c.store) }

// CompactTombstones drops the flag's disable dots once they are causally
// stable (see RWSet.CompactTombstones for what frontier must guarantee),
// and reports whether it did.
func (x *DWFlag) CompactTombstones(frontier vclock.VersionVector) bool {
	if x.c.store.bottom() || !removedAndStable(x.c.store, frontier) {
		return false
	}
	x.c.store = dotFun[bool]{}
	return true
}

// MarshalJSON encodes Value as a JSON boolean.
func (x *DWFlag) MarshalJSON() ([]byte, error) { return strconv.AppendBool(nil, x.Value()), nil }

func (x *DWFlag) fillStats(st *Stats) {
	switch {
	case x.Value():
		st.Elements = 1
	case !x.c.store.bottom():
		st.Tombstones = 1
	}
}
