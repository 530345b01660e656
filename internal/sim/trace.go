package sim

import (
	"io"
	"strconv"
)

// traceFlushAt is the buffered trace size that triggers a write in the middle
// of a long Run, so memory stays bounded however long the run.
const traceFlushAt = 64 << 10

// tracer formats trace lines into a buffer and writes them to the user's
// writer. Lines are built with append-style helpers so tracing allocates
// nothing per event once the buffer has grown.
type tracer[M any] struct {
	w      io.Writer
	format func(dst []byte, msg M) []byte
	buf    []byte
	err    error
}

// on reports whether lines should be produced at all. Callers test it before
// formatting so a simulation without a trace pays one branch per event.
func (t *tracer[M]) on() bool { return t.w != nil && t.err == nil }

// begin starts a line with the virtual time and the event's verb.
func (t *tracer[M]) begin(now int64, what string) []byte {
	b := appendTime(t.buf, now)
	b = append(b, ' ')
	return append(b, what...)
}

// end finishes the line begun with begin.
func (t *tracer[M]) end(b []byte) {
	t.buf = append(b, '\n')
	if len(t.buf) >= traceFlushAt {
		t.flush()
	}
}

func (t *tracer[M]) appendMsg(b []byte, msg M) []byte {
	if t.format == nil {
		return b
	}
	return t.format(append(b, ' '), msg)
}

func (t *tracer[M]) flush() {
	if len(t.buf) == 0 {
		return
	}
	if t.w != nil && t.err == nil {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
}

// TraceErr returns the first error the trace writer returned. After an
// error the simulator stops tracing; the simulation itself carries on.
func (s *Sim[M]) TraceErr() error { return s.tr.err }

// appendTime renders a virtual time in nanoseconds as seconds with nine
// decimals, which sorts and diffs well and never depends on locale.
func appendTime(b []byte, ns int64) []byte {
	b = strconv.AppendInt(b, ns/1e9, 10)
	b = append(b, '.')
	frac := ns % 1e9
	for div := int64(1e8); div > 0; div /= 10 {
		b = append(b, byte('0'+frac/div%10))
	}
	return b
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

func appendLink(b []byte, from, to NodeID) []byte {
	b = append(b, from...)
	b = append(b, '>')
	return append(b, to...)
}
