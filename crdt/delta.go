package crdt

import (
	"fmt"
	"maps"
	"slices"
)

// Mergeable is what a DeltaBuffer needs of a CRDT: every type of this
// package satisfies it through its pointer (*AWSet[E], *GCounter, ...).
type Mergeable[T any] interface {
	Merge(T)
	Clone() T
}

// DeltaBufferConfig configures a DeltaBuffer. The zero value is valid.
type DeltaBufferConfig struct {
	// MaxDeltas bounds how many deltas the buffer keeps for peers that have
	// not acknowledged them. When it is exceeded the oldest delta is
	// dropped, and a peer that had not acknowledged it gets the full state
	// next time. Zero means 1024.
	MaxDeltas int

	// Start is the sequence number before the buffer's first delta. A
	// replica that restarts must pass a value above every sequence number
	// its previous buffers issued (the last one persisted, or the current
	// Unix time in nanoseconds), so that acknowledgements meant for an
	// earlier incarnation are recognised as stale and the peer gets the
	// full state. Zero is fine for a replica's first run.
	Start uint64
}

// Validate reports whether the config is usable. It does not change c.
func (c DeltaBufferConfig) Validate() error {
	if c.MaxDeltas < 0 {
		return fmt.Errorf("%w: MaxDeltas %d is negative", ErrInvalidConfig, c.MaxDeltas)
	}
	return nil
}

// DeltaBuffer is the sending half of delta-state replication. The replica
// adds the delta of each local mutation; for each peer, Prepare returns the
// join of every delta that peer has not acknowledged (a delta interval), or
// the full state when some of those deltas were already dropped. The peer
// merges what it receives and acknowledges the sequence number that came
// with it.
//
// Because an interval always starts right after what the peer has
// acknowledged, the peer merges deltas only on top of everything that came
// before them (the causal delta-merging condition), and a merged interval
// yields the same state as merging the full state it was cut from. Lost,
// duplicated and reordered messages are harmless: an unacknowledged
// interval is simply sent again, grown by newer deltas, and merges are
// idempotent.
//
// Sequence numbers start at DeltaBufferConfig.Start+1. A replica that
// restarts starts a new buffer with a higher Start; acknowledgements outside
// the new buffer's range are stale, so such peers get the full state once.
//
// Only deltas added to the buffer travel as deltas. To let peers learn
// other replicas' changes through this one (when the replicas do not all
// talk to each other), Add the deltas received from others as well, when
// merging them changed the state; forwarding a delta that was no news
// would echo it between replicas forever.
//
// A DeltaBuffer is not safe for concurrent use; guard it with the lock that
// guards the CRDT it replicates.
type DeltaBuffer[T Mergeable[T]] struct {
	max    int
	first  uint64 // sequence number of deltas[0]
	deltas []T
	acked  map[ReplicaID]uint64
}

// NewDeltaBuffer returns an empty buffer.
func NewDeltaBuffer[T Mergeable[T]](cfg DeltaBufferConfig) (*DeltaBuffer[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxDeltas == 0 {
		cfg.MaxDeltas = 1024
	}
	return &DeltaBuffer[T]{max: cfg.MaxDeltas, first: cfg.Start + 1, acked: map[ReplicaID]uint64{}}, nil
}

// Latest returns the sequence number of the newest delta (Start if none).
func (b *DeltaBuffer[T]) Latest() uint64 { return b.first + uint64(len(b.deltas)) - 1 }

// Add records the delta of a local mutation and returns its sequence
// number. The buffer keeps delta as is: do not change it afterwards.
func (b *DeltaBuffer[T]) Add(delta T) uint64 {
	b.deltas = append(b.deltas, delta)
	if len(b.deltas) > b.max {
		b.drop(len(b.deltas) - b.max)
	}
	return b.Latest()
}

// AddPeer starts tracking a peer; it has acknowledged nothing, so its first
// message is the full state. Prepare adds unknown peers by itself.
func (b *DeltaBuffer[T]) AddPeer(peer ReplicaID) {
	if _, ok := b.acked[peer]; !ok {
		b.acked[peer] = 0
	}
}

// RemovePeer stops tracking a peer, so its missing acknowledgements no
// longer hold deltas in the buffer.
func (b *DeltaBuffer[T]) RemovePeer(peer ReplicaID) {
	delete(b.acked, peer)
	b.gc()
}

// Peers returns the tracked peers, sorted.
func (b *DeltaBuffer[T]) Peers() []ReplicaID { return slices.Sorted(maps.Keys(b.acked)) }

// Prepare returns what to send to peer: the join of the deltas it has not
// acknowledged, or a clone of state (full == true) when some of them were
// dropped or the peer never acknowledged anything. seq is the number the peer acknowledges after merging. ok is
// false when the peer is up to date and nothing needs sending. The returned
// value is a fresh copy the caller may encode or keep.
func (b *DeltaBuffer[T]) Prepare(peer ReplicaID, state T) (msg T, seq uint64, full, ok bool) {
	b.AddPeer(peer)
	ack := b.acked[peer]
	latest := b.Latest()
	if ack >= latest {
		var zero T
		return zero, latest, false, false
	}
	// A peer that never acknowledged anything gets the full state: the
	// state may hold more than the buffer's deltas (merges from other
	// replicas, a restored snapshot), and the peer may know nothing.
	if ack == 0 || ack+1 < b.first {
		return state.Clone(), latest, true, true
	}
	i := int(ack + 1 - b.first)
	msg = b.deltas[i].Clone()
	for _, d := range b.deltas[i+1:] {
		msg.Merge(d)
	}
	return msg, latest, false, true
}

// Ack records that peer has merged everything up to seq. Stale or
// impossible acknowledgements are ignored.
func (b *DeltaBuffer[T]) Ack(peer ReplicaID, seq uint64) {
	if seq > b.Latest() || seq < b.first-1 {
		return
	}
	if seq > b.acked[peer] {
		b.acked[peer] = seq
		b.gc()
	}
}

// Len returns how many deltas the buffer holds.
func (b *DeltaBuffer[T]) Len() int { return len(b.deltas) }

// gc drops the deltas every tracked peer has acknowledged.
func (b *DeltaBuffer[T]) gc() {
	if len(b.acked) == 0 {
		return
	}
	low := b.Latest()
	for _, a := range b.acked {
		low = min(low, a)
	}
	if low >= b.first {
		b.drop(int(low - b.first + 1))
	}
}

func (b *DeltaBuffer[T]) drop(n int) {
	clear(b.deltas[:n])
	b.deltas = b.deltas[n:]
	b.first += uint64(n)
	if len(b.deltas) == 0 {
		b.deltas = nil
	}
}
