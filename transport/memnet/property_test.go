package memnet_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// step is one action of a generated run: a send, a pause, or a topology
// change.
type step struct {
	kind     string // "send", "sleep", "partition", "heal"
	from, to transport.NodeID
	sleep    time.Duration
}

// runResult is what a run observed, gathered inside a synctest bubble and
// checked outside it, so that rapid (not the bubble's *testing.T) reports
// and shrinks failures.
type runResult struct {
	err      error
	received map[string]int // payload -> copies received
	perLink  map[[2]transport.NodeID]int
	stats    map[[2]transport.NodeID]memnet.LinkStats
	total    memnet.LinkStats
}

var propIDs = []transport.NodeID{"a", "b", "c"}

// runSteps plays steps on a network with link l in a synctest bubble, then
// heals it, waits out every delay and collects what arrived.
func runSteps(t *testing.T, seed uint64, l memnet.Link, steps []step) runResult {
	res := runResult{
		received: map[string]int{},
		perLink:  map[[2]transport.NodeID]int{},
		stats:    map[[2]transport.NodeID]memnet.LinkStats{},
	}
	synctest.Test(t, func(*testing.T) {
		net, err := memnet.New(memnet.Config{Seed: seed, QueueSize: 4 * len(steps), Link: l})
		if err != nil {
			res.err = err
			return
		}
		defer net.Close()
		eps := map[transport.NodeID]*memnet.Endpoint{}
		for _, id := range propIDs {
			if eps[id], err = net.Join(id); err != nil {
				res.err = err
				return
			}
		}
		for i, s := range steps {
			switch s.kind {
			case "send":
				if err := eps[s.from].Send(context.Background(), s.to, []byte(strconv.Itoa(i))); err != nil {
					res.err = fmt.Errorf("step %d: %w", i, err)
					return
				}
			case "sleep":
				time.Sleep(s.sleep)
			case "partition":
				net.Partition([]transport.NodeID{s.from}) // s.from alone, the others together
			case "heal":
				net.Heal()
			}
		}
		net.Heal()
		time.Sleep(l.Latency + l.Jitter + l.ReorderDelay + memnet.DefaultReorderDelay)
		synctest.Wait()
		for _, id := range propIDs {
			for _, m := range drain(eps[id]) {
				res.received[string(m.Payload)]++
				res.perLink[[2]transport.NodeID{m.From, m.To}]++
			}
		}
		for _, from := range propIDs {
			for _, to := range propIDs {
				res.stats[[2]transport.NodeID{from, to}] = net.Stats(from, to)
			}
		}
		res.total = net.TotalStats()
	})
	return res
}

func drawSteps(t *rapid.T, allowPartitions bool) []step {
	node := rapid.SampledFrom(propIDs)
	kinds := []string{"send", "send", "send", "sleep"}
	if allowPartitions {
		kinds = append(kinds, "partition", "heal")
	}
	n := rapid.IntRange(0, 60).Draw(t, "steps")
	steps := make([]step, n)
	for i := range steps {
		s := step{kind: rapid.SampledFrom(kinds).Draw(t, "kind")}
		switch s.kind {
		case "send":
			s.from, s.to = node.Draw(t, "from"), node.Draw(t, "to")
		case "sleep":
			s.sleep = time.Duration(rapid.IntRange(1, 20).Draw(t, "sleep ms")) * time.Millisecond
		case "partition":
			s.from = node.Draw(t, "alone")
		}
		steps[i] = s
	}
	return steps
}

func drawTimedLink(t *rapid.T) memnet.Link {
	ms := func(label string) time.Duration {
		return time.Duration(rapid.IntRange(0, 10).Draw(t, label)) * time.Millisecond
	}
	return memnet.Link{
		Latency:      ms("latency ms"),
		Jitter:       ms("jitter ms"),
		Reorder:      rapid.Float64Range(0, 1).Draw(t, "reorder"),
		ReorderDelay: ms("reorder delay ms"),
	}
}

func sends(steps []step) int {
	n := 0
	for _, s := range steps {
		if s.kind == "send" {
			n++
		}
	}
	return n
}

// TestPropertyReliableLinksDeliverExactlyOnce: with no loss, no duplication
// and no partition, every message arrives exactly once, whatever the
// latency, jitter and reordering.
func TestPropertyReliableLinksDeliverExactlyOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		l := drawTimedLink(rt)
		steps := drawSteps(rt, false)
		res := runSteps(t, rapid.Uint64().Draw(rt, "seed"), l, steps)
		require.NoError(rt, res.err)
		for i, s := range steps {
			if s.kind == "send" {
				require.Equal(rt, 1, res.received[strconv.Itoa(i)], "copies of message %d", i)
			}
		}
		require.Len(rt, res.received, sends(steps))
		require.Equal(rt, uint64(sends(steps)), res.total.Delivered)
		require.Equal(rt, res.total.Sent, res.total.Delivered)
	})
}

// TestPropertyFaultyLinks: with any loss and partitions, a link without
// duplication delivers each message at most once, every count the receivers
// saw matches the statistics, and the statistics add up.
func TestPropertyFaultyLinks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		l := drawTimedLink(rt)
		l.Loss = rapid.Float64Range(0, 1).Draw(rt, "loss")
		if rapid.Bool().Draw(rt, "duplicating") {
			l.Duplicate = rapid.Float64Range(0, 1).Draw(rt, "duplicate")
		}
		steps := drawSteps(rt, true)
		res := runSteps(t, rapid.Uint64().Draw(rt, "seed"), l, steps)
		require.NoError(rt, res.err)

		for p, copies := range res.received {
			require.LessOrEqual(rt, copies, 2, "message %s", p)
			if l.Duplicate == 0 {
				require.Equal(rt, 1, copies, "message %s duplicated with Duplicate = 0", p)
			}
		}
		var sum memnet.LinkStats
		for k, s := range res.stats {
			requireAccounted(rt, s)
			require.Zero(rt, s.InFlight, "link %v", k)
			require.Equal(rt, uint64(res.perLink[k]), s.Delivered, "link %v: received vs Delivered", k)
			if l.Loss == 0 {
				require.Zero(rt, s.DroppedLoss)
			}
			if l.Duplicate == 0 {
				require.Zero(rt, s.Duplicated)
			}
			sum.Sent += s.Sent
		}
		require.Equal(rt, uint64(sends(steps)), sum.Sent)
		require.Equal(rt, sum.Sent, res.total.Sent)
		requireAccounted(rt, res.total)
	})
}

// TestDeterminism runs the same scripted scenario, with every kind of random
// fault, twice per seed: the same seed gives the same arrivals at the same
// virtual times and the same statistics.
func TestDeterminism(t *testing.T) {
	run := func(seed uint64, extraTraffic bool) (trace string, ab string) {
		synctest.Test(t, func(t *testing.T) {
			net, eps := newNet(t, memnet.Config{Seed: seed, Link: memnet.Link{
				Loss: 0.2, Duplicate: 0.2, Latency: time.Millisecond, Jitter: 5 * time.Millisecond, Reorder: 0.2,
			}}, propIDs...)
			start := time.Now()
			var logs [3]strings.Builder
			done := make(chan struct{})
			for i, id := range propIDs {
				go func() {
					defer func() { done <- struct{}{} }()
					for m := range eps[id].Recv() {
						fmt.Fprintf(&logs[i], "%v %s->%s %s\n", time.Since(start), m.From, m.To, m.Payload)
					}
				}()
			}
			ctx := context.Background()
			for i := range 200 {
				from, to := propIDs[i%3], propIDs[(i/3)%3]
				require.NoError(t, eps[from].Send(ctx, to, []byte(strconv.Itoa(i))))
				if extraTraffic {
					// Traffic on another link, interleaved, must not
					// change the fates on a->b.
					require.NoError(t, eps["c"].Send(ctx, "a", []byte("extra")))
				}
				if i%7 == 0 {
					time.Sleep(time.Duration(i%5) * time.Millisecond)
				}
				if i == 100 {
					net.Partition([]transport.NodeID{"c"})
				}
				if i == 150 {
					net.Heal()
				}
			}
			time.Sleep(20 * time.Millisecond)
			require.NoError(t, net.Close())
			for range propIDs {
				<-done
			}
			var b strings.Builder
			for i := range logs {
				b.WriteString(logs[i].String())
			}
			for _, from := range propIDs {
				for _, to := range propIDs {
					fmt.Fprintf(&b, "%s->%s %+v\n", from, to, net.Stats(from, to))
				}
			}
			trace = b.String()
			ab = fmt.Sprintf("%+v", net.Stats("a", "b"))
			for _, line := range strings.Split(logs[1].String(), "\n") {
				if strings.Contains(line, "a->b") {
					ab += "\n" + line
				}
			}
		})
		return trace, ab
	}

	first, firstAB := run(1, false)
	second, _ := run(1, false)
	require.Equal(t, first, second, "same seed, same trace")
	other, _ := run(2, false)
	require.NotEqual(t, first, other, "a different seed should give a different trace")
	_, withExtra := run(1, true)
	require.Equal(t, firstAB, withExtra, "traffic on other links must not change a->b")
	require.Contains(t, first, "DroppedLoss", "sanity: the trace includes statistics")
}
