package memnet_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

func TestConfigValidate(t *testing.T) {
	valid := []memnet.Config{
		{},
		{Seed: 1, QueueSize: 1, MaxPayload: 1, Link: memnet.Link{Loss: 1, Duplicate: 1, Reorder: 1, Latency: time.Second}},
	}
	for _, cfg := range valid {
		require.NoError(t, cfg.Validate())
	}
	invalid := map[string]memnet.Config{
		"negative queue":    {QueueSize: -1},
		"negative payload":  {MaxPayload: -1},
		"loss above one":    {Link: memnet.Link{Loss: 1.5}},
		"negative dup":      {Link: memnet.Link{Duplicate: -0.1}},
		"NaN reorder":       {Link: memnet.Link{Reorder: math.NaN()}},
		"negative latency":  {Link: memnet.Link{Latency: -time.Millisecond}},
		"negative jitter":   {Link: memnet.Link{Jitter: -1}},
		"negative reorderd": {Link: memnet.Link{ReorderDelay: -1}},
	}
	for name, cfg := range invalid {
		t.Run(name, func(t *testing.T) {
			before := cfg
			require.ErrorIs(t, cfg.Validate(), memnet.ErrInvalidConfig)
			require.Equal(t, fmt.Sprint(before), fmt.Sprint(cfg), "Validate must not modify")
			net, err := memnet.New(cfg)
			require.ErrorIs(t, err, memnet.ErrInvalidConfig)
			require.Nil(t, net)
		})
	}

	net, _ := newNet(t, memnet.Config{}, "a", "b")
	require.ErrorIs(t, net.SetLink("a", "b", memnet.Link{Loss: 2}), memnet.ErrInvalidConfig)
	require.ErrorIs(t, net.SetDefaultLink(memnet.Link{Jitter: -1}), memnet.ErrInvalidConfig)
}

func TestJoin(t *testing.T) {
	net, eps := newNet(t, memnet.Config{}, "a")
	_, err := net.Join("a")
	require.ErrorIs(t, err, memnet.ErrDuplicateNode)
	require.Equal(t, transport.NodeID("a"), eps["a"].ID())

	// A closed ID may join again, with a fresh queue.
	require.NoError(t, eps["a"].Close())
	a2, err := net.Join("a")
	require.NoError(t, err)
	require.NotEqual(t, eps["a"].Recv(), a2.Recv())
	require.NoError(t, a2.Send(context.Background(), "a", []byte("x")))
	require.Equal(t, []string{"x"}, payloads(drain(a2)))

	require.NoError(t, net.Close())
	_, err = net.Join("b")
	require.ErrorIs(t, err, transport.ErrClosed)
	require.NoError(t, net.Close(), "Close is idempotent")
	_, ok := <-a2.Recv()
	require.False(t, ok, "Network.Close closes every Endpoint")
}

func TestSendCanceledContext(t *testing.T) {
	net, eps := newNet(t, memnet.Config{}, "a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, eps["a"].Send(ctx, "b", []byte("x")), context.Canceled)
	require.Empty(t, drain(eps["b"]))
	require.Zero(t, net.Stats("a", "b").Sent)
}

func TestLoss(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{Seed: 3, QueueSize: 4096, Link: memnet.Link{Loss: 1}}, "a", "b")
	for i := range 10 {
		require.NoError(t, eps["a"].Send(ctx, "b", fmt.Appendf(nil, "%d", i)), "a lost message is not an error")
	}
	require.Empty(t, drain(eps["b"]))
	require.Equal(t, memnet.LinkStats{Sent: 10, DroppedLoss: 10}, net.Stats("a", "b"))

	// A partial loss rate drops about that fraction, deterministically for
	// the seed.
	require.NoError(t, net.SetDefaultLink(memnet.Link{Loss: 0.3}))
	const n = 2000
	for i := range n {
		require.NoError(t, eps["b"].Send(ctx, "a", fmt.Appendf(nil, "%d", i)))
	}
	got := len(drain(eps["a"]))
	s := net.Stats("b", "a")
	require.Equal(t, uint64(got), s.Delivered)
	require.Equal(t, uint64(n), s.Delivered+s.DroppedLoss)
	require.InDelta(t, 0.3, float64(s.DroppedLoss)/n, 0.05)
}

func TestDuplicate(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{QueueSize: 4096, Link: memnet.Link{Duplicate: 1}}, "a", "b")
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("twice")))
	got := drain(eps["b"])
	require.Equal(t, []string{"twice", "twice"}, payloads(got))
	// Each copy is the receiver's own: changing one leaves the other.
	got[0].Payload[0] = 'X'
	require.Equal(t, "twice", string(got[1].Payload))
	require.Equal(t, memnet.LinkStats{Sent: 1, Duplicated: 1, Delivered: 2}, net.Stats("a", "b"))

	require.NoError(t, net.SetLink("a", "b", memnet.Link{Duplicate: 0.5}))
	const n = 1000
	for i := range n {
		require.NoError(t, eps["a"].Send(ctx, "b", fmt.Appendf(nil, "%d", i)))
	}
	counts := map[string]int{}
	for _, p := range payloads(drain(eps["b"])) {
		counts[p]++
	}
	require.Len(t, counts, n, "no message lost")
	s := net.Stats("a", "b")
	require.InDelta(t, 0.5, float64(s.Duplicated-1)/n, 0.06)
	requireAccounted(t, s)
}

func TestLinkOverride(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{}, "a", "b", "c")
	require.NoError(t, net.SetLink("a", "b", memnet.Link{Loss: 1}))
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("lost")))
	require.NoError(t, eps["a"].Send(ctx, "c", []byte("kept")))
	require.NoError(t, eps["b"].Send(ctx, "a", []byte("reverse kept")))
	require.Empty(t, drain(eps["b"]))
	require.Equal(t, []string{"kept"}, payloads(drain(eps["c"])))
	require.Equal(t, []string{"reverse kept"}, payloads(drain(eps["a"])))

	// The override survives a default change and goes with ClearLink.
	require.NoError(t, net.SetDefaultLink(memnet.Link{}))
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("still lost")))
	require.Empty(t, drain(eps["b"]))
	net.ClearLink("a", "b")
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("back")))
	require.Equal(t, []string{"back"}, payloads(drain(eps["b"])))
}

// reach sends one message on every link among ids and returns which links
// delivered it, as "from->to" strings.
func reach(t *testing.T, eps map[transport.NodeID]*memnet.Endpoint, ids ...transport.NodeID) []string {
	t.Helper()
	for _, from := range ids {
		for _, to := range ids {
			require.NoError(t, eps[from].Send(context.Background(), to, []byte(from+"->"+to)))
		}
	}
	var out []string
	for _, to := range ids {
		out = append(out, payloads(drain(eps[to]))...)
	}
	return out
}

func TestPartition(t *testing.T) {
	ids := []transport.NodeID{"a", "b", "c", "d"}
	net, eps := newNet(t, memnet.Config{}, ids...)

	net.Partition([]transport.NodeID{"a", "b"}, []transport.NodeID{"c"})
	// d is in no group, so it is in the group of the unnamed.
	require.ElementsMatch(t, []string{
		"a->a", "b->a", "a->b", "b->b", "c->c", "d->d",
	}, reach(t, eps, ids...))
	require.Equal(t, uint64(1), net.Stats("a", "c").DroppedPartition)
	require.Equal(t, uint64(1), net.Stats("d", "a").DroppedPartition)

	// A new partition replaces the old one.
	net.Partition([]transport.NodeID{"a"}, []transport.NodeID{"b", "c", "d"})
	require.ElementsMatch(t, []string{
		"a->a", "b->b", "b->c", "b->d", "c->b", "c->c", "c->d", "d->b", "d->c", "d->d",
	}, reach(t, eps, ids...))

	net.Heal()
	require.Len(t, reach(t, eps, ids...), 16)
	requireAccounted(t, net.TotalStats())
}

func TestIsolate(t *testing.T) {
	ids := []transport.NodeID{"a", "b", "c"}
	net, eps := newNet(t, memnet.Config{}, ids...)
	net.Isolate("b")
	require.ElementsMatch(t, []string{"a->a", "a->c", "b->b", "c->a", "c->c"}, reach(t, eps, ids...))
	// Isolation combines with a partition.
	net.Partition([]transport.NodeID{"a"}, []transport.NodeID{"b", "c"})
	require.ElementsMatch(t, []string{"a->a", "b->b", "c->c"}, reach(t, eps, ids...))
	net.Heal()
	require.Len(t, reach(t, eps, ids...), 9)
}

func TestCutIsOneWay(t *testing.T) {
	ids := []transport.NodeID{"a", "b"}
	net, eps := newNet(t, memnet.Config{}, ids...)
	net.Cut("a", "b")
	net.Cut("a", "a") // no effect: a node always reaches itself
	require.ElementsMatch(t, []string{"a->a", "b->a", "b->b"}, reach(t, eps, ids...))
	net.Restore("a", "b")
	require.Len(t, reach(t, eps, ids...), 4)

	net.Cut("b", "a")
	require.ElementsMatch(t, []string{"a->a", "a->b", "b->b"}, reach(t, eps, ids...))
	net.Heal()
	require.Len(t, reach(t, eps, ids...), 4)
	require.Equal(t, memnet.LinkStats{Sent: 4, Delivered: 3, DroppedPartition: 1}, net.Stats("a", "b"))
}

func TestCrashAndRestart(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{}, "a", "b", "c")
	a, b, c := eps["a"], eps["b"], eps["c"]

	// Messages queued at b when it crashes are lost.
	require.NoError(t, a.Send(ctx, "b", []byte("queued 1")))
	require.NoError(t, c.Send(ctx, "b", []byte("queued 2")))
	net.Crash("b")
	require.True(t, net.Crashed("b"))
	require.Empty(t, drain(b))
	require.Equal(t, memnet.LinkStats{Sent: 1, DroppedCrash: 1}, net.Stats("a", "b"))

	// While crashed, b cannot send and receives nothing.
	err := b.Send(ctx, "a", []byte("from the dead"))
	require.ErrorIs(t, err, transport.ErrCrashed)
	require.Contains(t, err.Error(), `"b"`)
	require.NoError(t, a.Send(ctx, "b", []byte("to the dead")))
	require.Empty(t, drain(b))
	require.Empty(t, drain(a))
	require.Equal(t, uint64(2), net.Stats("a", "b").DroppedCrash)

	// After Restart the same Endpoint and channel work again.
	ch := b.Recv()
	net.Restart("b")
	require.False(t, net.Crashed("b"))
	require.NoError(t, a.Send(ctx, "b", []byte("welcome back")))
	require.NoError(t, b.Send(ctx, "a", []byte("thanks")))
	require.Equal(t, ch, b.Recv())
	require.Equal(t, []string{"welcome back"}, payloads(drain(b)))
	require.Equal(t, []string{"thanks"}, payloads(drain(a)))
	net.Restart("b") // not crashed: no effect
	requireAccounted(t, net.TotalStats())

	// Crashing an ID before it joins makes it join crashed.
	net.Crash("late")
	late, err := net.Join("late")
	require.NoError(t, err)
	require.ErrorIs(t, late.Send(ctx, "a", nil), transport.ErrCrashed)
	net.Restart("late")
	require.NoError(t, late.Send(ctx, "a", nil))
}

func TestQueueOverflow(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{QueueSize: 2}, "a", "b")
	for i := range 5 {
		require.NoError(t, eps["a"].Send(ctx, "b", fmt.Appendf(nil, "%d", i)), "overflow is a drop, not an error")
	}
	require.Equal(t, []string{"0", "1"}, payloads(drain(eps["b"])))
	require.Equal(t, memnet.LinkStats{Sent: 5, Delivered: 2, DroppedOverflow: 3}, net.Stats("a", "b"))
	// Draining makes room again.
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("5")))
	require.Equal(t, []string{"5"}, payloads(drain(eps["b"])))
}

func TestSendToClosedAndUnknown(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{}, "a", "b")
	require.ErrorIs(t, eps["a"].Send(ctx, "nobody", nil), transport.ErrUnknownPeer)
	require.NoError(t, eps["b"].Close())
	require.NoError(t, eps["a"].Send(ctx, "b", []byte("to closed")), "a closed peer is known, so the send is a silent drop")
	require.Equal(t, memnet.LinkStats{Sent: 1, DroppedClosed: 1}, net.Stats("a", "b"))
	require.ErrorIs(t, eps["b"].Send(ctx, "a", nil), transport.ErrClosed)
	require.Zero(t, net.Stats("nobody", "a"), "stats of a link never used are zero")
}

func TestTooLarge(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{MaxPayload: 8}, "a", "b")
	require.ErrorIs(t, eps["a"].Send(ctx, "b", make([]byte, 9)), transport.ErrTooLarge)
	require.NoError(t, eps["a"].Send(ctx, "b", make([]byte, 8)))
	require.Len(t, drain(eps["b"]), 1)
	require.Equal(t, uint64(1), net.Stats("a", "b").Sent)
}

func TestTotalStats(t *testing.T) {
	ctx := context.Background()
	net, eps := newNet(t, memnet.Config{}, "a", "b", "c")
	net.Cut("a", "c")
	require.NoError(t, eps["a"].Send(ctx, "b", nil))
	require.NoError(t, eps["a"].Send(ctx, "c", nil))
	require.NoError(t, eps["c"].Send(ctx, "b", nil))
	require.Equal(t, memnet.LinkStats{Sent: 3, Delivered: 2, DroppedPartition: 1}, net.TotalStats())
}
