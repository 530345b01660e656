package raft_test

import (
	"fmt"
	"math"
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
func failoverOnce(t *testing.T, seed uint64, size int, lockstep bool) time.Duration {
	var took time.Duration
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 0xfa11))
		c := newITCluster(t, itConfig{Size: size, Seed: seed, Lockstep: lockstep,
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

// failoverStats runs failovers for seeds first, first+step, ... (count
// of them) and returns their sorted times.
func failoverStats(t *testing.T, first, step, count int, lockstep bool) []time.Duration {
	var times []time.Duration
	for i := range count {
		seed := uint64(first + i*step)
		d := failoverOnce(t, seed, 3, lockstep)
		if t.Failed() {
			t.Fatalf("failover seed %d (lockstep %v) failed", seed, lockstep)
		}
		times = append(times, d)
	}
	slices.Sort(times)
	return times
}

// pct returns the p-th percentile of sorted times, by nearest rank.
func pct(times []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(times)))) - 1
	return times[max(0, min(i, len(times)-1))]
}

// failoverSummary describes a distribution of failover times, with a
// histogram in 100 ms buckets.
func failoverSummary(times []time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "min %v p50 %v p90 %v p99 %v max %v", times[0], pct(times, 0.5), pct(times, 0.9), pct(times, 0.99), times[len(times)-1])
	scale := max(1, (len(times)+59)/60) // at most about 60 marks a bucket
	fmt.Fprintf(&b, " (# = %d seeds)", scale)
	for lo := time.Duration(0); lo <= times[len(times)-1]; lo += 100 * time.Millisecond {
		n := 0
		for _, d := range times {
			if d >= lo && d < lo+100*time.Millisecond {
				n++
			}
		}
		fmt.Fprintf(&b, "\n  [%4dms, %4dms): %s", lo.Milliseconds(), (lo + 100*time.Millisecond).Milliseconds(), strings.Repeat("#", (n+scale-1)/scale))
	}
	return b.String()
}

// TestNodeITFailoverTime kills the leader of a fresh 3-node cluster, one
// seed at a time, and requires a new leader within twice the election
// timeout (ElectionTicks × TickInterval) at the 99th percentile.
// DISTKIT_RAFT_NODE_FAILOVER_SEEDS sets the number of seeds (default 40).
//
// Odd seeds start the nodes at random points of a tick, as real processes
// do. Even seeds start them in the same instant, so their tickers fire
// together: two followers that draw the same timeout (one chance in
// ElectionTicks) then time out together, and only the pre-vote tiebreak
// keeps them from splitting the vote.
func TestNodeITFailoverTime(t *testing.T) {
	seeds := itEnvInt("DISTKIT_RAFT_NODE_FAILOVER_SEEDS", 40)
	staggered := failoverStats(t, 1, 2, (seeds+1)/2, false)
	lockstep := failoverStats(t, 2, 2, seeds/2, true)
	all := slices.Sorted(slices.Values(slices.Concat(staggered, lockstep)))
	bound := 2 * itElection
	t.Logf("failover over %d seeds (3 nodes, election timeout %v, bound %v at p99): %s", len(all), itElection, bound, failoverSummary(all))
	t.Logf("of which staggered starts (%d seeds): %s", len(staggered), failoverSummary(staggered))
	t.Logf("of which lockstep tickers (%d seeds): %s", len(lockstep), failoverSummary(lockstep))
	require.LessOrEqual(t, pct(all, 0.99), bound, "failover p99 above twice the election timeout")
	require.LessOrEqual(t, pct(staggered, 0.99), bound, "failover p99 (staggered starts) above twice the election timeout")
	require.LessOrEqual(t, pct(lockstep, 0.99), bound, "failover p99 (lockstep tickers) above twice the election timeout")
}
