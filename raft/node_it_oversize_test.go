package raft_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// TestNodeITOversizedCommand proposes a command larger than the transport
// can carry in one message (memnet limited to 64 KiB, and the node told so
// with MaxCommandBytes, which it cannot learn from the Transport). The node
// must refuse it at once (it could never be replicated) instead of
// appending it and wedging the log behind it (RAFTIT-4), and the cluster
// must go on committing smaller commands.
func TestNodeITOversizedCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(11), MaxPayload: 64 << 10,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) { cfg.MaxCommandBytes = 60 << 10 }})
		defer c.close()
		lead := c.waitLeader(10*time.Second, 0)
		node, _ := c.running(lead)
		big := make([]byte, 100<<10)
		for i := range big {
			big[i] = 'x'
		}
		copy(big, "big=")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := node.Propose(ctx, big)
		cancel()
		require.ErrorIs(t, err, raft.ErrCommandTooLarge)
		require.Zero(t, time.Since(start), "oversized propose was not refused at once")
		// Through a follower too.
		for _, id := range c.ids {
			if id == lead {
				continue
			}
			f, _ := c.running(id)
			_, err := f.Propose(context.Background(), big)
			require.ErrorIs(t, err, raft.ErrCommandTooLarge, "via follower %s", id)
		}
		require.NoError(t, c.putRetry(10*time.Second, "small", "after"), "the cluster is wedged behind an oversized entry")
		w := newITWrites()
		w.acked["small"] = "after"
		state := c.converge(10 * time.Second)
		w.check(t, state)
		require.NotContains(t, state, "big", "the refused command was applied")
	})
}
