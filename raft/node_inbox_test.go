package raft_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/memnet"
)

// Callers that keep proposing while the node closes: every call returns,
// with a result before the close or ErrStopped, never with the deadline of
// a call nobody answered; calls after Close fail at once. It checks the
// inbox's hand-over to Close (requests left in it, requests the loop took
// but did not finish) and that no wake-up is lost while callers arrive in
// bursts.
func TestNodeCloseRacingCallersAnswersEveryCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		defer c.close()
		lead := c.leader()
		n := c.nodes[lead]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		const callers = 64
		var (
			wg        sync.WaitGroup
			succeeded atomic.Int64
			closeNow  = make(chan struct{})
			once      sync.Once
		)
		errs := make(chan error, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; ; j++ {
					var err error
					if i%4 == 3 {
						err = n.ReadIndex(ctx)
					} else {
						_, err = n.Propose(ctx, fmt.Appendf(nil, "k%d=%d", i, j))
					}
					if err != nil {
						errs <- err
						return
					}
					if succeeded.Add(1) == 3*callers {
						once.Do(func() { close(closeNow) })
					}
				}
			}()
		}
		<-closeNow
		require.NoError(t, n.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			require.True(t, errors.Is(err, raft.ErrStopped), "a caller got %v", err)
		}
		require.GreaterOrEqual(t, succeeded.Load(), int64(3*callers))
		_, err := n.Propose(ctx, []byte("late=1"))
		require.ErrorIs(t, err, raft.ErrStopped)
	})
}

// Calls made before Start wait in the inbox; closing a node that never
// started answers each of them once, with ErrStopped.
func TestNodeCloseBeforeStartAnswersWaitingCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, err := memnet.New(memnet.Config{Seed: 1})
		require.NoError(t, err)
		defer func() { require.NoError(t, net.Close()) }()
		ep, err := net.Join("n1")
		require.NoError(t, err)
		n, err := raft.NewNode(raft.NodeConfig{
			Raft:      raft.Config{ID: "n1", Voters: []raft.NodeID{"n1"}, Seed: 1},
			Transport: ep, Storage: raft.NewMemoryStorage(), StateMachine: newKV(),
		})
		require.NoError(t, err)
		const callers = 16
		errs := make(chan error, callers)
		for i := range callers {
			go func() {
				_, err := n.Propose(context.Background(), fmt.Appendf(nil, "k%d=1", i))
				errs <- err
			}()
		}
		synctest.Wait()
		require.Empty(t, errs, "calls made before Start wait for it")
		require.NoError(t, n.Close())
		for range callers {
			require.ErrorIs(t, <-errs, raft.ErrStopped)
		}
		synctest.Wait()
		require.Empty(t, errs, "each call is answered once")
	})
}
