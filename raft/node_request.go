package raft

import (
	"sync"
	"time"
)

// reqKind says what a request asks of the loop.
type reqKind uint8

const (
	reqPropose reqKind = iota
	reqRead
	reqLeaseRead
	reqConf
	reqTransfer
	reqWaitLeader
	reqStatus
)

// request is one blocking call in flight. Exactly one goroutine owns it at
// a time (the caller until it is queued, then the loop, possibly then the
// apply goroutine), and its owner answers it once, into done, whose buffer
// of one means the answer never blocks even if the caller gave up.
type request struct {
	kind reqKind
	data []byte
	// session, client and seq are a ProposeSession's.
	session     bool
	client, seq uint64
	cc          ConfChange
	to          NodeID
	// start is when the call reached the node, for CommitLatency.
	start time.Time
	// index and term locate the proposal's entry once the leader placed it.
	index, term uint64
	done        chan reply
}

type reply struct {
	val any
	err error
}

// requestPool pools a node's requests: a proposal costs no allocation for
// its bookkeeping in steady state. A request goes back to the pool only when
// its caller has read the answer, so nothing else can still hold it. Each
// node has its own pool, so a channel never leaves the testing/synctest
// bubble it was made in.
type requestPool struct{ p sync.Pool }

func (rp *requestPool) get(k reqKind) *request {
	r, _ := rp.p.Get().(*request)
	if r == nil {
		r = &request{done: make(chan reply, 1)}
	}
	*r = request{kind: k, done: r.done}
	return r
}

func (rp *requestPool) put(r *request) {
	r.data = nil
	rp.p.Put(r)
}

// finish answers r. A second answer is dropped rather than blocking, so a
// bookkeeping slip cannot hang the node.
func (r *request) finish(v any, err error) {
	select {
	case r.done <- reply{v, err}:
	default:
	}
}

func finishAll(rs []*request, err error) {
	for _, r := range rs {
		r.finish(nil, err)
	}
}
