package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	hcraft "github.com/hashicorp/raft"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/memnet"
)

// BenchmarkRaftInmem measures a whole Raft runtime, not just its core: three
// nodes in one process, in-memory logs and an in-memory transport, 64
// concurrent proposers on the leader, each proposing a 100-byte command and
// waiting for its state machine result before proposing the next. One op is
// one committed and applied command (b.N commands shared by the 64
// proposers), so ns/op is the inverse of throughput. p50-ms and p99-ms are
// the per-command commit latencies seen by the proposers, from the call to
// its result. Cluster setup and the first election are not timed.
func BenchmarkRaftInmem(b *testing.B) {
	b.Run("distkit", func(b *testing.B) { raftNodeBenchInmem(b, raftNodeProposers) })
	b.Run("hashicorp", func(b *testing.B) { hcRaftBenchInmem(b, raftNodeProposers) })
}

const (
	// raftNodeProposers is the number of concurrent proposers in
	// BenchmarkRaftInmem.
	raftNodeProposers = 64
	// raftNodePayload is the size of every proposed command.
	raftNodePayload = 100
	// raftNodeSetupTimeout bounds cluster start and the first election; a
	// run that exceeds it fails rather than hangs.
	raftNodeSetupTimeout = 10 * time.Second
	// raftNodeMaxRetries bounds how often one proposal is retried after a
	// change of leader.
	raftNodeMaxRetries = 10
	// raftNodeTick is the distkit nodes' TickInterval: 20 ms ticks make
	// the election timeout 200-400 ms (10 ticks, randomized up to 20) and
	// the heartbeat 20 ms, the same scale as the 200 ms timeouts of the
	// hashicorp side, instead of the default 50 ms ticks (0.5-1 s
	// elections), so that setup stays short.
	raftNodeTick = 20 * time.Millisecond
)

// raftNodeCommand is the command every proposer proposes. It is shared and
// never written: hashicorp/raft keeps the caller's slice in its log
// (distkit copies it).
var raftNodeCommand = func() []byte {
	p := make([]byte, raftNodePayload)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// raftNodeFanOut runs b.N calls of propose spread over proposers
// goroutines, each waiting for its call to return before making the next,
// and returns every call's latency. It resets the timer when the proposers
// start and stops it when the last call returns, so the caller's setup and
// teardown are not timed, and reports the process's CPU time per call
// meanwhile as cpu-ns/op. The first error stops every proposer and fails
// the benchmark.
func raftNodeFanOut(b *testing.B, proposers int, propose func() error) []time.Duration {
	b.Helper()
	per := make([][]time.Duration, proposers)
	for i := range per {
		per[i] = make([]time.Duration, 0, b.N/proposers+1)
	}
	var (
		next     atomic.Int64
		stop     atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := hashringCPUNow()
	for i := range proposers {
		wg.Go(func() {
			lat := per[i]
			for !stop.Load() && next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := propose(); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					break
				}
				lat = append(lat, time.Since(start))
			}
			per[i] = lat
		})
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("propose: %v", firstErr)
	}
	// The process's CPU time per command, all goroutines and GC included:
	// on a shared machine ns/op also counts time spent waiting for a core,
	// so this is the steadier figure to compare.
	hashringReportCPU(b, cpu0, b.N)
	return slices.Concat(per...)
}

// raftNodePercentile returns the p-quantile (0 < p <= 1) of sorted by the
// nearest-rank method, or 0 for no samples.
func raftNodePercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// raftNodeReportLatency reports the median and 99th percentile of lat as
// p50-ms and p99-ms.
func raftNodeReportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(raftNodeMillis(raftNodePercentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(raftNodeMillis(raftNodePercentile(lat, 0.99)), "p99-ms")
}

func raftNodeMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// hcRaftFSM is the trivial state machine on the hashicorp side: it keeps
// the last applied index and returns it as the command's result, the same
// work as the distkit side's state machine.
type hcRaftFSM struct {
	mu   sync.Mutex
	last uint64
}

func (f *hcRaftFSM) Apply(l *hcraft.Log) any {
	f.mu.Lock()
	f.last = l.Index
	f.mu.Unlock()
	return l.Index
}

func (f *hcRaftFSM) Snapshot() (hcraft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return hcRaftSnapshot(f.last), nil
}

func (f *hcRaftFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return err
	}
	f.mu.Lock()
	f.last = uint64(buf[0]) | uint64(buf[1])<<8 | uint64(buf[2])<<16 | uint64(buf[3])<<24 |
		uint64(buf[4])<<32 | uint64(buf[5])<<40 | uint64(buf[6])<<48 | uint64(buf[7])<<56
	f.mu.Unlock()
	return nil
}

type hcRaftSnapshot uint64

func (s hcRaftSnapshot) Persist(sink hcraft.SnapshotSink) error {
	v := uint64(s)
	buf := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(v >> 40), byte(v >> 48), byte(v >> 56)}
	if _, err := sink.Write(buf); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (hcRaftSnapshot) Release() {}

// hcRaftCluster is three hashicorp/raft nodes on InmemTransports connected
// in every direction, with InmemStores and InmemSnapshotStores. An observer
// on every node tracks leadership, so proposers can follow a new leader as
// a hashicorp/raft user must (Apply works only on the leader).
type hcRaftCluster struct {
	nodes []*hcraft.Raft
	trans []*hcraft.InmemTransport
	obs   *hcraft.Observer
	obsc  chan hcraft.Observation
	stop  chan struct{}
	wg    sync.WaitGroup

	// view is read by every Apply without a lock (as the distkit side
	// reads its leader); mu serializes its replacement.
	mu      sync.Mutex
	view    atomic.Pointer[hcRaftView]
	retries atomic.Int64
}

// hcRaftView is the node last seen leading, and a channel closed at the
// next leadership observation.
type hcRaftView struct {
	leader  *hcraft.Raft
	changed chan struct{}
}

// hcRaftConfig is hashicorp/raft's DefaultConfig with the changes a user
// running an in-process cluster would make, close to the ones
// hashicorp/raft's own in-memory test clusters use (testing.go,
// inmemConfig):
//
//   - heartbeat, election and leader-lease timeouts of 200 ms instead of
//     1 s, 1 s and 500 ms, so the cluster elects a leader quickly. The
//     lease is as long as hashicorp/raft allows (the heartbeat timeout),
//     which makes a busy leader least likely to step down: with
//     inmemConfig's 50 ms, and still with a 100 ms lease, the leader
//     stepped down now and then on this loaded machine (the proposers then
//     retry on the next leader; distkit's leader checks its quorum once
//     per 200-400 ms election timeout);
//   - a 5 ms commit timeout instead of 50 ms, as inmemConfig, so followers
//     learn the commit index sooner;
//   - a snapshot check every 100-200 ms instead of every 2-4 minutes, so
//     the log is compacted once it passes the default 8,192-entry threshold
//     (keeping the default 10,240 trailing entries), as distkit compacts
//     its in-memory log every 10,000 entries by default. Without it the
//     in-memory log grows through the whole run and hashicorp's cost per
//     command grows with b.N (13 us at 20,000 commands, 19-28 us at
//     200,000 here), which would flatter distkit;
//   - logging off (the default logs at DEBUG to stderr).
//
// Everything that governs throughput (MaxAppendEntries 64, pipelining,
// batching of the apply channel) keeps its default.
func hcRaftConfig(id hcraft.ServerID) *hcraft.Config {
	c := hcraft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 200 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotInterval = 100 * time.Millisecond
	c.Logger = hclog.NewNullLogger()
	return c
}

// hcRaftStart starts a three-node cluster and waits until one node is a
// leader that a quorum confirms.
func hcRaftStart(b *testing.B) *hcRaftCluster {
	b.Helper()
	ids := []hcraft.ServerID{"n1", "n2", "n3"}
	c := &hcRaftCluster{obsc: make(chan hcraft.Observation, 256), stop: make(chan struct{})}
	c.view.Store(&hcRaftView{changed: make(chan struct{})})
	c.obs = hcraft.NewObserver(c.obsc, false, func(o *hcraft.Observation) bool {
		switch o.Data.(type) {
		case hcraft.LeaderObservation, hcraft.RaftState:
			return true
		}
		return false
	})
	c.wg.Go(c.watch)
	var servers []hcraft.Server
	for _, id := range ids {
		addr, tr := hcraft.NewInmemTransport(hcraft.ServerAddress(id))
		c.trans = append(c.trans, tr)
		servers = append(servers, hcraft.Server{Suffrage: hcraft.Voter, ID: id, Address: addr})
	}
	for i, a := range c.trans {
		for j, o := range c.trans {
			if i != j {
				a.Connect(o.LocalAddr(), o)
			}
		}
	}
	b.Cleanup(func() {
		if err := c.close(); err != nil {
			b.Error(err)
		}
	})
	for i, id := range ids {
		conf := hcRaftConfig(id)
		logs, snaps := hcraft.NewInmemStore(), hcraft.NewInmemSnapshotStore()
		// Each store is both the log store and the stable store, as
		// hashicorp/raft's own in-memory clusters use it.
		if err := hcraft.BootstrapCluster(conf, logs, logs, snaps, c.trans[i], hcraft.Configuration{Servers: servers}); err != nil {
			b.Fatal(err)
		}
		r, err := hcraft.NewRaft(conf, &hcRaftFSM{}, logs, logs, snaps, c.trans[i])
		if err != nil {
			b.Fatal(err)
		}
		r.RegisterObserver(c.obs)
		c.nodes = append(c.nodes, r)
	}
	for {
		l, err := c.awaitLeader(nil)
		if err != nil {
			b.Fatal(err)
		}
		// A node that won an election may already have lost it again;
		// VerifyLeader waits for a quorum to confirm.
		if l.VerifyLeader().Error() == nil {
			return c
		}
	}
}

// watch turns leadership observations into closing c.changed.
func (c *hcRaftCluster) watch() {
	for {
		select {
		case <-c.obsc:
			c.mu.Lock()
			v := c.view.Load()
			close(v.changed)
			c.view.Store(&hcRaftView{leader: v.leader, changed: make(chan struct{})})
			c.mu.Unlock()
		case <-c.stop:
			return
		}
	}
}

// current returns the node last seen leading and the channel closed at the
// next leadership change.
func (c *hcRaftCluster) current() (*hcraft.Raft, chan struct{}) {
	v := c.view.Load()
	return v.leader, v.changed
}

// awaitLeader waits until since (if not nil) is closed, then until a node
// says it leads, and makes it c.leader.
func (c *hcRaftCluster) awaitLeader(since chan struct{}) (*hcraft.Raft, error) {
	deadline := time.NewTimer(raftNodeSetupTimeout)
	defer deadline.Stop()
	for {
		if since != nil {
			select {
			case <-since:
			case <-deadline.C:
				return nil, errors.New("hashicorp: no leadership change within the timeout")
			}
		}
		_, next := c.current()
		for _, r := range c.nodes {
			if r.State() == hcraft.Leader {
				c.mu.Lock()
				c.view.Store(&hcRaftView{leader: r, changed: c.view.Load().changed})
				c.mu.Unlock()
				return r, nil
			}
		}
		since = next
	}
}

// apply applies raftNodeCommand on the leader and checks its result. When
// the leader loses its leadership it waits for the next one and tries again
// (the command may then apply twice, which the state machine does not
// mind), as a user of hashicorp/raft would; such retries are counted.
func (c *hcRaftCluster) apply() error {
	for attempt := 0; ; attempt++ {
		l, since := c.current()
		f := l.Apply(raftNodeCommand, 0)
		err := f.Error()
		if err == nil {
			if _, ok := f.Response().(uint64); !ok {
				return fmt.Errorf("hashicorp: unexpected result %v", f.Response())
			}
			return nil
		}
		if attempt == raftNodeMaxRetries || !errors.Is(err, hcraft.ErrNotLeader) && !errors.Is(err, hcraft.ErrLeadershipLost) {
			return err
		}
		c.retries.Add(1)
		if _, err := c.awaitLeader(since); err != nil {
			return err
		}
	}
}

// close shuts every node down (Shutdown waits for its goroutines), closes
// the transports and stops the observer goroutine.
func (c *hcRaftCluster) close() error {
	var errs []error
	for _, r := range c.nodes {
		r.DeregisterObserver(c.obs)
		errs = append(errs, r.Shutdown().Error())
	}
	for _, t := range c.trans {
		errs = append(errs, t.Close())
	}
	close(c.stop)
	c.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hashicorp: shutdown: %w", err)
	}
	return nil
}

func hcRaftBenchInmem(b *testing.B, proposers int) {
	c := hcRaftStart(b)
	lat := raftNodeFanOut(b, proposers, c.apply)
	raftNodeReportLatency(b, lat)
	raftNodeReportRetries(b, c.retries.Load())
}

// raftNodeReportRetries reports, when there were any, how many proposals
// were retried because leadership moved during the run.
func raftNodeReportRetries(b *testing.B, n int64) {
	if n > 0 {
		b.ReportMetric(float64(n), "retries")
	}
}

// raftNodeSM is the trivial state machine on the distkit side: it keeps the
// last applied index and returns it as each command's result, the same
// work as hcRaftFSM. Apply, Snapshot and Restore run on one goroutine, so
// it needs no lock.
type raftNodeSM struct{ last uint64 }

func (s *raftNodeSM) Apply(cmds []raft.Command) error {
	for i := range cmds {
		s.last = cmds[i].Index
		cmds[i].Result = cmds[i].Index
	}
	return nil
}

func (s *raftNodeSM) Snapshot() (raft.SnapshotWriter, error) {
	return raftNodeSnapshot(s.last), nil
}

func (s *raftNodeSM) Restore(r io.Reader) error {
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return err
	}
	s.last = binary.LittleEndian.Uint64(buf[:])
	return nil
}

// raftNodeSnapshot is a point-in-time copy of raftNodeSM's state.
type raftNodeSnapshot uint64

func (s raftNodeSnapshot) WriteSnapshot(w io.Writer) error {
	_, err := w.Write(binary.LittleEndian.AppendUint64(nil, uint64(s)))
	return err
}

func (raftNodeSnapshot) Release() {}

// raftNodeIDs are the members of every distkit cluster here.
var raftNodeIDs = []raft.NodeID{"n1", "n2", "n3"}

// raftNodeCluster is three distkit nodes. closers run in order at Cleanup:
// nodes first, then what they ran on (transports, storages, network).
type raftNodeCluster struct {
	nodes   []*raft.Node
	closers []func() error
	// leader is the node last seen leading; proposals go to it.
	leader  atomic.Pointer[raft.Node]
	retries atomic.Int64
}

// raftNodeSpec builds one member: its transport and storage, each with
// what closes it.
type raftNodeSpec func(id raft.NodeID) (transport.Transport, raft.NodeStorage, []func() error, error)

// raftNodeStart starts three nodes built by spec, with metrics (may be
// nil) as every node's metrics hook, and waits for a leader.
func raftNodeStart(b *testing.B, spec raftNodeSpec, metrics raft.Metrics) *raftNodeCluster {
	b.Helper()
	ids := raftNodeIDs
	c := &raftNodeCluster{}
	b.Cleanup(func() {
		var errs []error
		for _, n := range c.nodes {
			errs = append(errs, n.Close())
		}
		for _, f := range c.closers {
			errs = append(errs, f())
		}
		if err := errors.Join(errs...); err != nil {
			b.Errorf("distkit: shutdown: %v", err)
		}
	})
	for i, id := range ids {
		tr, st, closers, err := spec(id)
		c.closers = append(c.closers, closers...)
		if err != nil {
			b.Fatal(err)
		}
		n, err := raft.NewNode(raft.NodeConfig{
			Raft:         raft.Config{ID: id, Voters: ids, Seed: uint64(i + 1)},
			Transport:    tr,
			Storage:      st,
			StateMachine: &raftNodeSM{},
			TickInterval: raftNodeTick,
			Metrics:      metrics,
		})
		if err != nil {
			b.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		if err := n.Start(); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.awaitLeader(c.nodes[0]); err != nil {
		b.Fatal(err)
	}
	return c
}

// awaitLeader waits for a leader and makes it c.leader: first by asking
// from (WaitLeader returns as soon as from knows one), then, if that one
// does not say it leads, by looking at every node once per tick.
// Proposers call it after a proposal failed because leadership moved, so
// they do not spin while the cluster elects a new leader.
func (c *raftNodeCluster) awaitLeader(from *raft.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), raftNodeSetupTimeout)
	defer cancel()
	if _, err := from.WaitLeader(ctx); err != nil {
		return fmt.Errorf("distkit: no leader: %w", err)
	}
	tick := time.NewTicker(raftNodeTick)
	defer tick.Stop()
	for {
		for _, n := range c.nodes {
			if n.Status().Role == raft.StateLeader {
				c.leader.Store(n)
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("distkit: no node says it leads: %w", ctx.Err())
		}
	}
}

// propose returns a proposer for raftNodeFanOut that proposes
// raftNodeCommand on the leader and checks its result. Should the
// proposal fail because leadership moved, it asks for the new leader and
// tries again (the command may then apply twice, which the state machine
// does not mind), as the hashicorp side does; such retries are counted.
// A follower would forward the proposal itself, but at the cost of a hop.
func (c *raftNodeCluster) propose(ctx context.Context) func() error {
	return func() error {
		for attempt := 0; ; attempt++ {
			n := c.leader.Load()
			res, err := n.Propose(ctx, raftNodeCommand)
			if err == nil {
				if _, ok := res.(uint64); !ok {
					return fmt.Errorf("distkit: unexpected result %v", res)
				}
				return nil
			}
			if attempt == raftNodeMaxRetries || !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrQuorumLost) &&
				!errors.Is(err, raft.ErrOutcomeUnknown) && !errors.Is(err, raft.ErrProposalDropped) {
				return err
			}
			c.retries.Add(1)
			if err := c.awaitLeader(n); err != nil {
				return err
			}
			if c.leader.Load() == n {
				// n still says it leads: give it a tick to notice.
				t := time.NewTimer(raftNodeTick)
				<-t.C
			}
		}
	}
}

// raftNodeMemnet returns a spec whose members join one fault-free memnet
// network (zero Config: lossless, synchronous, in order) and keep their log
// in a MemoryStorage. The network closes at Cleanup, after the cluster
// (Cleanup functions run last-registered first).
func raftNodeMemnet(b *testing.B) (raftNodeSpec, *memnet.Network) {
	net, err := memnet.New(memnet.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := net.Close(); err != nil {
			b.Error(err)
		}
	})
	return func(id raft.NodeID) (transport.Transport, raft.NodeStorage, []func() error, error) {
		ep, err := net.Join(id)
		if err != nil {
			return nil, nil, nil, err
		}
		return ep, raft.NewMemoryStorage(), []func() error{ep.Close}, nil
	}, net
}

func raftNodeBenchInmem(b *testing.B, proposers int) {
	spec, net := raftNodeMemnet(b)
	c := raftNodeStart(b, spec, nil)
	// No deadline, as the hashicorp side's Apply has none: a lost
	// proposal hangs the run until go test's -timeout ends it.
	ctx := context.Background()
	s0 := net.TotalStats()
	lat := raftNodeFanOut(b, proposers, c.propose(ctx))
	s1 := net.TotalStats()
	raftNodeReportLatency(b, lat)
	raftNodeReportRetries(b, c.retries.Load())
	// Messages per command show how well the runtime batches; a drop on a
	// fault-free network means a full receive queue.
	b.ReportMetric(float64(s1.Sent-s0.Sent)/float64(b.N), "msgs/op")
	if d := s1.Dropped() - s0.Dropped(); d > 0 {
		b.ReportMetric(float64(d)/float64(b.N), "drops/op")
	}
}
