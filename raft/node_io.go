package raft

import (
	"sync"
	"time"
)

// persister saves batches on its own goroutine, so the leader's disk write
// overlaps the replication it already sent (thesis §10.2.1). With a
// MemoryStorage, which has no disk to wait for, the loop saves inline.
type persister struct {
	n      *Node
	inline bool
	reqc   chan *Ready
	donec  chan persistResult
}

type persistResult struct {
	rd  *Ready
	err error
}

func (p *persister) start(n *Node) {
	p.n = n
	_, p.inline = n.st.(*MemoryStorage)
	p.reqc = make(chan *Ready, 1)
	p.donec = make(chan persistResult, 1)
	if p.inline {
		return
	}
	n.wg.Add(1)
	go p.run()
}

func (p *persister) run() {
	n := p.n
	defer n.wg.Done()
	for {
		select {
		case rd := <-p.reqc:
			err := p.save(rd)
			select {
			case p.donec <- persistResult{rd, err}:
			case <-n.ctx.Done():
				return
			}
		case <-n.ctx.Done():
			return
		}
	}
}

func (p *persister) save(rd *Ready) error {
	m := p.n.metrics
	if m == nil {
		return p.n.st.Save(rd.Persist)
	}
	start := time.Now()
	err := p.n.st.Save(rd.Persist)
	m.FsyncLatency(time.Since(start), len(rd.Persist.Entries))
	return err
}

// snapSender sends snapshot chunks at a bounded rate (a token bucket
// holding at most one second of rate), on its own goroutine so the loop
// never waits for it. A chunk that finds its queue full is dropped: the
// core resends from the follower's last acknowledged offset.
type snapSender struct {
	n      *Node
	rate   float64 // bytes per second; 0 means unlimited
	tokens float64
	last   time.Time
	c      chan snapMsg

	// queued holds the chunks waiting in c or for the rate. The leader
	// resends the current chunk on every heartbeat answer, to recover a
	// lost one; a copy of a chunk that has not left yet would only spend
	// the rate twice.
	mu     sync.Mutex
	queued map[snapKey]bool
}

type snapKey struct {
	to            NodeID
	index, offset uint64
}

type snapMsg struct {
	key     snapKey
	payload []byte
	size    int
}

func (s *snapSender) start(n *Node) {
	s.n = n
	if n.cfg.SnapshotRateBytes > 0 {
		s.rate = float64(n.cfg.SnapshotRateBytes)
	}
	s.c = make(chan snapMsg, 4)
	s.queued = make(map[snapKey]bool)
	n.wg.Add(1)
	go s.run()
}

func (s *snapSender) enqueue(m *Message) {
	key := snapKey{to: m.To, index: m.Snap.Meta.Index, offset: m.Snap.Offset}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[key] {
		return
	}
	buf := AppendMessage(make([]byte, 0, EncodedSize(m)), m)
	select {
	case s.c <- snapMsg{key: key, payload: buf, size: len(m.Snap.Data)}:
		s.queued[key] = true
	default:
	}
}

func (s *snapSender) run() {
	n := s.n
	defer n.wg.Done()
	s.last = time.Now()
	s.tokens = s.rate
	for {
		var m snapMsg
		select {
		case m = <-s.c:
		case <-n.ctx.Done():
			return
		}
		if s.rate > 0 {
			now := time.Now()
			s.tokens = min(s.rate, s.tokens+now.Sub(s.last).Seconds()*s.rate)
			s.last = now
			s.tokens -= float64(len(m.payload))
			if s.tokens < 0 {
				// Wait until the bucket is back to zero: the debt is paid.
				wait := time.Duration(-s.tokens / s.rate * float64(time.Second))
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-n.ctx.Done():
					t.Stop()
					return
				}
			}
		}
		err := n.tr.Send(n.ctx, m.key.to, m.payload)
		// Only now may the chunk be queued again: while it waited for
		// the rate, copies of it were redundant.
		s.mu.Lock()
		delete(s.queued, m.key)
		s.mu.Unlock()
		if err == nil && n.metrics != nil {
			n.metrics.SnapshotBytes(true, m.size)
		}
	}
}
