package memnet

// LinkStats counts what happened to the messages on one directed link, or
// on all links for Network.TotalStats. Once no message is in flight,
//
//	Sent + Duplicated == Delivered + Dropped()
//
// and at any moment the same holds with InFlight added to the right side.
type LinkStats struct {
	// Sent counts Send calls that returned nil.
	Sent uint64
	// Duplicated counts extra copies made by the link's Duplicate
	// probability.
	Duplicated uint64
	// Delivered counts copies placed in the receiver's Recv queue and not
	// later wiped from it by a Crash. Copies still in the queue, not yet
	// read by the receiver, count as delivered.
	Delivered uint64
	// InFlight counts copies waiting out their latency.
	InFlight uint64

	// DroppedLoss counts copies dropped by the link's Loss probability.
	DroppedLoss uint64
	// DroppedPartition counts copies dropped because the link was cut by a
	// partition, an isolation or a one-way cut, when sent or while in
	// flight.
	DroppedPartition uint64
	// DroppedCrash counts copies dropped because the receiver was crashed:
	// sent to it while crashed, in flight toward it, or sitting in its
	// queue when it crashed.
	DroppedCrash uint64
	// DroppedClosed counts copies dropped because the receiver's Endpoint
	// was closed (or the Network was).
	DroppedClosed uint64
	// DroppedOverflow counts copies dropped because the receiver's queue
	// was full.
	DroppedOverflow uint64
}

// Dropped returns the number of copies dropped for any reason.
func (s LinkStats) Dropped() uint64 {
	return s.DroppedLoss + s.DroppedPartition + s.DroppedCrash + s.DroppedClosed + s.DroppedOverflow
}

func (s LinkStats) add(o LinkStats) LinkStats {
	s.Sent += o.Sent
	s.Duplicated += o.Duplicated
	s.Delivered += o.Delivered
	s.InFlight += o.InFlight
	s.DroppedLoss += o.DroppedLoss
	s.DroppedPartition += o.DroppedPartition
	s.DroppedCrash += o.DroppedCrash
	s.DroppedClosed += o.DroppedClosed
	s.DroppedOverflow += o.DroppedOverflow
	return s
}
