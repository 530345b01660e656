package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// sessionTable remembers each client's latest applied request and its
// result (Raft thesis §6.3), so a retried request is applied once. It is
// replicated state: every node applies the same entries in the same order,
// so every node's table is the same, including which client is forgotten
// first when it is full (the least recently used, kept as a list).
type sessionTable struct {
	max    int
	m      map[uint64]*session
	oldest *session
	newest *session
}

type session struct {
	client, seq uint64
	result      any
	// known is false when the result did not survive a snapshot.
	known      bool
	prev, next *session
}

func (t *sessionTable) init(max int) {
	t.max = max
	t.m = make(map[uint64]*session)
	t.oldest, t.newest = nil, nil
}

func (t *sessionTable) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		t.oldest = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		t.newest = s.prev
	}
	s.prev, s.next = nil, nil
}

func (t *sessionTable) pushNewest(s *session) {
	s.prev, s.next = t.newest, nil
	if t.newest != nil {
		t.newest.next = s
	} else {
		t.oldest = s
	}
	t.newest = s
}

// begin reports whether request seq of client was applied already; if not,
// it records it as the client's latest, with its result to come.
func (t *sessionTable) begin(client, seq uint64) (dup bool) {
	s := t.m[client]
	if s != nil {
		if seq <= s.seq {
			return true
		}
		t.unlink(s)
	} else {
		s = &session{client: client}
		t.m[client] = s
		if len(t.m) > t.max {
			old := t.oldest
			t.unlink(old)
			delete(t.m, old.client)
		}
	}
	s.seq, s.result, s.known = seq, nil, true
	t.pushNewest(s)
	return false
}

func (t *sessionTable) setResult(client, seq uint64, result any) {
	if s := t.m[client]; s != nil && s.seq == seq {
		s.result = result
	}
}

// answer is the reply to a duplicate of request seq of client.
func (t *sessionTable) answer(client, seq uint64) (any, error) {
	if s := t.m[client]; s != nil && s.seq == seq && s.known {
		return s.result, nil
	}
	return nil, ErrDuplicateRequest
}

// Result kinds in an encoded session table.
const (
	resultUnknown = 0
	resultNil     = 1
	resultBytes   = 2
	resultString  = 3
)

// encode appends the table, oldest session first: the count, then per
// session the client, the seq, a result kind byte and for bytes or a string
// its length and contents. Results of other types are encoded as unknown.
func (t *sessionTable) encode(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.m)))
	for s := t.oldest; s != nil; s = s.next {
		b = binary.AppendUvarint(b, s.client)
		b = binary.AppendUvarint(b, s.seq)
		switch r := s.result; {
		case !s.known:
			b = append(b, resultUnknown)
		case r == nil:
			b = append(b, resultNil)
		default:
			switch v := r.(type) {
			case []byte:
				b = append(b, resultBytes)
				b = binary.AppendUvarint(b, uint64(len(v)))
				b = append(b, v...)
			case string:
				b = append(b, resultString)
				b = binary.AppendUvarint(b, uint64(len(v)))
				b = append(b, v...)
			default:
				b = append(b, resultUnknown)
			}
		}
	}
	return b
}

var errSessionTable = errors.New("bad session table")

// decode replaces the table with an encoded one.
func (t *sessionTable) decode(b []byte) error {
	t.init(t.max)
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		// Only the shortest form is accepted, so that a table has one
		// encoding.
		if k <= 0 || k != uvarintLen(v) {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	count, ok := uv()
	// Each session takes at least three bytes: bound the count by the input.
	if !ok || count > uint64(len(b))/3 {
		return errSessionTable
	}
	for i := uint64(0); i < count; i++ {
		client, ok1 := uv()
		seq, ok2 := uv()
		if !ok1 || !ok2 || len(b) == 0 {
			return errSessionTable
		}
		kind := b[0]
		b = b[1:]
		s := &session{client: client, seq: seq, known: true}
		switch kind {
		case resultUnknown:
			s.known = false
		case resultNil:
		case resultBytes, resultString:
			l, ok := uv()
			if !ok || l > uint64(len(b)) {
				return errSessionTable
			}
			if kind == resultBytes {
				s.result = append([]byte(nil), b[:l]...)
			} else {
				s.result = string(b[:l])
			}
			b = b[l:]
		default:
			return fmt.Errorf("%w: result kind %d", errSessionTable, kind)
		}
		if _, dup := t.m[client]; dup {
			return fmt.Errorf("%w: client %d twice", errSessionTable, client)
		}
		t.m[client] = s
		t.pushNewest(s)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errSessionTable, len(b))
	}
	return nil
}
