package raft_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport"
)

// keepingTransport remembers every payload it is given, with a copy of its
// bytes at the time of Send.
type keepingTransport struct {
	transport.Transport
	mu   sync.Mutex
	sent []keptPayload
}

type keptPayload struct{ given, copied []byte }

func (k *keepingTransport) Send(ctx context.Context, to transport.NodeID, p []byte) error {
	k.mu.Lock()
	k.sent = append(k.sent, keptPayload{given: p, copied: bytes.Clone(p)})
	k.mu.Unlock()
	return k.Transport.Send(ctx, to, p)
}

// The leader sends one buffer to every follower an append is the same for.
// Nothing, in the node or the transport, may change such a buffer after
// Send: each payload still holds the bytes it had when it was sent.
func TestNodeSharedSendBuffersAreNeverModified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		keeps := map[raft.NodeID]*keepingTransport{}
		c := newTestCluster(t, 3, func(cfg *raft.NodeConfig) {
			k := &keepingTransport{Transport: cfg.Transport}
			mu.Lock()
			keeps[cfg.Raft.ID] = k
			mu.Unlock()
			cfg.Transport = k
		})
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 5 {
					if _, err := c.nodes[lead].Propose(ctx, fmt.Appendf(nil, "k%d=%d", i, j)); err != nil {
						t.Errorf("propose: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		require.NoError(t, c.nodes[lead].ReadIndex(ctx))
		c.close()

		shared := 0
		for id, k := range keeps {
			k.mu.Lock()
			seen := map[*byte]bool{}
			for i, s := range k.sent {
				require.Equal(t, s.copied, s.given, "payload %d sent by %s changed after Send", i, id)
				if len(s.given) > 0 {
					p := &s.given[0]
					if seen[p] {
						shared++
					}
					seen[p] = true
				}
			}
			k.mu.Unlock()
		}
		require.Positive(t, shared, "no buffer was shared: the test checks nothing")
	})
}
