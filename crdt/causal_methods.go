package crdt

import "github.com/distkit/distkit/vclock"

// The methods below are the same for every causal type. Go cannot declare
// them once on a generic receiver, so they are written out per type and
// kept identical; a change to one is a change to all.

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *AWSet[E]) Merge(o *AWSet[E]) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *AWSet[E]) Clone() *AWSet[E] {
	return &AWSet[E]{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *AWSet[E]) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagAWSet, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *AWSet[E]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *AWSet[E]) UnmarshalBinary(b []byte) error {
	c, err := readCausal[awStore[E]](b, tagAWSet)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *AWSet[E]) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *AWSet[E]) Prune(retired, into ReplicaID) *AWSet[E] {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *AWSet[E]) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *AWSet[E]) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *AWSet[E]) join(o *AWSet[E], c, oc *context) *AWSet[E] {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *AWSet[E]) retag(f func(Dot) Dot) *AWSet[E] {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *AWSet[E]) same(o *AWSet[E]) bool     { return x == o }
func (x *AWSet[E]) coveredBy(c *context) bool { return x.c.store.coveredBy(c) }
func (x *AWSet[E]) bottom() bool              { return x == nil || x.c.store.bottom() }
func (x *AWSet[E]) eachDot(f func(Dot))       { x.c.store.eachDot(f) }
func (x *AWSet[E]) clone() *AWSet[E] {
	return &AWSet[E]{c: causal[awStore[E]]{store: x.c.store.clone()}}
}
func (*AWSet[E]) empty() *AWSet[E]                       { return new(AWSet[E]) }
func (x *AWSet[E]) ctxRef() *context                     { return &x.c.ctx }
func (x *AWSet[E]) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*AWSet[E]) readStore(b []byte) (*AWSet[E], []byte, error) {
	var zero awStore[E]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &AWSet[E]{c: causal[awStore[E]]{store: s}}, rest, nil
}

// deltaAWSet wraps a store and context as a delta.
func deltaAWSet[E comparable](s awStore[E], c context) *AWSet[E] {
	return &AWSet[E]{c: causal[awStore[E]]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *RWSet[E]) Merge(o *RWSet[E]) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *RWSet[E]) Clone() *RWSet[E] {
	return &RWSet[E]{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *RWSet[E]) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagRWSet, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *RWSet[E]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *RWSet[E]) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotMap[E, dotFun[bool]]](b, tagRWSet)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *RWSet[E]) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *RWSet[E]) Prune(retired, into ReplicaID) *RWSet[E] {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *RWSet[E]) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *RWSet[E]) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *RWSet[E]) join(o *RWSet[E], c, oc *context) *RWSet[E] {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *RWSet[E]) retag(f func(Dot) Dot) *RWSet[E] {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *RWSet[E]) same(o *RWSet[E]) bool     { return x == o }
func (x *RWSet[E]) coveredBy(c *context) bool { return x.c.store.coveredBy(c) }
func (x *RWSet[E]) bottom() bool              { return x == nil || x.c.store.bottom() }
func (x *RWSet[E]) eachDot(f func(Dot))       { x.c.store.eachDot(f) }
func (x *RWSet[E]) clone() *RWSet[E] {
	return &RWSet[E]{c: causal[dotMap[E, dotFun[bool]]]{store: x.c.store.clone()}}
}
func (*RWSet[E]) empty() *RWSet[E]                       { return new(RWSet[E]) }
func (x *RWSet[E]) ctxRef() *context                     { return &x.c.ctx }
func (x *RWSet[E]) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*RWSet[E]) readStore(b []byte) (*RWSet[E], []byte, error) {
	var zero dotMap[E, dotFun[bool]]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &RWSet[E]{c: causal[dotMap[E, dotFun[bool]]]{store: s}}, rest, nil
}

// deltaRWSet wraps a store and context as a delta.
func deltaRWSet[E comparable](s dotMap[E, dotFun[bool]], c context) *RWSet[E] {
	return &RWSet[E]{c: causal[dotMap[E, dotFun[bool]]]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *MVRegister[V]) Merge(o *MVRegister[V]) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *MVRegister[V]) Clone() *MVRegister[V] {
	return &MVRegister[V]{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *MVRegister[V]) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagMVRegister, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *MVRegister[V]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *MVRegister[V]) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotFun[V]](b, tagMVRegister)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *MVRegister[V]) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *MVRegister[V]) Prune(retired, into ReplicaID) *MVRegister[V] {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *MVRegister[V]) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *MVRegister[V]) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *MVRegister[V]) join(o *MVRegister[V], c, oc *context) *MVRegister[V] {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *MVRegister[V]) retag(f func(Dot) Dot) *MVRegister[V] {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *MVRegister[V]) same(o *MVRegister[V]) bool { return x == o }
func (x *MVRegister[V]) coveredBy(c *context) bool  { return x.c.store.coveredBy(c) }
func (x *MVRegister[V]) bottom() bool               { return x == nil || x.c.store.bottom() }
func (x *MVRegister[V]) eachDot(f func(Dot))        { x.c.store.eachDot(f) }
func (x *MVRegister[V]) clone() *MVRegister[V] {
	return &MVRegister[V]{c: causal[dotFun[V]]{store: x.c.store.clone()}}
}
func (*MVRegister[V]) empty() *MVRegister[V]                  { return new(MVRegister[V]) }
func (x *MVRegister[V]) ctxRef() *context                     { return &x.c.ctx }
func (x *MVRegister[V]) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*MVRegister[V]) readStore(b []byte) (*MVRegister[V], []byte, error) {
	var zero dotFun[V]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &MVRegister[V]{c: causal[dotFun[V]]{store: s}}, rest, nil
}

// deltaMVRegister wraps a store and context as a delta.
func deltaMVRegister[V any](s dotFun[V], c context) *MVRegister[V] {
	return &MVRegister[V]{c: causal[dotFun[V]]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *EWFlag) Merge(o *EWFlag) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *EWFlag) Clone() *EWFlag {
	return &EWFlag{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *EWFlag) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagEWFlag, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *EWFlag) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *EWFlag) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotSet](b, tagEWFlag)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *EWFlag) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *EWFlag) Prune(retired, into ReplicaID) *EWFlag {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *EWFlag) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *EWFlag) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *EWFlag) join(o *EWFlag, c, oc *context) *EWFlag {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *EWFlag) retag(f func(Dot) Dot) *EWFlag {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *EWFlag) same(o *EWFlag) bool                  { return x == o }
func (x *EWFlag) coveredBy(c *context) bool            { return x.c.store.coveredBy(c) }
func (x *EWFlag) bottom() bool                         { return x == nil || x.c.store.bottom() }
func (x *EWFlag) eachDot(f func(Dot))                  { x.c.store.eachDot(f) }
func (x *EWFlag) clone() *EWFlag                       { return &EWFlag{c: causal[dotSet]{store: x.c.store.clone()}} }
func (*EWFlag) empty() *EWFlag                         { return new(EWFlag) }
func (x *EWFlag) ctxRef() *context                     { return &x.c.ctx }
func (x *EWFlag) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*EWFlag) readStore(b []byte) (*EWFlag, []byte, error) {
	var zero dotSet
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &EWFlag{c: causal[dotSet]{store: s}}, rest, nil
}

// deltaEWFlag wraps a store and context as a delta.
func deltaEWFlag(s dotSet, c context) *EWFlag {
	return &EWFlag{c: causal[dotSet]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *DWFlag) Merge(o *DWFlag) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *DWFlag) Clone() *DWFlag {
	return &DWFlag{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *DWFlag) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagDWFlag, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *DWFlag) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *DWFlag) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotFun[bool]](b, tagDWFlag)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *DWFlag) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *DWFlag) Prune(retired, into ReplicaID) *DWFlag {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *DWFlag) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *DWFlag) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *DWFlag) join(o *DWFlag, c, oc *context) *DWFlag {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *DWFlag) retag(f func(Dot) Dot) *DWFlag {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *DWFlag) same(o *DWFlag) bool                  { return x == o }
func (x *DWFlag) coveredBy(c *context) bool            { return x.c.store.coveredBy(c) }
func (x *DWFlag) bottom() bool                         { return x == nil || x.c.store.bottom() }
func (x *DWFlag) eachDot(f func(Dot))                  { x.c.store.eachDot(f) }
func (x *DWFlag) clone() *DWFlag                       { return &DWFlag{c: causal[dotFun[bool]]{store: x.c.store.clone()}} }
func (*DWFlag) empty() *DWFlag                         { return new(DWFlag) }
func (x *DWFlag) ctxRef() *context                     { return &x.c.ctx }
func (x *DWFlag) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*DWFlag) readStore(b []byte) (*DWFlag, []byte, error) {
	var zero dotFun[bool]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &DWFlag{c: causal[dotFun[bool]]{store: s}}, rest, nil
}

// deltaDWFlag wraps a store and context as a delta.
func deltaDWFlag(s dotFun[bool], c context) *DWFlag {
	return &DWFlag{c: causal[dotFun[bool]]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *PNCounter) Merge(o *PNCounter) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *PNCounter) Clone() *PNCounter {
	return &PNCounter{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *PNCounter) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagPNCounter, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *PNCounter) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *PNCounter) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotFun[pn]](b, tagPNCounter)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *PNCounter) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *PNCounter) Prune(retired, into ReplicaID) *PNCounter {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *PNCounter) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *PNCounter) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *PNCounter) join(o *PNCounter, c, oc *context) *PNCounter {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *PNCounter) retag(f func(Dot) Dot) *PNCounter {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *PNCounter) same(o *PNCounter) bool    { return x == o }
func (x *PNCounter) coveredBy(c *context) bool { return x.c.store.coveredBy(c) }
func (x *PNCounter) bottom() bool              { return x == nil || x.c.store.bottom() }
func (x *PNCounter) eachDot(f func(Dot))       { x.c.store.eachDot(f) }
func (x *PNCounter) clone() *PNCounter {
	return &PNCounter{c: causal[dotFun[pn]]{store: x.c.store.clone()}}
}
func (*PNCounter) empty() *PNCounter                      { return new(PNCounter) }
func (x *PNCounter) ctxRef() *context                     { return &x.c.ctx }
func (x *PNCounter) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*PNCounter) readStore(b []byte) (*PNCounter, []byte, error) {
	var zero dotFun[pn]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &PNCounter{c: causal[dotFun[pn]]{store: s}}, rest, nil
}

// deltaPNCounter wraps a store and context as a delta.
func deltaPNCounter(s dotFun[pn], c context) *PNCounter {
	return &PNCounter{c: causal[dotFun[pn]]{store: s, ctx: c}}
}

// Merge joins o's state into x. Merging is commutative, associative and
// idempotent, so replicas that merge each other's states (or deltas) in any
// order, any number of times, converge. A nil o is a no-op; o is not
// changed and shares no memory with x afterwards.
func (x *ORMap[K, V]) Merge(o *ORMap[K, V]) {
	if o == nil {
		return
	}
	x.c.merge(&o.c)
}

// Clone returns a deep copy of x.
func (x *ORMap[K, V]) Clone() *ORMap[K, V] {
	return &ORMap[K, V]{c: x.c.clone()}
}

// AppendBinary appends the canonical binary encoding of x's state to b.
func (x *ORMap[K, V]) AppendBinary(b []byte) ([]byte, error) {
	return appendCausal(b, tagORMap, &x.c)
}

// MarshalBinary returns the canonical binary encoding of x's state: equal
// states give equal bytes.
func (x *ORMap[K, V]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary replaces x's state with the decoded b. Errors wrap
// ErrCorrupt (or ErrUnsupportedType); on error x is unchanged.
func (x *ORMap[K, V]) UnmarshalBinary(b []byte) error {
	c, err := readCausal[dotMap[K, V]](b, tagORMap)
	if err != nil {
		return err
	}
	x.c = c
	return nil
}

// Stats returns the size of x's state.
func (x *ORMap[K, V]) Stats() Stats {
	st := causalStats(&x.c)
	x.fillStats(&st)
	return st
}

// Prune moves the live dots of a retired replica to fresh dots of replica
// into, which must be the replica calling it, and returns the delta to send
// (the whole state). Once every replica has merged it, each can call
// ForgetReplica(retired). Pruning acts as a re-write of the retired
// replica's entries by into, so run it when no replica is concurrently
// removing them.
func (x *ORMap[K, V]) Prune(retired, into ReplicaID) *ORMap[K, V] {
	pruneCausal(&x.c, retired, into)
	return x.Clone()
}

// ForgetReplica removes every trace of a retired replica from x's causal
// context, once Prune has moved its live dots to another replica everywhere.
// It returns ErrLiveDots, and changes nothing, if x still holds a dot of
// the replica. Every replica must forget it, and the retired replica must
// never write again.
func (x *ORMap[K, V]) ForgetReplica(retired ReplicaID) error { return forgetReplica(&x.c, retired) }

// Context returns the version vector part of x's causal context: how many
// events of each replica x has seen without gaps. Callers compute a
// stability frontier from the contexts of all replicas.
func (x *ORMap[K, V]) Context() vclock.VersionVector { return x.c.ctx.vector() }

func (x *ORMap[K, V]) join(o *ORMap[K, V], c, oc *context) *ORMap[K, V] {
	x.c.store = x.c.store.join(o.c.store, c, oc)
	return x
}
func (x *ORMap[K, V]) retag(f func(Dot) Dot) *ORMap[K, V] {
	x.c.store = x.c.store.retag(f)
	return x
}
func (x *ORMap[K, V]) same(o *ORMap[K, V]) bool  { return x == o }
func (x *ORMap[K, V]) coveredBy(c *context) bool { return x.c.store.coveredBy(c) }
func (x *ORMap[K, V]) bottom() bool              { return x == nil || x.c.store.bottom() }
func (x *ORMap[K, V]) eachDot(f func(Dot))       { x.c.store.eachDot(f) }
func (x *ORMap[K, V]) clone() *ORMap[K, V] {
	return &ORMap[K, V]{c: causal[dotMap[K, V]]{store: x.c.store.clone()}}
}
func (*ORMap[K, V]) empty() *ORMap[K, V]                    { return new(ORMap[K, V]) }
func (x *ORMap[K, V]) ctxRef() *context                     { return &x.c.ctx }
func (x *ORMap[K, V]) appendStore(b []byte) ([]byte, error) { return x.c.store.appendStore(b) }
func (*ORMap[K, V]) readStore(b []byte) (*ORMap[K, V], []byte, error) {
	var zero dotMap[K, V]
	s, rest, err := zero.readStore(b)
	if err != nil {
		return nil, nil, err
	}
	return &ORMap[K, V]{c: causal[dotMap[K, V]]{store: s}}, rest, nil
}

// deltaORMap wraps a store and context as a delta.
func deltaORMap[K comparable, V Embeddable[V]](s dotMap[K, V], c context) *ORMap[K, V] {
	return &ORMap[K, V]{c: causal[dotMap[K, V]]{store: s, ctx: c}}
}
