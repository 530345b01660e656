package memnet_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// arrival is a message and how long after the start it arrived, in virtual
// time.
type arrival struct {
	payload string
	from    transport.NodeID
	after   time.Duration
}

// recvAll receives n messages from ep, blocking, and stamps each with the
// virtual time since start.
func recvAll(t *testing.T, ep *memnet.Endpoint, n int, start time.Time) []arrival {
	t.Helper()
	out := make([]arrival, 0, n)
	for range n {
		m, ok := <-ep.Recv()
		require.True(t, ok)
		out = append(out, arrival{string(m.Payload), m.From, time.Since(start)})
	}
	return out
}

func TestLatencyVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: 50 * time.Millisecond}}, "a", "b")
		start := time.Now()
		require.NoError(t, eps["a"].Send(context.Background(), "b", []byte("slow")))
		require.Equal(t, uint64(1), net.Stats("a", "b").InFlight)

		time.Sleep(50*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		require.Empty(t, drain(eps["b"]), "arrived before its latency")

		got := recvAll(t, eps["b"], 1, start)
		require.Equal(t, []arrival{{"slow", "a", 50 * time.Millisecond}}, got)
		require.Equal(t, memnet.LinkStats{Sent: 1, Delivered: 1}, net.Stats("a", "b"))
	})
}

func TestJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency, jitter = 10 * time.Millisecond, 20 * time.Millisecond
		_, eps := newNet(t, memnet.Config{Seed: 1, Link: memnet.Link{Latency: latency, Jitter: jitter}}, "a", "b")
		start := time.Now()
		const n = 200
		for i := range n {
			require.NoError(t, eps["a"].Send(context.Background(), "b", []byte(strconv.Itoa(i))))
		}
		got := recvAll(t, eps["b"], n, start)

		times := map[time.Duration]bool{}
		var order []int
		for i, a := range got {
			require.GreaterOrEqual(t, a.after, latency)
			require.Less(t, a.after, latency+jitter)
			if i > 0 {
				require.GreaterOrEqual(t, a.after, got[i-1].after, "delivered out of time order")
			}
			times[a.after] = true
			k, err := strconv.Atoi(a.payload)
			require.NoError(t, err)
			order = append(order, k)
		}
		require.Greater(t, len(times), n/2, "jitter should spread arrival times")
		require.False(t, slices.IsSorted(order), "jitter should reorder messages")
	})
}

func TestFixedLatencyKeepsSendOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: 5 * time.Millisecond}}, "a", "b", "c")
		var want []string
		for i := range 50 {
			// Two senders interleaved, all due at the same instant or a
			// few at later ones: ties arrive in Send order.
			for _, from := range []transport.NodeID{"a", "c"} {
				p := fmt.Sprintf("%s%d", from, i)
				require.NoError(t, eps[from].Send(context.Background(), "b", []byte(p)))
				want = append(want, p)
			}
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
		var got []string
		for _, a := range recvAll(t, eps["b"], len(want), time.Now()) {
			got = append(got, a.payload)
		}
		require.Equal(t, want, got)
	})
}

func TestReorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hold = 5 * time.Millisecond
		net, eps := newNet(t, memnet.Config{Seed: 9, Link: memnet.Link{Reorder: 0.3, ReorderDelay: hold}}, "a", "b")
		const n = 300
		for i := range n {
			require.NoError(t, eps["a"].Send(context.Background(), "b", []byte(strconv.Itoa(i))))
		}
		// Messages not held back arrived synchronously, in order.
		now := payloads(drain(eps["b"]))
		require.InDelta(t, 0.7*n, len(now), 0.1*n)
		require.True(t, slices.IsSortedFunc(now, func(x, y string) int {
			a, _ := strconv.Atoi(x)
			b, _ := strconv.Atoi(y)
			return a - b
		}))
		// The held ones arrive within the reorder delay, after later
		// messages overtook them.
		time.Sleep(hold)
		synctest.Wait()
		later := payloads(drain(eps["b"]))
		require.Len(t, later, n-len(now))
		all := append(now, later...)
		seen := map[string]bool{}
		for _, p := range all {
			require.False(t, seen[p], "duplicate %s", p)
			seen[p] = true
		}
		require.Len(t, seen, n)
		require.Equal(t, memnet.LinkStats{Sent: n, Delivered: n}, net.Stats("a", "b"))
	})
}

func TestDefaultReorderDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, eps := newNet(t, memnet.Config{Link: memnet.Link{Reorder: 1}}, "a", "b")
		start := time.Now()
		for i := range 20 {
			require.NoError(t, eps["a"].Send(context.Background(), "b", []byte(strconv.Itoa(i))))
		}
		for _, a := range recvAll(t, eps["b"], 20, start) {
			require.Less(t, a.after, memnet.DefaultReorderDelay)
		}
	})
}

func TestTopologyDropsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 10 * time.Millisecond
		net, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: latency}}, "a", "b", "c")
		ctx := context.Background()
		require.NoError(t, eps["a"].Send(ctx, "b", []byte("cut in flight")))
		require.NoError(t, eps["b"].Send(ctx, "a", []byte("other way")))
		require.NoError(t, eps["a"].Send(ctx, "c", []byte("other link")))
		time.Sleep(latency / 2)
		net.Cut("a", "b")
		net.Restore("a", "b") // too late: the message was lost when the link was cut

		start := time.Now()
		require.Equal(t, []arrival{{"other way", "b", latency / 2}}, recvAll(t, eps["a"], 1, start))
		require.Equal(t, []arrival{{"other link", "a", latency / 2}}, recvAll(t, eps["c"], 1, start))
		synctest.Wait()
		require.Empty(t, drain(eps["b"]))
		require.Equal(t, memnet.LinkStats{Sent: 1, DroppedPartition: 1}, net.Stats("a", "b"))

		// A partition and an isolation drop in-flight copies the same way.
		require.NoError(t, eps["a"].Send(ctx, "b", []byte("partitioned")))
		require.NoError(t, eps["c"].Send(ctx, "b", []byte("isolated")))
		net.Partition([]transport.NodeID{"a"}, []transport.NodeID{"b", "c"})
		net.Isolate("c")
		net.Heal()
		time.Sleep(latency)
		synctest.Wait()
		require.Empty(t, drain(eps["b"]))
		require.Equal(t, uint64(2), net.Stats("a", "b").DroppedPartition)
		require.Equal(t, uint64(1), net.Stats("c", "b").DroppedPartition)
		requireAccounted(t, net.TotalStats())
		require.Zero(t, net.TotalStats().InFlight)
	})
}

func TestCrashDropsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 10 * time.Millisecond
		net, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: latency}}, "a", "b")
		ctx := context.Background()
		require.NoError(t, eps["a"].Send(ctx, "b", []byte("to b")))
		require.NoError(t, eps["b"].Send(ctx, "a", []byte("from b")))
		time.Sleep(latency / 2)
		net.Crash("b")
		net.Restart("b") // the restarted node must not see pre-crash traffic
		start := time.Now()
		// What b sent before crashing was on the wire and still arrives.
		require.Equal(t, []arrival{{"from b", "b", latency / 2}}, recvAll(t, eps["a"], 1, start))
		synctest.Wait()
		require.Empty(t, drain(eps["b"]))
		require.Equal(t, memnet.LinkStats{Sent: 1, DroppedCrash: 1}, net.Stats("a", "b"))

		// Traffic after the restart flows.
		require.NoError(t, eps["a"].Send(ctx, "b", []byte("after")))
		require.Equal(t, []arrival{{"after", "a", latency}}, recvAll(t, eps["b"], 1, time.Now()))
	})
}

func TestRejoinDoesNotReceiveOldTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 10 * time.Millisecond
		net, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: latency}}, "a", "b")
		require.NoError(t, eps["a"].Send(context.Background(), "b", []byte("old")))
		require.NoError(t, eps["b"].Close())
		b2, err := net.Join("b")
		require.NoError(t, err)
		time.Sleep(latency)
		synctest.Wait()
		require.Empty(t, drain(b2))
		require.Equal(t, memnet.LinkStats{Sent: 1, DroppedClosed: 1}, net.Stats("a", "b"))
	})
}

func TestNetworkCloseDropsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, eps := newNet(t, memnet.Config{Link: memnet.Link{Latency: time.Hour}}, "a", "b")
		require.NoError(t, eps["a"].Send(context.Background(), "b", []byte("never")))
		require.NoError(t, net.Close())
		_, ok := <-eps["b"].Recv()
		require.False(t, ok)
		require.Equal(t, memnet.LinkStats{Sent: 1, DroppedClosed: 1}, net.Stats("a", "b"))
		require.ErrorIs(t, eps["a"].Send(context.Background(), "b", nil), transport.ErrClosed)
	})
}

// TestCloseLeavesNoGoroutines runs in real time, outside a bubble, so goleak
// sees the timer callback if Close failed to stop or wait for it.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	net, err := memnet.New(memnet.Config{Link: memnet.Link{Latency: time.Millisecond}})
	require.NoError(t, err)
	a, err := net.Join("a")
	require.NoError(t, err)
	// One message goes through the timer; one is still pending at Close.
	require.NoError(t, a.Send(context.Background(), "a", []byte("1")))
	m := <-a.Recv()
	require.Equal(t, "1", string(m.Payload))
	require.NoError(t, net.SetDefaultLink(memnet.Link{Latency: time.Hour}))
	require.NoError(t, a.Send(context.Background(), "a", []byte("2")))
	require.NoError(t, net.Close())
	require.NoError(t, net.Close())
}

// TestServiceUnderSynctest runs request-response servers, each a goroutine
// blocked on its Recv channel, over slow and jittery links. The bubble can
// only advance its clock if memnet blocks durably, on channels and timers.
func TestServiceUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ids := []transport.NodeID{"s1", "s2", "client"}
		net, eps := newNet(t, memnet.Config{Seed: 5, Link: memnet.Link{Latency: 3 * time.Millisecond, Jitter: 4 * time.Millisecond}}, ids...)
		ctx := context.Background()
		for _, id := range ids[:2] {
			ep := eps[id]
			go func() {
				for m := range ep.Recv() {
					_ = ep.Send(ctx, m.From, append([]byte("echo "), m.Payload...))
				}
			}()
		}
		start := time.Now()
		for i := range 10 {
			require.NoError(t, eps["client"].Send(ctx, ids[i%2], []byte(strconv.Itoa(i))))
		}
		got := recvAll(t, eps["client"], 10, start)
		for _, a := range got {
			// A round trip takes two one-way delays, each in [3ms, 7ms).
			require.GreaterOrEqual(t, a.after, 6*time.Millisecond)
			require.Less(t, a.after, 14*time.Millisecond)
		}
		require.Equal(t, uint64(20), net.TotalStats().Delivered)
		// Closing the servers' endpoints ends their loops, so the bubble
		// can finish.
		require.NoError(t, net.Close())
	})
}

func TestHugeDelaysSaturateInsteadOfWrapping(t *testing.T) {
	// Delays near math.MaxInt64 must mean "not for a very long time", not
	// wrap around to a negative sum and deliver at once.
	const huge = time.Duration(math.MaxInt64)
	for _, link := range []memnet.Link{
		{Latency: huge, Jitter: huge},
		{Latency: huge - time.Millisecond, Jitter: time.Hour},
		{Latency: huge / 2, Jitter: huge, Reorder: 1, ReorderDelay: huge},
		{Latency: time.Hour, Reorder: 1, ReorderDelay: huge},
	} {
		t.Run(fmt.Sprintf("%v+%v", link.Latency, link.Jitter), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net, eps := newNet(t, memnet.Config{Seed: 3, Link: link}, "a", "b")
				for i := range 20 {
					require.NoError(t, eps["a"].Send(context.Background(), "b", []byte(strconv.Itoa(i))))
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				require.Empty(t, drain(eps["b"]), "a huge delay delivered early")
				require.Equal(t, uint64(20), net.Stats("a", "b").InFlight)
			})
		})
	}
}
