package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPreVoteTieBreak checks that two followers that start pre-votes at
// the same moment with equal logs do not both campaign and split the vote:
// the one with the higher ID is refused by the other, so the lower one wins
// in the next term.
func TestPreVoteTieBreak(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	term := l.core.term
	c.crash(l)
	a, b := c.node(1), c.node(2)
	require.Less(t, a.id, b.id)
	a.core.campaign(campaignPreElection)
	b.core.campaign(campaignPreElection)
	c.deliverAll(20)
	require.Equal(t, StateLeader, a.core.state)
	require.Equal(t, term+1, a.core.term, "one election, no split vote")
	require.Equal(t, StateFollower, b.core.state)
	require.Equal(t, a.id, b.core.lead)
	c.checkInvariants()
}
