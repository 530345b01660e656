package transporttest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/distkit/distkit/transport"
)

// Factory builds connected transports for the given node IDs, one per ID in
// the same order. Every returned Transport must be able to send to every
// other one. The Factory registers its own cleanup with t.Cleanup; the suite
// also calls Close on each Transport (Close is idempotent).
type Factory func(t *testing.T, ids []transport.NodeID) []transport.Transport

// Options describe the transport under test.
type Options struct {
	// MaxPayload is the transport's maximum payload size in bytes, as
	// configured by the Factory. Zero means transport.DefaultMaxPayload.
	// A Factory may configure a smaller limit to keep the TooLarge case
	// cheap.
	MaxPayload int
}

// waitTimeout bounds every wait for a message. It is generous because a
// loaded CI machine running the suite under -race can be slow; it exists only
// so that a lost message fails the test rather than hanging it.
const waitTimeout = 30 * time.Second

// maxBurst is the most messages the suite sends toward one node before that
// node reads them. The package doc promises it.
const maxBurst = 256

// unknownID is a node ID that no Factory is asked to build.
const unknownID transport.NodeID = "transporttest-unknown-peer"

// Run runs the conformance suite against the transports built by
// newTransports. Each case is a subtest; see the package documentation for
// the list.
func Run(t *testing.T, newTransports Factory, opts Options) {
	t.Helper()
	maxPayload := opts.MaxPayload
	if maxPayload == 0 {
		maxPayload = transport.DefaultMaxPayload
	}
	s := &suite{factory: newTransports, maxPayload: maxPayload}
	cases := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Delivery", s.delivery},
		{"FromAndTo", s.fromAndTo},
		{"SendToSelf", s.sendToSelf},
		{"RecvSameChannel", s.recvSameChannel},
		{"UnknownPeer", s.unknownPeer},
		{"TooLarge", s.tooLarge},
		{"MaxPayloadAccepted", s.maxPayloadAccepted},
		{"SendAfterClose", s.sendAfterClose},
		{"RecvClosedAfterClose", s.recvClosedAfterClose},
		{"CloseIdempotent", s.closeIdempotent},
		{"SendToClosedPeer", s.sendToClosedPeer},
		{"ConcurrentSenders", s.concurrentSenders},
		{"PayloadOwnership", s.payloadOwnership},
		{"NoLeakedGoroutines", s.noLeakedGoroutines},
	}
	for _, c := range cases {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	factory    Factory
	maxPayload int
}

// build calls the factory, checks its result, and closes every transport
// when the case ends. t.Cleanup runs cleanups last-in first-out, so these
// Close calls come before the factory's own cleanups.
func (s *suite) build(t *testing.T, ids ...transport.NodeID) []transport.Transport {
	t.Helper()
	trs := s.factory(t, ids)
	require.Len(t, trs, len(ids), "factory must return one transport per id")
	for i, tr := range trs {
		require.NotNil(t, tr, "factory returned nil for %q", ids[i])
	}
	t.Cleanup(func() {
		for _, tr := range trs {
			_ = tr.Close()
		}
	})
	return trs
}

// waitCtx returns a context that bounds one wait for messages.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recv blocks until tr delivers one message or ctx ends.
func recv(ctx context.Context, t *testing.T, tr transport.Transport, what string) transport.Message {
	t.Helper()
	select {
	case m, ok := <-tr.Recv():
		require.True(t, ok, "Recv channel closed while waiting for %s", what)
		return m
	case <-ctx.Done():
		require.FailNow(t, "timed out waiting for "+what)
		return transport.Message{}
	}
}

// recvN receives n messages from tr.
func recvN(ctx context.Context, t *testing.T, tr transport.Transport, n int, what string) []transport.Message {
	t.Helper()
	out := make([]transport.Message, 0, n)
	for len(out) < n {
		out = append(out, recv(ctx, t, tr, fmt.Sprintf("%s (%d of %d received)", what, len(out), n)))
	}
	return out
}

// payloadFor builds a distinct, self-describing payload.
func payloadFor(from transport.NodeID, i int) []byte {
	return fmt.Appendf(nil, "%s#%d", from, i)
}

func (s *suite) delivery(t *testing.T) {
	trs := s.build(t, "a", "b")
	a, b := trs[0], trs[1]
	ctx := waitCtx(t)

	const n = 100
	want := make(map[string]int, n)
	for i := range n {
		p := payloadFor("a", i)
		// Vary the size so a framing bug that only shows on some lengths,
		// including the empty payload, is caught.
		p = append(p, bytes.Repeat([]byte{byte(i)}, i*13)...)
		want[string(p)]++
		require.NoError(t, a.Send(ctx, "b", p), "send %d", i)
	}
	for _, m := range recvN(ctx, t, b, n, "messages from a") {
		require.Positive(t, want[string(m.Payload)], "unexpected or duplicated payload (%d bytes)", len(m.Payload))
		want[string(m.Payload)]--
	}

	// An empty payload is a valid message too.
	require.NoError(t, b.Send(ctx, "a", nil))
	m := recv(ctx, t, a, "empty payload")
	require.Empty(t, m.Payload)
	require.Equal(t, transport.NodeID("b"), m.From)
}

func (s *suite) fromAndTo(t *testing.T) {
	ids := []transport.NodeID{"n1", "n2", "n3"}
	trs := s.build(t, ids...)
	ctx := waitCtx(t)

	for i, from := range ids {
		for _, to := range ids {
			if from == to {
				continue
			}
			require.NoError(t, trs[i].Send(ctx, to, []byte(from+"->"+to)))
		}
	}
	for j, to := range ids {
		got := map[transport.NodeID]bool{}
		for _, m := range recvN(ctx, t, trs[j], len(ids)-1, "messages to "+string(to)) {
			require.Equal(t, to, m.To, "Message.To")
			require.Equal(t, string(m.From)+"->"+string(to), string(m.Payload), "Message.From does not match the sender")
			require.False(t, got[m.From], "duplicate message from %q", m.From)
			got[m.From] = true
		}
	}
}

func (s *suite) sendToSelf(t *testing.T) {
	trs := s.build(t, "a", "b")
	a := trs[0]
	ctx := waitCtx(t)

	require.NoError(t, a.Send(ctx, "a", []byte("hello me")))
	m := recv(ctx, t, a, "message to self")
	require.Equal(t, transport.NodeID("a"), m.From)
	require.Equal(t, transport.NodeID("a"), m.To)
	require.Equal(t, "hello me", string(m.Payload))
}

func (s *suite) recvSameChannel(t *testing.T) {
	trs := s.build(t, "a")
	require.Equal(t, trs[0].Recv(), trs[0].Recv(), "Recv must return the same channel on every call")
}

func (s *suite) unknownPeer(t *testing.T) {
	trs := s.build(t, "a", "b")
	ctx := waitCtx(t)

	err := trs[0].Send(ctx, unknownID, []byte("anyone?"))
	require.ErrorIs(t, err, transport.ErrUnknownPeer)

	// The failed send must not break the sender.
	require.NoError(t, trs[0].Send(ctx, "b", []byte("still works")))
	require.Equal(t, "still works", string(recv(ctx, t, trs[1], "message after unknown peer").Payload))
}

func (s *suite) tooLarge(t *testing.T) {
	trs := s.build(t, "a", "b")
	a, b := trs[0], trs[1]
	ctx := waitCtx(t)

	big := make([]byte, s.maxPayload+1)
	require.ErrorIs(t, a.Send(ctx, "b", big), transport.ErrTooLarge)
	require.ErrorIs(t, a.Send(ctx, "a", big), transport.ErrTooLarge, "the limit applies to sends to self too")

	// Nothing was delivered: the marker sent afterwards is the first thing
	// b sees. A transport may reorder, but a fault-free one does not hold a
	// message back this long, and a delivered oversized payload is wrong
	// whenever it arrives.
	require.NoError(t, a.Send(ctx, "b", []byte("marker")))
	m := recv(ctx, t, b, "marker after too-large send")
	require.Equal(t, "marker", string(m.Payload), "a too-large payload was delivered")
}

func (s *suite) maxPayloadAccepted(t *testing.T) {
	trs := s.build(t, "a", "b")
	a, b := trs[0], trs[1]
	ctx := waitCtx(t)

	p := patterned(s.maxPayload)
	want := bytes.Clone(p)
	require.NoError(t, a.Send(ctx, "b", p))
	m := recv(ctx, t, b, "payload of exactly MaxPayload bytes")
	require.Len(t, m.Payload, s.maxPayload)
	require.True(t, bytes.Equal(want, m.Payload), "payload bytes differ")
}

func (s *suite) sendAfterClose(t *testing.T) {
	trs := s.build(t, "a", "b")
	ctx := waitCtx(t)

	require.NoError(t, trs[0].Close())
	require.ErrorIs(t, trs[0].Send(ctx, "b", []byte("too late")), transport.ErrClosed)
	require.ErrorIs(t, trs[0].Send(ctx, "a", []byte("too late")), transport.ErrClosed)
}

func (s *suite) recvClosedAfterClose(t *testing.T) {
	trs := s.build(t, "a", "b")
	a := trs[0]
	ctx := waitCtx(t)

	// A message may be sitting in a's queue when it closes: the channel must
	// still end, after at most the buffered messages.
	require.NoError(t, trs[1].Send(ctx, "a", []byte("in flight")))
	require.NoError(t, a.Close())
	for {
		select {
		case _, ok := <-a.Recv():
			if !ok {
				return
			}
		case <-ctx.Done():
			require.FailNow(t, "Recv channel not closed after Close")
		}
	}
}

func (s *suite) closeIdempotent(t *testing.T) {
	trs := s.build(t, "a", "b")
	require.NoError(t, trs[0].Close())
	require.NoError(t, trs[0].Close(), "second Close")
	require.NoError(t, trs[0].Close(), "third Close")

	// Concurrent Close calls must not race or panic.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = trs[1].Close() })
	}
	wg.Wait()
	require.NoError(t, trs[1].Close())
}

func (s *suite) sendToClosedPeer(t *testing.T) {
	trs := s.build(t, "a", "b", "c")
	a, b, c := trs[0], trs[1], trs[2]
	ctx := waitCtx(t)

	require.NoError(t, b.Close())
	// The result is transport-specific (nil for a best-effort send, or an
	// error), but it must not panic or wedge the sender.
	for i := range 10 {
		_ = a.Send(ctx, "b", payloadFor("a", i))
	}
	require.NoError(t, a.Send(ctx, "c", []byte("after closed peer")))
	require.Equal(t, "after closed peer", string(recv(ctx, t, c, "message to c after sending to closed b").Payload))
}

func (s *suite) concurrentSenders(t *testing.T) {
	ids := []transport.NodeID{"s1", "s2", "s3", "sink"}
	trs := s.build(t, ids...)
	sink := trs[3]
	ctx := waitCtx(t)

	const goroutinesPerNode = 4
	const perGoroutine = 20
	senders := len(ids) - 1
	total := senders * goroutinesPerNode * perGoroutine
	require.LessOrEqual(t, total, maxBurst)

	errs := make(chan error, senders*goroutinesPerNode)
	var wg sync.WaitGroup
	for i := range senders {
		for g := range goroutinesPerNode {
			wg.Go(func() {
				for k := range perGoroutine {
					p := fmt.Appendf(nil, "%s/%d/%d", ids[i], g, k)
					if err := trs[i].Send(ctx, "sink", p); err != nil {
						errs <- fmt.Errorf("%s goroutine %d send %d: %w", ids[i], g, k, err)
						return
					}
					// Also exercise concurrent sends among the senders.
					if err := trs[i].Send(ctx, ids[(i+1)%senders], p); err != nil {
						errs <- fmt.Errorf("%s goroutine %d peer send %d: %w", ids[i], g, k, err)
						return
					}
				}
			})
		}
	}

	// Receive at the sink while the senders run, so that queues drain, and
	// stop at the first send error rather than waiting for the timeout.
	seen := make(map[string]bool, total)
	for len(seen) < total {
		select {
		case m, ok := <-sink.Recv():
			require.True(t, ok, "sink Recv channel closed")
			require.Equal(t, transport.NodeID("sink"), m.To)
			require.Truef(t, bytes.HasPrefix(m.Payload, []byte(m.From+"/")), "payload %q not from %q", m.Payload, m.From)
			require.False(t, seen[string(m.Payload)], "duplicate %q", m.Payload)
			seen[string(m.Payload)] = true
		case err := <-errs:
			require.NoError(t, err)
		case <-ctx.Done():
			require.FailNow(t, fmt.Sprintf("timed out with %d of %d concurrent messages at sink", len(seen), total))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range senders {
		got := recvN(ctx, t, trs[i], goroutinesPerNode*perGoroutine, "peer messages at "+string(ids[i]))
		want := ids[(i+senders-1)%senders]
		for _, m := range got {
			require.Equal(t, want, m.From)
		}
	}
}

func (s *suite) payloadOwnership(t *testing.T) {
	trs := s.build(t, "a", "b", "c")
	a, b, c := trs[0], trs[1], trs[2]
	ctx := waitCtx(t)

	// One buffer broadcast to several peers, as a protocol that encodes a
	// message once would do. The transport must not modify it, and each
	// receiver must get its own copy.
	buf := []byte("shared broadcast payload")
	orig := bytes.Clone(buf)
	require.NoError(t, a.Send(ctx, "b", buf))
	require.NoError(t, a.Send(ctx, "c", buf))
	require.NoError(t, a.Send(ctx, "a", buf))

	mb := recv(ctx, t, b, "broadcast at b")
	for i := range mb.Payload {
		mb.Payload[i] = 'X'
	}
	mc := recv(ctx, t, c, "broadcast at c")
	require.Equal(t, orig, mc.Payload, "c's payload changed when b modified its own")
	for i := range mc.Payload {
		mc.Payload[i] = 'Y'
	}
	ma := recv(ctx, t, a, "broadcast at a (self)")
	require.Equal(t, orig, ma.Payload, "self-delivered payload changed when receivers modified theirs")
	require.Equal(t, orig, buf, "the sender's buffer was modified")
}

func (s *suite) noLeakedGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// The work runs in a nested subtest so that the factory's cleanups have
	// run by the time goroutines are counted: whatever the factory started
	// beside the transports must be stopped too.
	t.Run("exchange", func(t *testing.T) {
		ids := []transport.NodeID{"a", "b", "c"}
		trs := s.build(t, ids...)
		ctx := waitCtx(t)
		for i := range ids {
			for _, to := range ids {
				require.NoError(t, trs[i].Send(ctx, to, []byte("ping")))
			}
		}
		for i := range ids {
			recvN(ctx, t, trs[i], len(ids), "pings at "+string(ids[i]))
		}
		for _, tr := range trs {
			require.NoError(t, tr.Close())
		}
	})
	// goleak.Find retries for a while, so goroutines that are still
	// finishing after Close returned do not count as leaks; goroutines that
	// stay do.
	require.NoError(t, goleak.Find(ignore))
}

// patterned returns n bytes of a pattern that does not repeat at any
// power-of-two period a framing bug might hide behind. It fills the buffer
// with copy rather than byte by byte, which is slow under -race at 16 MiB.
func patterned(n int) []byte {
	p := make([]byte, n)
	const period = 4093 // prime
	for i := 0; i < min(n, period); i++ {
		p[i] = byte(i*7 + i>>8)
	}
	for filled := period; filled < n; filled *= 2 {
		copy(p[filled:], p[:filled])
	}
	return p
}
