package crdt

// Embeddable is the constraint on ORMap values: the pointer types of this
// package's causal CRDTs (*AWSet[E], *RWSet[E], *MVRegister[V], *EWFlag,
// *DWFlag, *PNCounter and *ORMap[K, V] itself, so maps nest to any depth).
// Its methods are unexported: an embedded value shares the map's causal
// context, which only this package's types know how to do.
type Embeddable[V any] interface {
	dotStore[V]
	ctxRef() *context
}

// Stats describes the size of a state, for monitoring metadata growth.
type Stats struct {
	// Replicas is the number of distinct replicas the state mentions.
	Replicas int
	// Elements is the number of live elements, keys, values or entries.
	Elements int
	// Dots is the number of live dots in the store (causal types).
	Dots int
	// ContextVector is the number of version-vector entries of the causal
	// context; ContextCloud the number of out-of-order dots beside it,
	// which is zero once every event has been received.
	ContextVector, ContextCloud int
	// Tombstones is the number of entries kept only to remember a removal
	// (2P-Set, LWW types, remove-wins set, disable-wins flag).
	Tombstones int
}

func appendCausal[S dotStore[S]](b []byte, tag byte, c *causal[S]) ([]byte, error) {
	b = appendHeader(b, tag)
	b = c.ctx.appendTo(b)
	return c.store.appendStore(b)
}

func readCausal[S dotStore[S]](b []byte, tag byte) (causal[S], error) {
	b, err := readHeader(b, tag)
	if err != nil {
		return causal[S]{}, err
	}
	ctx, b, err := readContext(b)
	if err != nil {
		return causal[S]{}, err
	}
	var zero S
	s, b, err := zero.readStore(b)
	if err != nil {
		return causal[S]{}, err
	}
	if err := expectEnd(b); err != nil {
		return causal[S]{}, err
	}
	// A store dot the context has not seen is not a reachable state.
	var unseen bool
	s.eachDot(func(d Dot) { unseen = unseen || !ctx.contains(d) })
	if unseen {
		return causal[S]{}, corrupt("store dot outside the context")
	}
	return causal[S]{store: s, ctx: ctx}, nil
}

func causalStats[S dotStore[S]](c *causal[S]) Stats {
	var st Stats
	st.ContextVector, st.ContextCloud = c.ctx.size()
	st.Replicas = c.ctx.replicas()
	c.store.eachDot(func(Dot) { st.Dots++ })
	return st
}

func forgetReplica[S dotStore[S]](c *causal[S], retired ReplicaID) error {
	live := false
	c.store.eachDot(func(d Dot) { live = live || d.ID == retired })
	if live {
		return ErrLiveDots
	}
	c.ctx.forget(retired)
	return nil
}

func pruneCausal[S dotStore[S]](c *causal[S], retired, into ReplicaID) {
	if retired == into {
		return
	}
	c.store = c.store.retag(func(d Dot) Dot {
		if d.ID != retired {
			return d
		}
		return c.ctx.next(into)
	})
}
