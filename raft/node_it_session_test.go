package raft_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// TestNodeITSessionsExactlyOnce retries every request of three clients,
// with the same (client, seq), through random nodes and short deadlines on
// a lossy, duplicating network while the leader is killed and revived. With
// sessions on, the node must apply each request once: itKV counts any
// command it sees twice, and must see none. A retry of an applied request
// gets the first application's result.
func TestNodeITSessionsExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newITCluster(t, itConfig{Size: 3, Seed: itSeed(8), WAL: true,
			Link: memnet.Link{Latency: time.Millisecond, Jitter: 4 * time.Millisecond, Loss: 0.05, Duplicate: 0.1, Reorder: 0.1},
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Sessions = true
				cfg.Raft.SnapshotEntries = 32
			}})
		defer c.close()
		c.waitLeader(10*time.Second, 0)

		propose := func(rng *rand.Rand, client, seq uint64, cmd []byte) (any, error) {
			via := c.ids[rng.IntN(len(c.ids))]
			node, _ := c.running(via)
			if node == nil {
				return nil, fmt.Errorf("%s down", via)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+rng.IntN(200))*time.Millisecond)
			defer cancel()
			return node.ProposeSession(ctx, client, seq, cmd)
		}

		var mu sync.Mutex
		acked := map[string]string{}
		var failures []string
		var wg sync.WaitGroup
		for client := uint64(1); client <= 3; client++ {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(c.cfg.Seed, client))
				for seq := uint64(1); seq <= 40; seq++ {
					k, v := fmt.Sprintf("c%d-%03d", client, seq), fmt.Sprintf("v%d", seq)
					var res any
					var err error
					deadline := time.Now().Add(30 * time.Second)
					// ErrDuplicateRequest answers a retry of a request that
					// was applied but whose result was lost with a restart.
					done := func(err error) bool { return err == nil || errors.Is(err, raft.ErrDuplicateRequest) }
					for res, err = propose(rng, client, seq, itCmd(k, v)); !done(err); res, err = propose(rng, client, seq, itCmd(k, v)) {
						if time.Now().After(deadline) {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("client %d seq %d: %v", client, seq, err))
							mu.Unlock()
							return
						}
						pause(10 * time.Millisecond)
					}
					// Ask again: the session must answer with the first
					// result, not apply it a second time.
					var again any
					first := err
					for again, err = propose(rng, client, seq, itCmd(k, v)); !done(err); again, err = propose(rng, client, seq, itCmd(k, v)) {
						if time.Now().After(deadline) {
							break
						}
						pause(10 * time.Millisecond)
					}
					mu.Lock()
					acked[k] = v
					if first == nil && err == nil && again != res {
						failures = append(failures, fmt.Sprintf("client %d seq %d: first result %v, retry got %v", client, seq, res, again))
					}
					mu.Unlock()
				}
			})
		}

		// Kill and revive the leader while the clients run.
		for range 2 {
			pause(400 * time.Millisecond)
			lead, term := c.leader()
			if lead == raft.None {
				continue
			}
			require.NoError(t, c.kill(lead))
			c.waitLeader(10*itElection, term)
			pause(200 * time.Millisecond)
			require.NoError(t, c.revive(lead))
		}
		wg.Wait()
		require.Empty(t, failures)

		require.NoError(t, c.net.SetDefaultLink(memnet.Link{Latency: time.Millisecond}))
		state := c.converge(30 * time.Second)
		for k, v := range acked {
			require.Equal(t, v, state[k], "acknowledged write %s=%s lost", k, v)
		}
		for _, id := range c.ids {
			_, sm := c.running(id)
			_, _, repeats := sm.counters()
			require.Zero(t, repeats, "%s applied a session request more than once", id)
		}
	})
}
