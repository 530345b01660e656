package tcpnet

import (
	"testing"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/transporttest"
)

// conformanceMaxPayload keeps the suite's TooLarge and MaxPayloadAccepted
// cases quick under -race while still spanning several read chunks.
const conformanceMaxPayload = 1 << 20

// factory builds linked tcpnet transports on loopback; tlsFor, when not nil,
// gives each node its TLS config.
func factory(tlsFor func(t *testing.T, id transport.NodeID) func(*Config)) transporttest.Factory {
	return func(t *testing.T, ids []transport.NodeID) []transport.Transport {
		trs := make([]*Transport, len(ids))
		out := make([]transport.Transport, len(ids))
		for i, id := range ids {
			var edit func(*Config)
			if tlsFor != nil {
				edit = tlsFor(t, id)
			}
			trs[i] = newNode(t, id, func(c *Config) {
				c.MaxFrameSize = conformanceMaxPayload
				if edit != nil {
					edit(c)
				}
			})
			out[i] = trs[i]
		}
		link(t, trs...)
		return out
	}
}

func TestConformancePlainTCP(t *testing.T) {
	transporttest.Run(t, factory(nil), transporttest.Options{MaxPayload: conformanceMaxPayload})
}

func TestConformanceMutualTLS(t *testing.T) {
	// One CA for the whole suite: every node any case builds trusts it.
	ca := newTestCA(t)
	transporttest.Run(t, factory(func(t *testing.T, id transport.NodeID) func(*Config) {
		cert := ca.issue(t, id)
		return func(c *Config) { c.TLS = MutualTLSConfig(cert, ca.pool) }
	}), transporttest.Options{MaxPayload: conformanceMaxPayload})
}
