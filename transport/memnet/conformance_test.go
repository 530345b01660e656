package memnet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/distkit/distkit/transport/transporttest"
)

// conformanceFactory builds a fresh network per case.
func conformanceFactory(cfg memnet.Config) transporttest.Factory {
	return func(t *testing.T, ids []transport.NodeID) []transport.Transport {
		net, err := memnet.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, net.Close()) })
		out := make([]transport.Transport, len(ids))
		for i, id := range ids {
			ep, err := net.Join(id)
			require.NoError(t, err)
			out[i] = ep
		}
		return out
	}
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, conformanceFactory(memnet.Config{}), transporttest.Options{})
}

// TestConformanceWithLatency runs the suite over links with latency and
// jitter, so that delivery goes through the network's timer rather than
// straight into the queue.
func TestConformanceWithLatency(t *testing.T) {
	cfg := memnet.Config{
		Seed:       7,
		MaxPayload: 1 << 20,
		Link:       memnet.Link{Latency: 200 * time.Microsecond, Jitter: 300 * time.Microsecond},
	}
	transporttest.Run(t, conformanceFactory(cfg), transporttest.Options{MaxPayload: 1 << 20})
}
