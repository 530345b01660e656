package memnet_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// newNet builds a network and joins the given nodes, closing it when the
// test ends.
func newNet(t *testing.T, cfg memnet.Config, ids ...transport.NodeID) (*memnet.Network, map[transport.NodeID]*memnet.Endpoint) {
	t.Helper()
	net, err := memnet.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, net.Close()) })
	eps := make(map[transport.NodeID]*memnet.Endpoint, len(ids))
	for _, id := range ids {
		ep, err := net.Join(id)
		require.NoError(t, err)
		eps[id] = ep
	}
	return net, eps
}

// drain returns every message already in ep's queue without blocking.
func drain(ep *memnet.Endpoint) []transport.Message {
	var out []transport.Message
	for {
		select {
		case m, ok := <-ep.Recv():
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

// payloads returns the payloads of ms as strings.
func payloads(ms []transport.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload)
	}
	return out
}

// accounted reports whether the accounting identity of LinkStats holds for s.
func accounted(s memnet.LinkStats) bool {
	return s.Sent+s.Duplicated == s.Delivered+s.Dropped()+s.InFlight
}

func requireAccounted(t require.TestingT, s memnet.LinkStats) {
	require.Truef(t, accounted(s), "sent %d + duplicated %d != delivered %d + dropped %d + in flight %d (%+v)",
		s.Sent, s.Duplicated, s.Delivered, s.Dropped(), s.InFlight, s)
}
