package memnet_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// netModel is a naive reference for memnet with zero delays and links whose
// probabilities are 0 or 1, where every fault decision is predictable. It
// keeps each node's queue as a plain list and recomputes reachability from
// scratch on every send.
type netModel struct {
	net       *memnet.Network
	eps       map[transport.NodeID]*memnet.Endpoint
	ids       []transport.NodeID
	queueSize int

	queues   map[transport.NodeID][]transport.Message
	crashed  map[transport.NodeID]bool
	group    map[transport.NodeID]int // nil: no partition
	isolated map[transport.NodeID]bool
	cut      map[[2]transport.NodeID]bool
	def      memnet.Link
	override map[[2]transport.NodeID]memnet.Link
	stats    map[[2]transport.NodeID]*memnet.LinkStats
	next     int
}

func (m *netModel) blocked(from, to transport.NodeID) bool {
	if from == to {
		return false
	}
	if m.isolated[from] || m.isolated[to] || m.cut[[2]transport.NodeID{from, to}] {
		return true
	}
	return m.group != nil && m.group[from] != m.group[to]
}

func (m *netModel) link(from, to transport.NodeID) memnet.Link {
	if l, ok := m.override[[2]transport.NodeID{from, to}]; ok {
		return l
	}
	return m.def
}

func (m *netModel) st(from, to transport.NodeID) *memnet.LinkStats {
	k := [2]transport.NodeID{from, to}
	if m.stats[k] == nil {
		m.stats[k] = &memnet.LinkStats{}
	}
	return m.stats[k]
}

// drawLink draws a link whose faults are certain: each probability is 0 or 1.
func drawLink(t *rapid.T) memnet.Link {
	return memnet.Link{
		Loss:      float64(rapid.IntRange(0, 1).Draw(t, "loss")),
		Duplicate: float64(rapid.IntRange(0, 1).Draw(t, "duplicate")),
	}
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ids := []transport.NodeID{"n0", "n1", "n2"}
		queueSize := rapid.IntRange(1, 4).Draw(rt, "queueSize")
		net, err := memnet.New(memnet.Config{Seed: rapid.Uint64().Draw(rt, "seed"), QueueSize: queueSize})
		require.NoError(rt, err)
		defer net.Close()
		m := &netModel{
			net: net, eps: map[transport.NodeID]*memnet.Endpoint{}, ids: ids, queueSize: queueSize,
			queues: map[transport.NodeID][]transport.Message{}, crashed: map[transport.NodeID]bool{},
			isolated: map[transport.NodeID]bool{}, cut: map[[2]transport.NodeID]bool{},
			override: map[[2]transport.NodeID]memnet.Link{}, stats: map[[2]transport.NodeID]*memnet.LinkStats{},
		}
		for _, id := range ids {
			ep, err := net.Join(id)
			require.NoError(rt, err)
			m.eps[id] = ep
		}
		node := rapid.SampledFrom(ids)
		ctx := context.Background()

		rt.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				from := node.Draw(t, "from")
				to := rapid.SampledFrom(append(slices.Clone(ids), "unknown")).Draw(t, "to")
				m.next++
				p := strconv.Itoa(m.next)
				err := m.eps[from].Send(ctx, to, []byte(p))
				switch {
				case m.crashed[from]:
					require.ErrorIs(t, err, transport.ErrCrashed)
					return
				case to == "unknown":
					require.ErrorIs(t, err, transport.ErrUnknownPeer)
					return
				}
				require.NoError(t, err)
				s := m.st(from, to)
				s.Sent++
				l := m.link(from, to)
				switch {
				case m.blocked(from, to):
					s.DroppedPartition++
				case m.crashed[to]:
					s.DroppedCrash++
				case l.Loss == 1:
					s.DroppedLoss++
				default:
					copies := 1
					if l.Duplicate == 1 {
						copies = 2
						s.Duplicated++
					}
					for range copies {
						if len(m.queues[to]) < m.queueSize {
							m.queues[to] = append(m.queues[to], transport.Message{From: from, To: to, Payload: []byte(p)})
							s.Delivered++
						} else {
							s.DroppedOverflow++
						}
					}
				}
			},
			"recv": func(t *rapid.T) {
				id := node.Draw(t, "node")
				got := drain(m.eps[id])
				require.Equal(t, len(m.queues[id]), len(got), "queue length at %s", id)
				for i, want := range m.queues[id] {
					require.Equal(t, want, got[i])
				}
				m.queues[id] = nil
			},
			"crash": func(t *rapid.T) {
				id := node.Draw(t, "node")
				m.net.Crash(id)
				for _, msg := range m.queues[id] {
					s := m.st(msg.From, msg.To)
					s.Delivered--
					s.DroppedCrash++
				}
				m.queues[id] = nil
				m.crashed[id] = true
			},
			"restart": func(t *rapid.T) {
				id := node.Draw(t, "node")
				m.net.Restart(id)
				delete(m.crashed, id)
			},
			"partition": func(t *rapid.T) {
				// Group 0 means "named in no group".
				groups := make([][]transport.NodeID, 2)
				m.group = map[transport.NodeID]int{}
				for _, id := range ids {
					g := rapid.IntRange(0, 2).Draw(t, "group of "+string(id))
					m.group[id] = g
					if g > 0 {
						groups[g-1] = append(groups[g-1], id)
					}
				}
				m.net.Partition(groups...)
			},
			"isolate": func(t *rapid.T) {
				id := node.Draw(t, "node")
				m.net.Isolate(id)
				m.isolated[id] = true
			},
			"cut": func(t *rapid.T) {
				from, to := node.Draw(t, "from"), node.Draw(t, "to")
				m.net.Cut(from, to)
				m.cut[[2]transport.NodeID{from, to}] = true
			},
			"restore": func(t *rapid.T) {
				from, to := node.Draw(t, "from"), node.Draw(t, "to")
				m.net.Restore(from, to)
				delete(m.cut, [2]transport.NodeID{from, to})
			},
			"heal": func(t *rapid.T) {
				m.net.Heal()
				m.group = nil
				clear(m.isolated)
				clear(m.cut)
			},
			"setLink": func(t *rapid.T) {
				from, to := node.Draw(t, "from"), node.Draw(t, "to")
				l := drawLink(t)
				require.NoError(t, m.net.SetLink(from, to, l))
				m.override[[2]transport.NodeID{from, to}] = l
			},
			"clearLink": func(t *rapid.T) {
				from, to := node.Draw(t, "from"), node.Draw(t, "to")
				m.net.ClearLink(from, to)
				delete(m.override, [2]transport.NodeID{from, to})
			},
			"setDefaultLink": func(t *rapid.T) {
				l := drawLink(t)
				require.NoError(t, m.net.SetDefaultLink(l))
				m.def = l
			},
			"": func(t *rapid.T) {
				var total memnet.LinkStats
				for _, from := range ids {
					for _, to := range ids {
						want := *m.st(from, to)
						got := m.net.Stats(from, to)
						require.Equal(t, want, got, "stats of %s->%s", from, to)
						requireAccounted(t, got)
						total.Sent += got.Sent
						total.Delivered += got.Delivered
					}
				}
				tot := m.net.TotalStats()
				require.Equal(t, total.Sent, tot.Sent)
				require.Equal(t, total.Delivered, tot.Delivered)
				for _, id := range ids {
					require.Equal(t, m.crashed[id], m.net.Crashed(id))
				}
			},
		})
	})
}
