package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, 3, 200))
	require.Contains(t, out.String(), "added 127.0.0.1:")
	t.Log(out.String())
}

// TestMembershipMovesOnlyExpectedKeys adds a node and then removes one,
// reading every key through the cluster each time. A key may change owner
// only to the node that joined, or from the node that left, and the only
// new loads from the source are those moved keys: everything else is still
// a cache hit on its unchanged owner.
func TestMembershipMovesOnlyExpectedKeys(t *testing.T) {
	ctx := t.Context()
	c := newCluster(sourceOfTruth)
	defer c.Close()
	for range 3 {
		_, err := c.AddNode()
		require.NoError(t, err)
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	read := func() map[string]string {
		owners := make(map[string]string)
		nodes := c.Nodes()
		for i, k := range keys {
			v, owner, err := c.Get(ctx, nodes[i%len(nodes)], k)
			require.NoError(t, err)
			require.Equal(t, "value-of-"+k, v)
			want, err := c.ring.Get(k)
			require.NoError(t, err)
			require.Equal(t, want, owner, "served by the ring owner")
			owners[k] = owner
		}
		return owners
	}
	before := read()
	require.Equal(t, int64(len(keys)), c.Loads(), "each key loaded once")
	// Reading again is all cache hits.
	read()
	require.Equal(t, int64(len(keys)), c.Loads())

	added, err := c.AddNode()
	require.NoError(t, err)
	after := read()
	movedIn := 0
	for _, k := range keys {
		if after[k] != before[k] {
			require.Equal(t, added, after[k], "key %s moved between old nodes", k)
			movedIn++
		}
	}
	require.Positive(t, movedIn)
	require.InDelta(t, len(keys)/4, movedIn, float64(len(keys))/8, "about 1/(n+1) of keys move")
	require.Equal(t, int64(len(keys)+movedIn), c.Loads(), "only moved keys were loaded again")

	gone := c.Nodes()[1]
	owned := 0
	for _, k := range keys {
		if after[k] == gone {
			owned++
		}
	}
	require.NoError(t, c.RemoveNode(gone))
	base := c.Loads()
	final := read()
	movedOut := 0
	for _, k := range keys {
		if final[k] != after[k] {
			require.Equal(t, gone, after[k], "key %s moved though its owner stayed", k)
			movedOut++
		}
	}
	require.Equal(t, owned, movedOut, "all of the removed node's keys, and only those, moved")
	require.Equal(t, base+int64(movedOut), c.Loads())
}

// TestSingleflightCollapsesMisses runs concurrent misses for one key in a
// synctest bubble: once every reader is blocked (synctest.Wait), the source
// has been called exactly once.
func TestSingleflightCollapsesMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c := newCache(func(ctx context.Context, key string) (string, error) {
			<-release
			return "v:" + key, nil
		})
		var wg sync.WaitGroup
		got := make([]string, 10)
		for i := range got {
			wg.Go(func() {
				v, err := c.get(context.Background(), "hot")
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		synctest.Wait()
		require.Equal(t, int64(1), c.loads.Load())
		close(release)
		wg.Wait()
		for _, v := range got {
			require.Equal(t, "v:hot", v)
		}
		v, err := c.get(context.Background(), "hot")
		require.NoError(t, err)
		require.Equal(t, "v:hot", v)
		require.Equal(t, int64(1), c.loads.Load(), "later reads hit the cache")
	})
}
