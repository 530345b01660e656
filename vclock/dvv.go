package vclock

// DVV is a dotted version vector (Preguiça, Baquero, Almeida, Fonte,
// Gonçalves, "Dotted Version Vectors: Logical Clocks for Optimistic
// Replication", 2010): the causal history of one version of a value, as the
// dot of the event that wrote it plus a version vector of every event that
// version had seen. Unlike a plain version vector it keeps a gap: the
// version written as dot r:5 over a context {r:3} has seen r:1 to r:3 but not
// r:4, so it is concurrent with the version written as r:4. That is what lets
// a store with one vector entry per server keep concurrent client writes
// apart instead of reporting false conflicts.
//
// A zero Dot (Counter 0) means the history is just Context. The zero DVV is
// the empty history. Like VersionVector, a DVV shares its Context's storage
// when copied.
type DVV struct {
	Dot     Dot
	Context VersionVector
}

// Contains reports whether the event d is in d's history: in the context, or
// the dot itself. The zero dot is in every history.
func (v DVV) Contains(d Dot) bool {
	if d.Counter == 0 || d.Counter <= v.Context.Get(d.ID) {
		return true
	}
	return v.Dot.Counter != 0 && d == v.Dot
}

// prefix returns how many of replica id's events, counted from its first,
// v's history contains without a gap.
func (v DVV) prefix(id ReplicaID) uint64 {
	c := v.Context.Get(id)
	if v.Dot.ID == id && v.Dot.Counter == c+1 {
		return c + 1
	}
	return c
}

// subsetOf reports whether v's history is contained in o's.
func (v DVV) subsetOf(o DVV) bool {
	if !o.Contains(v.Dot) {
		return false
	}
	for _, e := range v.Context.entries {
		if e.Counter > o.prefix(e.ID) {
			return false
		}
	}
	return true
}

// Compare reports how v's history relates to o's: Equal if they contain the
// same events, Before if o contains all of v's and more, After for the
// reverse, Concurrent otherwise. It compares the sets of events exactly, so
// two representations of one history (dot r:3 over {r:2}, or no dot over
// {r:3}) compare Equal.
func (v DVV) Compare(o DVV) Ordering {
	le, ge := v.subsetOf(o), o.subsetOf(v)
	switch {
	case le && ge:
		return Equal
	case le:
		return Before
	case ge:
		return After
	}
	return Concurrent
}

// Descends reports whether v's history contains all of o's.
func (v DVV) Descends(o DVV) bool { return o.subsetOf(v) }

// String formats v as "dot context", for example "r:5 {r:3 s:1}".
func (v DVV) String() string {
	return v.Dot.String() + " " + v.Context.String()
}

// AppendBinary appends the encoding of v to b. It never fails.
func (v DVV) AppendBinary(b []byte) ([]byte, error) {
	b = appendDotBody(append(b, codecV1), v.Dot)
	return appendVectorBody(b, v.Context), nil
}

// MarshalBinary returns the encoding of v.
func (v DVV) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary sets v from an encoding made by MarshalBinary. On error v
// is unchanged and the error wraps ErrCorrupt.
func (v *DVV) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "dotted version vector")
	if err != nil {
		return err
	}
	d, b, err := readDot(b)
	if err != nil {
		return err
	}
	ctx, b, err := readVectorBody(b)
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return corrupt("%d trailing bytes after dotted version vector", len(b))
	}
	*v = DVV{Dot: d, Context: ctx}
	return nil
}
