package memnet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// TestConcurrentFaultsKeepAccounts runs senders, readers and a fault
// injector (Crash, Restart, endpoint Close and rejoin, partitions) at once,
// with delayed and duplicated deliveries in flight, on the real clock so the
// race detector sees every interleaving the scheduler offers. Afterwards
// every link's counters must balance and every Recv channel must be closed
// exactly once (a second close would panic).
func TestConcurrentFaultsKeepAccounts(t *testing.T) {
	net, err := memnet.New(memnet.Config{
		Seed:      7,
		QueueSize: 8,
		Link:      memnet.Link{Loss: 0.1, Duplicate: 0.2, Latency: 50 * time.Microsecond, Jitter: 200 * time.Microsecond, Reorder: 0.2},
	})
	require.NoError(t, err)
	ids := []transport.NodeID{"a", "b", "c"}
	var (
		mu  sync.Mutex
		eps = map[transport.NodeID]*memnet.Endpoint{}
		all []*memnet.Endpoint
	)
	for _, id := range ids {
		ep, err := net.Join(id)
		require.NoError(t, err)
		eps[id] = ep
		all = append(all, ep)
	}
	endpoint := func(id transport.NodeID) *memnet.Endpoint {
		mu.Lock()
		defer mu.Unlock()
		return eps[id]
	}
	var readers sync.WaitGroup
	read := func(ep *memnet.Endpoint) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for range ep.Recv() {
			}
		}()
	}
	for _, ep := range all {
		read(ep)
	}

	var senders sync.WaitGroup
	for _, from := range ids {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := range 2000 {
				err := endpoint(from).Send(context.Background(), ids[i%len(ids)], []byte{byte(i)})
				if err != nil && !errors.Is(err, transport.ErrClosed) && !errors.Is(err, transport.ErrCrashed) {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	for i := range 300 {
		id := ids[i%len(ids)]
		switch i % 5 {
		case 0:
			net.Crash(id)
		case 1:
			net.Restart(id)
		case 2:
			// Close the endpoint and join again under the same ID.
			require.NoError(t, endpoint(id).Close())
			ep, err := net.Join(id)
			require.NoError(t, err)
			mu.Lock()
			eps[id] = ep
			all = append(all, ep)
			mu.Unlock()
			read(ep)
		case 3:
			net.Partition([]transport.NodeID{id})
		case 4:
			net.Heal()
		}
	}
	senders.Wait()
	require.NoError(t, net.Close())
	readers.Wait() // every Recv channel was closed
	for _, from := range ids {
		for _, to := range ids {
			s := net.Stats(from, to)
			requireAccounted(t, s)
			require.Zero(t, s.InFlight, "%s->%s", from, to)
		}
	}
	for _, ep := range all {
		require.NoError(t, ep.Close())
	}
}
