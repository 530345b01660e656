package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/distkit/distkit/raft"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// kvInput and kvOutput are one HTTP request of the history and its answer.
type kvInput struct {
	op         string // "put", "delete" or "get"
	key, value string
}

type kvOutput struct {
	value string
	found bool
}

// kvModel is the store's specification, one key at a time: a register
// that a put sets, a delete empties, and a get reads.
var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, o := range h {
			k := o.Input.(kvInput).key
			byKey[k] = append(byKey[k], o)
		}
		var parts [][]porcupine.Operation
		for _, p := range byKey {
			parts = append(parts, p)
		}
		return parts
	},
	Init: func() any { return kvOutput{} },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		switch in.op {
		case "put":
			return true, kvOutput{in.value, true}
		case "delete":
			return true, kvOutput{}
		default:
			return output.(kvOutput) == state.(kvOutput), state
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		if in.op == "get" {
			return fmt.Sprintf("get(%s) = %q, %v", in.key, out.value, out.found)
		}
		return fmt.Sprintf("%s(%s, %q)", in.op, in.key, in.value)
	},
}

// TestLinearizableThroughCrashes has clients put, delete and read a few
// keys on every node while nodes are stopped and started at random (at most
// two at once, so the cluster also loses its quorum at times), and checks
// with porcupine that the history the clients saw is linearizable. A write
// that failed may or may not have happened, so it stays open to the end of
// the history; a read that failed tells nothing and is left out.
func TestLinearizableThroughCrashes(t *testing.T) {
	defer goleak.VerifyNone(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	cl, err := startCluster(clusterConfig{Nodes: 3, Dir: t.TempDir(), Timeout: time.Second, Out: io.Discard, SnapshotEntries: 32})
	require.NoError(t, err)
	defer func() { require.NoError(t, cl.close()) }()

	begin := time.Now()
	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(op porcupine.Operation) {
		mu.Lock()
		defer mu.Unlock()
		history = append(history, op)
	}
	done := make(chan struct{})
	// answered gets a token for each request the cluster answered, however
	// it did: faults are paced by the clients' progress, not by the clock.
	answered := make(chan struct{}, 1024)
	var clients sync.WaitGroup
	for w := range 8 {
		hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		clients.Go(func() {
			defer hc.CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				in := kvInput{key: fmt.Sprintf("k%d", rng.IntN(3))}
				method, body := "GET", ""
				switch r := rng.IntN(10); {
				case r < 4:
					in.op, in.value = "put", fmt.Sprintf("c%d-%d", w, i)
					method, body = "PUT", in.value
				case r < 5:
					in.op, method = "delete", "DELETE"
				default:
					in.op = "get"
				}
				id := cl.ids[rng.IntN(len(cl.ids))]
				req, err := http.NewRequest(method, cl.urls[id]+"/keys/"+in.key, strings.NewReader(body))
				if err != nil {
					return
				}
				op := porcupine.Operation{ClientId: w, Input: in, Call: time.Since(begin).Nanoseconds()}
				code, answer := 0, ""
				if resp, err := hc.Do(req); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					code, answer = resp.StatusCode, string(b)
				}
				op.Return = time.Since(begin).Nanoseconds()
				switch {
				case in.op == "get" && code == http.StatusOK:
					op.Output = kvOutput{answer, true}
					record(op)
				case in.op == "get" && code == http.StatusNotFound:
					op.Output = kvOutput{}
					record(op)
				case code == http.StatusNoContent:
					op.Output = kvOutput{}
					record(op)
				case code == http.StatusServiceUnavailable && strings.Contains(answer, "is stopped"):
					continue // refused before it reached the cluster
				case in.op == "get":
				default:
					op.Output, op.Return = kvOutput{}, math.MaxInt64
					record(op)
				}
				select {
				case answered <- struct{}{}:
				default:
				}
			}
		})
	}
	stopClients := sync.OnceFunc(func() {
		close(done)
		clients.Wait()
	})
	defer stopClients() // if the test fails before they are stopped
	awaitAnswers := func(n int) {
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for range n {
			select {
			case <-answered:
			case <-timeout.C:
				t.Fatalf("the cluster answered no request for 30 s")
			}
		}
	}

	// Stop or start a random node, a dozen times, once the clients have
	// had some answers. With two nodes stopped the cluster has no quorum
	// and answers slowly (each request waits for its deadline), so the
	// next change comes sooner.
	rng := rand.New(rand.NewPCG(seed, math.MaxUint64))
	stopped := map[raft.NodeID]bool{}
	for range 12 {
		if len(stopped) < 2 {
			awaitAnswers(30)
		} else {
			awaitAnswers(4)
		}
		id := cl.ids[rng.IntN(len(cl.ids))]
		switch {
		case stopped[id]:
			require.NoError(t, cl.start(id))
			delete(stopped, id)
		case len(stopped) < 2:
			require.NoError(t, cl.stop(id))
			stopped[id] = true
		}
	}
	for id := range stopped {
		require.NoError(t, cl.start(id))
	}
	// Let the clients see the whole cluster again before they stop.
	c := newClient(t)
	c.leader(cl, cl.ids...)
	stopClients()

	require.NotEmpty(t, history)
	res, info := porcupine.CheckOperationsVerbose(kvModel, history, 30*time.Second)
	if res != porcupine.Ok {
		if f, err := os.CreateTemp("", "kvstore-history-*.html"); err == nil {
			if porcupine.Visualize(kvModel, info, f) == nil {
				t.Logf("the history, drawn: %s", f.Name())
			}
			f.Close()
		}
	}
	require.Equal(t, porcupine.Ok, res, "%d operations, seed %d", len(history), seed)
	t.Logf("%d operations, linearizable", len(history))
}
