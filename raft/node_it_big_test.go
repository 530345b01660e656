package raft_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// TestNodeITOversizedCommand proposes a command larger than the transport
// can carry in one message. The node must refuse it (it could never be
// replicated) instead of appending it and wedging the log behind it, and
// the cluster must go on committing smaller commands.
func TestNodeITOversizedCommand(t *testing.T) {
	if !itKnownBugs() {
		t.Skip("RAFTIT-4 in raft-bugs.md: a command larger than the transport's payload limit wedges the cluster; set DISTKIT_RAFT_NODE_IT_KNOWN_BUGS=1 to run")
	}
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(11), MaxPayload: 64 << 10,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond}})
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
		t.Logf("oversized propose: %v after %v", err, time.Since(start))
		require.Error(t, err)
		require.False(t, errors.Is(err, context.DeadlineExceeded), "oversized propose hung until its deadline")
		require.NoError(t, c.putRetry(10*time.Second, "small", "after"), "the cluster is wedged behind an oversized entry")
	})
}
