package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClusterElectsAndReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	require.Equal(t, StateLeader, l.core.state)
	for i := 0; i < 10; i++ {
		require.NoError(t, c.propose(l, []byte{byte('a' + i)}))
		c.deliverAll(20)
		c.checkInvariants()
	}
	// Heartbeats carry the final commit index to followers.
	c.tickAll()
	c.deliverAll(20)
	c.checkInvariants()
	for _, id := range c.ids {
		require.Len(t, c.nodes[id].applied, 11, "node %s", id)
	}
	c.stabilize(200)
}
