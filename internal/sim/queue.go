package sim

// item is one entry of the event queue. It is kept small (24 bytes) so that
// sifting the heap moves little memory; the event's payload, which may be a
// large message of the user's type, stays put in a slot and the item only
// points at it.
type item struct {
	at   int64  // virtual time in nanoseconds
	seq  uint64 // global sequence number: the tie-breaker that makes order total
	slot int32  // index into Sim.slots
}

// less orders items by time, then by sequence number. Sequence numbers are
// unique, so no two items compare equal and the order of execution never
// depends on the heap's internal layout.
func (a item) less(b item) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue is a min-heap of items backed by a plain slice. It is written
// out by hand rather than through container/heap so that no item is boxed in
// an interface value on push or pop.
type queue struct {
	items []item
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(it item) {
	q.items = append(q.items, it)
	q.up(len(q.items) - 1)
}

// pop removes and returns the smallest item. The queue must not be empty.
func (q *queue) pop() item {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	if last > 0 {
		q.down(0)
	}
	return top
}

// removeAt removes the item at heap position i and returns it.
func (q *queue) removeAt(i int) item {
	it := q.items[i]
	last := len(q.items) - 1
	if i != last {
		q.items[i] = q.items[last]
		q.items = q.items[:last]
		q.down(i)
		q.up(i)
	} else {
		q.items = q.items[:last]
	}
	return it
}

// heapify restores the heap property after the slice was edited in bulk.
func (q *queue) heapify() {
	if len(q.items) < 2 {
		return
	}
	for i := (len(q.items) - 2) / arity; i >= 0; i-- {
		q.down(i)
	}
}

// The heap is 4-ary: with hundreds of thousands of messages in flight it is
// half as deep as a binary heap, and a node's four children sit in two
// adjacent cache lines, so a pop touches fewer lines of memory.
const arity = 4

func (q *queue) up(i int) {
	it := q.items[i]
	for i > 0 {
		p := (i - 1) / arity
		if !it.less(q.items[p]) {
			break
		}
		q.items[i] = q.items[p]
		i = p
	}
	q.items[i] = it
}

func (q *queue) down(i int) {
	n := len(q.items)
	it := q.items[i]
	for {
		c := arity*i + 1
		if c >= n {
			break
		}
		// Find the smallest of up to four children.
		end := min(c+arity, n)
		for k := c + 1; k < end; k++ {
			if q.items[k].less(q.items[c]) {
				c = k
			}
		}
		if !q.items[c].less(it) {
			break
		}
		q.items[i] = q.items[c]
		i = c
	}
	q.items[i] = it
}
