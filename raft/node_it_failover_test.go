package raft_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// itEnvInt reads a positive integer from the environment, or returns def.
func itEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// failoverOnce starts a cluster from seed, kills its leader at a random
// phase of the tick, and returns the virtual time until another node leads.
func failoverOnce(t *testing.T, seed uint64, size int) time.Duration {
	var took time.Duration
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 0xfa11))
		c := newITCluster(t, itConfig{Size: size, Seed: seed,
			Link: memnet.Link{Latency: 500 * time.Microsecond, Jitter: time.Millisecond}})
		defer c.close()
		c.waitLeader(20*time.Second, 0)
		require.NoError(t, c.putRetry(5*time.Second, "k", "before"))
		// Let the cluster settle for a random while, so the kill lands at
		// any point of the heartbeat and election-timer cycles.
		pause(time.Duration(rng.Int64N(int64(3 * itElection))))
		lead, term := c.leader()
		require.NotEqual(t, raft.None, lead)
		require.NoError(t, c.kill(lead))
		start := time.Now()
		next := c.waitLeader(20*itElection, term)
		took = time.Since(start)
		require.NotEqual(t, lead, next)
		require.NoError(t, c.putRetry(5*time.Second, "k", "after"))
	})
	return took
}

// TestNodeITFailoverTime kills the leader of a fresh 3-node cluster, one
// seed at a time, and requires a new leader within twice the election
// timeout (ElectionTicks × TickInterval) at the 99th percentile.
// DISTKIT_RAFT_NODE_FAILOVER_SEEDS sets the number of seeds (default 40).
func TestNodeITFailoverTime(t *testing.T) {
	seeds := itEnvInt("DISTKIT_RAFT_NODE_FAILOVER_SEEDS", 40)
	var times []time.Duration
	for s := range seeds {
		seed := uint64(s + 1)
		d := failoverOnce(t, seed, 3)
		if t.Failed() {
			t.Fatalf("failover seed %d failed", seed)
		}
		times = append(times, d)
	}
	slices.Sort(times)
	pct := func(p float64) time.Duration {
		// Nearest rank.
		i := int(p*float64(len(times))+0.999999) - 1
		return times[max(0, min(i, len(times)-1))]
	}
	var hist strings.Builder
	scale := max(1, (len(times)+59)/60) // at most about 60 marks a bucket
	for lo := time.Duration(0); lo <= times[len(times)-1]; lo += 100 * time.Millisecond {
		n := 0
		for _, d := range times {
			if d >= lo && d < lo+100*time.Millisecond {
				n++
			}
		}
		fmt.Fprintf(&hist, "\n  [%4dms, %4dms): %s", lo.Milliseconds(), (lo + 100*time.Millisecond).Milliseconds(), strings.Repeat("#", (n+scale-1)/scale))
	}
	bound := 2 * itElection
	t.Logf("failover over %d seeds (3 nodes, election timeout %v, bound %v): min %v p50 %v p90 %v p99 %v max %v (# = %d seeds)%s",
		len(times), itElection, bound, times[0], pct(0.5), pct(0.9), pct(0.99), times[len(times)-1], scale, hist.String())
	require.LessOrEqual(t, pct(0.99), bound, "failover p99 above twice the election timeout")
}
