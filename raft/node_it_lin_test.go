package raft_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// This file checks that the runtime is linearizable: concurrent clients put
// and get keys through every node of a cluster on memnet, with loss,
// duplication, reordering, partitions, one-way cuts and crash-restarts on
// the real WAL, and porcupine checks the recorded history against a
// sequential key-value store. Gets are a ReadIndex or LeaseRead barrier
// followed by a read of the serving node's own state machine.

// linKVInput is one operation of the history.
type linKVInput struct {
	put   bool
	lease bool
	key   string
	value string // put: the value written
}

// linKVModel is a map from keys to strings ("" when unset), partitioned by
// key so that porcupine checks each key's history alone.
var linKVModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		idx := map[string]int{}
		var out [][]porcupine.Operation
		for _, op := range h {
			k := op.Input.(linKVInput).key
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], op)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(linKVInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linKVInput)
		if in.put {
			if output == nil {
				return fmt.Sprintf("put(%s, %s) -> ?", in.key, in.value)
			}
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		how := "read-index"
		if in.lease {
			how = "lease"
		}
		return fmt.Sprintf("get(%s) %s -> %q", in.key, how, output)
	},
}

// linUnknown is the return time of an operation whose outcome is unknown: a
// put that failed or timed out may have taken effect, at any time after
// its call, so it is open-ended.
const linUnknown = math.MaxInt64 / 2

// linHistory records operations with a logical clock: an atomic counter read
// at each call and each return, so that an operation that returned before
// another was called is ordered before it, whatever the virtual time.
type linHistory struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
	stats struct{ puts, putsUnknown, gets, getsFailed int }
	errs  map[string]int // failures by error, for the log
	snaps itSnapMetrics  // snapshot bytes sent and received by every node
	// lostBytes counts the unsynced bytes power cuts threw away.
	lostBytes int
	// wrongResults lists acknowledged puts whose result came from another
	// command's entry.
	wrongResults []string
}

func (h *linHistory) now() int64 { return h.clock.Add(1) }

// noteErr counts a failure by kind and 500 ms window; called under h.mu.
func (h *linHistory) noteErr(at time.Duration, op string, err error) {
	if h.errs == nil {
		h.errs = map[string]int{}
	}
	kind := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, raft.ErrNotLeader):
		kind = "not leader"
	}
	h.errs[fmt.Sprintf("%s %5dms %s", op, at.Truncate(500*time.Millisecond).Milliseconds(), kind)]++
}

func (h *linHistory) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// linRun is one seed's run: the cluster, its clients and its fault schedule.
type linRun struct {
	t    *testing.T
	seed uint64
	c    *itCluster
	hist *linHistory
	keys int
	// sessions makes puts ProposeSession calls, retried until they
	// succeed or time out.
	sessions bool
	// churn adds membership changes to the fault schedule: a new node
	// joins as a voter and an old one is removed, at most twice.
	churn bool
}

// client runs operations against random nodes until stop is closed.
func (r *linRun) client(id int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(r.seed, uint64(id)+1))
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		ids := r.c.live()
		via := ids[rng.IntN(len(ids))]
		key := fmt.Sprintf("k%d", rng.IntN(r.keys))
		switch rng.IntN(4) {
		case 0, 1:
			r.put(id, uint64(seq)+1, rng, via, key, fmt.Sprintf("c%d-%d", id, seq))
		case 2:
			r.get(id, via, key, false)
		default:
			r.get(id, via, key, true)
		}
		pause(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
	}
}

// put writes key=value through via and records it; any error leaves the
// outcome unknown. With sessions, a failed attempt is retried with the same
// sequence number through random nodes for up to three seconds, and only
// the last failure leaves the outcome unknown.
func (r *linRun) put(client int, seq uint64, rng *rand.Rand, via raft.NodeID, key, value string) {
	node, _ := r.c.running(via)
	if node == nil {
		return
	}
	in := linKVInput{put: true, key: key, value: value}
	call := r.hist.now()
	var err error
	var res any
	giveUp := time.Now().Add(3 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if r.sessions {
			res, err = node.ProposeSession(ctx, uint64(client)+1, seq, itCmd(key, value))
			if errors.Is(err, raft.ErrDuplicateRequest) {
				err = nil // applied before, its result forgotten in a restart
			}
		} else {
			res, err = node.Propose(ctx, itCmd(key, value))
		}
		cancel()
		if err == nil || !r.sessions || !time.Now().Before(giveUp) {
			break
		}
		pause(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		ids := r.c.live()
		if n, _ := r.c.running(ids[rng.IntN(len(ids))]); n != nil {
			node = n
		}
	}
	ret := r.hist.now()
	if ir, ok := res.(itResult); err == nil && ok {
		// The result is the one of the entry that carries this command.
		if got, ok := r.c.safety.command(ir.Index); !ok || got != string(itCmd(key, value)) {
			r.hist.mu.Lock()
			r.hist.wrongResults = append(r.hist.wrongResults, fmt.Sprintf("put %s=%s got the result of index %d, which holds %q", key, value, ir.Index, got))
			r.hist.mu.Unlock()
		}
	}
	r.hist.mu.Lock()
	r.hist.stats.puts++
	if err != nil {
		r.hist.stats.putsUnknown++
		r.hist.noteErr(time.Since(r.c.t0), "put", err)
		ret = linUnknown
	}
	r.hist.mu.Unlock()
	var out any = ""
	if err != nil {
		out = nil
	}
	r.hist.add(porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// get reads key through via and records it if it succeeded: a failed read
// has no effect to check.
func (r *linRun) get(client int, via raft.NodeID, key string, lease bool) {
	node, sm := r.c.running(via)
	if node == nil {
		return
	}
	call := r.hist.now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	var err error
	if lease {
		err = node.LeaseRead(ctx)
	} else {
		err = node.ReadIndex(ctx)
	}
	cancel()
	var v string
	if err == nil {
		v = sm.get(key)
	}
	ret := r.hist.now()
	r.hist.mu.Lock()
	r.hist.stats.gets++
	if err != nil {
		r.hist.stats.getsFailed++
		r.hist.noteErr(time.Since(r.c.t0), "get", err)
	}
	r.hist.mu.Unlock()
	if err != nil {
		return
	}
	r.hist.add(porcupine.Operation{ClientId: client, Input: linKVInput{lease: lease, key: key}, Call: call, Output: v, Return: ret})
}

// faults runs the seed's fault schedule for d of virtual time and returns
// a description of what it did.
func (r *linRun) faults(d time.Duration, base memnet.Link) []string {
	rng := rand.New(rand.NewPCG(r.seed, 0xfa017))
	c := r.c
	var log []string
	note := func(format string, args ...any) {
		log = append(log, fmt.Sprintf("%6dms ", time.Since(c.t0).Milliseconds())+fmt.Sprintf(format, args...))
	}
	down := map[raft.NodeID]bool{}
	joins := 0
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		pause(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		ids := c.live()
		actions := 11
		if r.churn {
			actions = 13
		}
		if c.cfg.CrashFS && rng.IntN(12) == 0 {
			// Cut the power of the whole cluster at once; bring it back.
			for _, id := range ids {
				if !down[id] {
					require.NoError(r.t, c.kill(id), "kill %s", id)
				}
			}
			pause(time.Duration(rng.IntN(300)) * time.Millisecond)
			for _, id := range ids {
				require.NoError(r.t, c.revive(id), "revive %s", id)
			}
			clear(down)
			note("power cut of every node, then revive all")
			continue
		}
		switch rng.IntN(actions) {
		case 0: // a random two-way split
			var a, b []raft.NodeID
			for _, id := range ids {
				if rng.IntN(2) == 0 {
					a = append(a, id)
				} else {
					b = append(b, id)
				}
			}
			c.net.Partition(a, b)
			note("partition %v | %v", a, b)
		case 1, 2:
			c.net.Heal()
			note("heal")
		case 3:
			if lead, _ := c.leader(); lead != raft.None {
				c.net.Isolate(lead)
				note("isolate leader %s", lead)
			}
		case 4:
			from, to := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
			c.net.Cut(from, to)
			note("cut %s -> %s", from, to)
		case 5, 6: // crash a node (at most a minority at once) or bring one back
			id := ids[rng.IntN(len(ids))]
			if down[id] {
				require.NoError(r.t, c.revive(id), "revive %s", id)
				delete(down, id)
				note("revive %s", id)
			} else if 2*(len(down)+1) < len(ids) {
				require.NoError(r.t, c.kill(id), "kill %s", id)
				down[id] = true
				note("kill %s", id)
			}
		case 7: // a restart in place, as a process that is redeployed
			id := ids[rng.IntN(len(ids))]
			if !down[id] {
				require.NoError(r.t, c.restart(id), "restart %s", id)
				note("restart %s", id)
			}
		case 8:
			l := base
			l.Loss = rng.Float64() * 0.2
			l.Duplicate = rng.Float64() * 0.1
			l.Reorder = rng.Float64() * 0.3
			require.NoError(r.t, c.net.SetDefaultLink(l))
			note("link loss %.2f dup %.2f reorder %.2f", l.Loss, l.Duplicate, l.Reorder)
		case 9:
			require.NoError(r.t, c.net.SetDefaultLink(base))
			note("link reset")
		case 10: // hand leadership to a random node, without waiting
			lead, _ := c.leader()
			node, _ := c.running(lead)
			to := ids[rng.IntN(len(ids))]
			if node != nil && to != lead {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					_ = node.TransferLeadership(ctx, to)
				}()
				note("transfer %s -> %s", lead, to)
			}
		case 11, 12: // replace a voter: add a new node, then remove an old one
			if joins >= 2 {
				break
			}
			joins++
			nid := raft.NodeID(fmt.Sprintf("n%d", len(c.members())+1))
			c.add(nid, true)
			require.NoError(r.t, c.start(nid), "start %s", nid)
			err := itLeaderCall(c, 3*time.Second, func(ctx context.Context, n *raft.Node) error { return n.AddVoter(ctx, nid) })
			note("add voter %s: %v", nid, err)
			if err != nil {
				break
			}
			var old []raft.NodeID
			for _, id := range ids {
				if !down[id] {
					old = append(old, id)
				}
			}
			victim := old[rng.IntN(len(old))]
			err = itLeaderCall(c, 3*time.Second, func(ctx context.Context, n *raft.Node) error { return n.RemoveServer(ctx, victim) })
			note("remove %s: %v", victim, err)
			if err == nil {
				require.NoError(r.t, c.retire(victim), "retire %s", victim)
			}
		}
	}
	c.net.Heal()
	require.NoError(r.t, c.net.SetDefaultLink(base))
	for id := range down {
		require.NoError(r.t, c.revive(id), "revive %s", id)
	}
	note("heal, reset links, revive all")
	if joins > 0 {
		// A membership change that timed out may have happened or not:
		// retire the nodes the cluster no longer lists.
		members := r.settleMembership()
		note("members %v", members)
	}
	return log
}

// settleMembership waits for the healed cluster's leader to commit an
// entry of its term (so its configuration is settled), retires every live
// node it does not list, and returns the members it lists.
func (r *linRun) settleMembership() []raft.NodeID {
	c := r.c
	require.NoError(r.t, c.putRetry(30*time.Second, "membership", fmt.Sprintf("settled-%d", r.seed)))
	var progress []raft.PeerProgress
	require.True(r.t, waitFor(30*time.Second, 10*time.Millisecond, func() bool {
		lead, _ := c.leader()
		if node, _ := c.running(lead); node != nil {
			progress = node.Status().Progress
		}
		return len(progress) > 0
	}), "no leader after settling")
	listed := map[raft.NodeID]bool{}
	var members []raft.NodeID
	for _, p := range progress {
		listed[p.ID] = true
		members = append(members, p.ID)
	}
	for _, id := range c.live() {
		if !listed[id] {
			require.NoError(r.t, c.retire(id), "retire %s", id)
		}
	}
	return members
}

// runLinSeed runs one seed and returns its history and fault log.
func runLinSeed(t *testing.T, seed uint64) (*linHistory, []string, int) {
	size := 3
	if seed%4 == 3 {
		size = 5
	}
	lease := seed%2 == 0
	sessions := seed%3 == 0
	churn := seed%5 == 4
	slowNet := seed%6 == 1
	powerCuts := seed%2 == 1
	var smDelay func(raft.NodeID) time.Duration
	if seed%7 == 5 {
		// A slow state machine: up to 5 ms per batch or snapshot, drawn
		// from a source shared by the nodes' apply goroutines.
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(seed, 0x51e7))
		smDelay = func(raft.NodeID) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
		}
	}
	hist := &linHistory{}
	var faults []string
	synctest.Test(t, func(t *testing.T) {
		base := memnet.Link{Latency: time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 0.02, Duplicate: 0.02,
			Reorder: 0.05}
		queue := 0
		if slowNet {
			// A slow, jittery network (round trips of 20 to 60 ms against
			// a 500 ms election timeout) with short inbound queues that
			// overflow under bursts.
			base.Latency, base.Jitter, base.ReorderDelay = 10*time.Millisecond, 20*time.Millisecond, 30*time.Millisecond
			queue = 32
		}
		c := newITCluster(t, itConfig{Size: size, Seed: seed, WAL: true, CrashFS: powerCuts, SyncTime: 5 * time.Millisecond,
			SnapshotSyncTime: 3 * time.Millisecond, Sync: wal.SyncEveryBatch,
			Link: base, SMDelay: smDelay, QueueSize: queue,
			Tune: func(_ raft.NodeID, cfg *raft.NodeConfig) {
				cfg.Metrics = &hist.snaps
				cfg.Sessions = sessions
				cfg.Raft.LeaseReads = lease
				cfg.Raft.SnapshotEntries = 64
				cfg.SnapshotKeepEntries = 16
				cfg.Raft.SnapshotChunkBytes = 256
				cfg.Raft.MaxMsgEntries = 8
			}})
		defer c.close()
		r := &linRun{t: t, seed: seed, c: c, hist: hist, keys: 3, sessions: sessions, churn: churn}
		c.waitLeader(20*time.Second, 0)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Stop the background goroutines also when the test fails first.
		stopAll := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopAll()
		for id := range size + 1 {
			wg.Go(func() { r.client(id, stop) })
		}
		tracing := make(chan struct{})
		stopTracing := sync.OnceFunc(func() { close(tracing) })
		defer stopTracing()
		go c.traceStatus(tracing)
		faults = r.faults(3*time.Second, base)
		stopTracing()
		// Let the healed cluster serve the clients for a while, then stop
		// them and read every key from every node.
		pause(time.Second)
		stopAll()
		c.converge(30 * time.Second)
		c.mu.Lock()
		hist.lostBytes = c.lostBytes
		c.mu.Unlock()
		for i, id := range c.members() {
			for k := range r.keys {
				r.get(size+1+i, id, fmt.Sprintf("k%d", k), false)
			}
		}
	})
	return hist, faults, size
}

// linCheckTimeout bounds porcupine's search for one seed's history.
const linCheckTimeout = 20 * time.Second

// linPrune drops the puts of unknown outcome whose value no get returned.
// Such a put may always be linearized after every other operation (its
// return is open-ended and no read depends on it), so the history is
// linearizable with it exactly when it is without it; dropping it spares
// porcupine from trying it at every point of the history.
func linPrune(ops []porcupine.Operation) []porcupine.Operation {
	seen := map[string]bool{}
	for _, op := range ops {
		if in := op.Input.(linKVInput); !in.put {
			seen[in.key+"="+op.Output.(string)] = true
		}
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in := op.Input.(linKVInput)
		if in.put && op.Return == linUnknown && !seen[in.key+"="+in.value] {
			continue
		}
		out = append(out, op)
	}
	return out
}

// TestNodeITLinearizability runs the key-value workload on 3- and 5-node
// clusters under faults and requires porcupine to find every history
// linearizable. The seed picks the variant: 5 nodes when seed%4 == 3 (else
// 3), Raft.LeaseReads on even seeds, client sessions (puts through
// ProposeSession, retried) when seed%3 == 0, and membership changes (a new
// voter replaces an old one, up to twice) when seed%5 == 4, and a slow
// state machine (up to 5 ms per apply batch and snapshot) when seed%7 == 5,
// a slow network with short queues when seed%6 == 1. Odd seeds keep the
// WALs on itCrashFS, where killing a node cuts its power (it loses what it
// had not fsynced), and now and then cut the power of every node at once;
// even seeds keep them in temporary directories on disk. DISTKIT_RAFT_NODE_LIN_SEEDS sets the number of seeds
// (default 20); DISTKIT_RAFT_NODE_LIN_SEED runs that one seed alone.
func TestNodeITLinearizability(t *testing.T) {
	first, n := uint64(1), itEnvInt("DISTKIT_RAFT_NODE_LIN_SEEDS", 20)
	if s := itEnvInt("DISTKIT_RAFT_NODE_LIN_SEED", 0); s > 0 {
		first, n = uint64(s), 1
	}
	var ops, puts, unknown, gets, failedGets int
	var snapBytes int64
	var lostBytes int
	for seed := first; seed < first+uint64(n); seed++ {
		hist, faults, size := runLinSeed(t, seed)
		if t.Failed() {
			t.Fatalf("seed %d (%d nodes) failed; replay with DISTKIT_RAFT_NODE_LIN_SEED=%d; faults:\n%s", seed, size, seed, joinLines(faults))
		}
		require.Empty(t, hist.wrongResults, "seed %d: Propose results", seed)
		checked := linPrune(hist.ops)
		res, info := porcupine.CheckOperationsVerbose(linKVModel, checked, linCheckTimeout)
		if res == porcupine.Unknown {
			t.Fatalf("seed %d (%d nodes): porcupine gave up on %d operations after %v; replay with DISTKIT_RAFT_NODE_LIN_SEED=%d",
				seed, size, len(checked), linCheckTimeout, seed)
		}
		if res != porcupine.Ok {
			path := filepath.Join(os.TempDir(), fmt.Sprintf("distkit-raft-node-lin-seed-%d.html", seed))
			_ = porcupine.VisualizePath(linKVModel, info, path)
			t.Fatalf("seed %d (%d nodes): history of %d operations is %v (visualization: %s); replay with DISTKIT_RAFT_NODE_LIN_SEED=%d; faults:\n%s",
				seed, size, len(hist.ops), res, path, seed, joinLines(faults))
		}
		if testing.Verbose() {
			keys := slices.Sorted(maps.Keys(hist.errs))
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "\n  %s: %d", k, hist.errs[k])
			}
			t.Logf("seed %d (%d nodes): %d operations checked; faults:\n%sfailures:%s", seed, size, len(checked), joinLines(faults), b.String())
		}
		ops += len(checked)
		puts += hist.stats.puts
		unknown += hist.stats.putsUnknown
		gets += hist.stats.gets
		failedGets += hist.stats.getsFailed
		snapBytes += hist.snaps.received.Load()
		lostBytes += hist.lostBytes
	}
	t.Logf("%d seeds from %d, 0 violations: %d operations checked (%d puts, %d of unknown outcome; %d gets, %d failed and left out); %d snapshot bytes installed; power cuts lost %d unsynced bytes",
		n, first, ops, puts, unknown, gets, failedGets, snapBytes, lostBytes)
}

func joinLines(lines []string) string {
	var s string
	for _, l := range lines {
		s += "  " + l + "\n"
	}
	return s
}
