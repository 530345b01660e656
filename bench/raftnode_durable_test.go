package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/tcpnet"
)

// BenchmarkRaftDurable measures distkit's runtime as deployed: three nodes
// over loopback TCP (tcpnet, without TLS), each with its log in a WAL on
// disk (OpenWALStorage in a temporary directory, fsync on every batch), and
// 1 or 256 concurrent proposers on the leader, each waiting for its
// command's result. One op is one committed command. It reports the
// commands' median and 99th-percentile commit latency (p50-ms, p99-ms), the
// median WAL fsync latency over all three nodes in the same run as the
// nodes' metrics hook measures it (fsync-p50-ms), entries written per fsync
// (entries/fsync), committed commands per second (ops/s), and messages per
// command on the transports (msgs/op; drops/op too if any were lost).
//
// The commit latency floor is the leader's fsync, in parallel with a
// round trip and a follower's fsync: with one proposer the median commit
// should be within 0.2 ms of the median fsync.
func BenchmarkRaftDurable(b *testing.B) {
	b.Run("distkit", func(b *testing.B) {
		for _, p := range []int{1, 256} {
			b.Run(fmt.Sprintf("proposers=%d", p), func(b *testing.B) { raftNodeBenchDurable(b, p) })
		}
	})
}

// raftNodeMetrics is the metrics hook of the durable benchmark: it keeps
// every fsync's latency and batch size. The hook is called from the nodes'
// goroutines, so it locks.
type raftNodeMetrics struct {
	mu      sync.Mutex
	fsyncs  []time.Duration
	entries int
}

func (m *raftNodeMetrics) FsyncLatency(d time.Duration, entries int) {
	m.mu.Lock()
	m.fsyncs = append(m.fsyncs, d)
	m.entries += entries
	m.mu.Unlock()
}

func (m *raftNodeMetrics) CommitLatency(time.Duration) {}
func (m *raftNodeMetrics) ApplyLag(uint64)             {}
func (m *raftNodeMetrics) Election(uint64, bool)       {}
func (m *raftNodeMetrics) SnapshotBytes(bool, int)     {}

// reset forgets the fsyncs of cluster setup and the election.
func (m *raftNodeMetrics) reset() {
	m.mu.Lock()
	m.fsyncs, m.entries = m.fsyncs[:0], 0
	m.mu.Unlock()
}

// take returns the fsync latencies and the entries they covered.
func (m *raftNodeMetrics) take() ([]time.Duration, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.fsyncs), m.entries
}

// raftNodeTCP returns a spec whose members talk over loopback tcpnet
// transports that all know each other, and keep their logs in WALs under
// dir, and a function that counts the messages the transports sent and
// lost (dropped from a full queue or with a failed connection). The
// transports close at Cleanup, after the cluster.
func raftNodeTCP(b *testing.B, dir string, ids []raft.NodeID) (raftNodeSpec, func() (sent, lost uint64)) {
	trs := map[raft.NodeID]*tcpnet.Transport{}
	b.Cleanup(func() {
		for _, t := range trs {
			if err := t.Close(); err != nil {
				b.Error(err)
			}
		}
	})
	for _, id := range ids {
		t, err := tcpnet.New(tcpnet.Config{NodeID: id, ClusterName: "raftbench"})
		if err != nil {
			b.Fatal(err)
		}
		trs[id] = t
	}
	for _, a := range trs {
		for _, o := range trs {
			if a != o {
				if err := a.SetPeer(o.NodeID(), o.Addr().String()); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return func(id raft.NodeID) (transport.Transport, raft.NodeStorage, []func() error, error) {
			st, err := raft.OpenWALStorage(wal.Config{Dir: filepath.Join(dir, string(id))})
			if err != nil {
				return nil, nil, nil, err
			}
			return trs[id], st, []func() error{st.Close}, nil
		}, func() (sent, lost uint64) {
			for _, t := range trs {
				for _, p := range t.Status().Peers {
					sent += p.Sent
					lost += p.Dropped + p.Lost
				}
			}
			return sent, lost
		}
}

func raftNodeBenchDurable(b *testing.B, proposers int) {
	m := &raftNodeMetrics{}
	spec, counts := raftNodeTCP(b, b.TempDir(), raftNodeIDs)
	c := raftNodeStart(b, spec, m)
	ctx := context.Background()
	m.reset()
	sent0, lost0 := counts()
	lat := raftNodeFanOut(b, proposers, c.propose(ctx))
	fs, entries := m.take()
	sent1, lost1 := counts()
	raftNodeReportLatency(b, lat)
	raftNodeReportRetries(b, c.retries.Load())
	if len(fs) == 0 {
		b.Fatal("distkit: the metrics hook saw no fsync")
	}
	slices.Sort(fs)
	b.ReportMetric(raftNodeMillis(raftNodePercentile(fs, 0.5)), "fsync-p50-ms")
	b.ReportMetric(float64(entries)/float64(len(fs)), "entries/fsync")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(sent1-sent0)/float64(b.N), "msgs/op")
	if lost1 > lost0 {
		b.ReportMetric(float64(lost1-lost0)/float64(b.N), "drops/op")
	}
}
