package bench

import (
	"fmt"
	"io"
	"log"
	"runtime"
	"testing"

	"github.com/distkit/distkit/raft"
	etcdraft "go.etcd.io/raft/v3"
	etcdpb "go.etcd.io/raft/v3/raftpb"
)

// BenchmarkRaftCore measures the bare consensus cores: three replicas in one
// goroutine, in-memory storage, messages handed from core to core directly,
// 100-byte proposals in batches of 64. One op is one batch proposed on the
// leader, replicated, committed and applied on all three replicas; the
// ns/entry and allocs/entry metrics divide by the 64 entries.
func BenchmarkRaftCore(b *testing.B) {
	b.Run("distkit", raftBenchDistkit)
	b.Run("etcd", raftBenchEtcd)
}

const (
	raftBenchBatch   = 64
	raftBenchPayload = 100
	// raftCompactEvery batches, both sides compact their stores up to the
	// applied index, as a real deployment would, so the run measures the
	// cores rather than an ever-growing slice.
	raftCompactEvery = 16
)

func raftReportPerEntry(b *testing.B, batches int, mallocs uint64) {
	entries := float64(batches * raftBenchBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/entries, "ns/entry")
	b.ReportMetric(float64(mallocs)/entries, "allocs/entry")
}

func raftMallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

type raftBenchNode struct {
	core    *raft.Core
	store   *raft.MemoryStorage
	applied uint64
}

func raftBenchDistkit(b *testing.B) {
	ids := []raft.NodeID{"n1", "n2", "n3"}
	nodes := make([]*raftBenchNode, len(ids))
	for i, id := range ids {
		st := raft.NewMemoryStorage()
		c, err := raft.New(raft.Config{ID: id, Voters: ids, Storage: st, Seed: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = &raftBenchNode{core: c, store: st}
	}
	deliver := func(ms []raft.Message) {
		for i := range ms {
			for j, id := range ids {
				if id == ms[i].To {
					if err := nodes[j].core.Step(ms[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	pump := func() {
		for busy := true; busy; {
			busy = false
			for _, n := range nodes {
				rd := n.core.Ready()
				if rd == nil {
					continue
				}
				busy = true
				deliver(rd.Messages)
				if err := n.store.Save(rd.Persist); err != nil {
					b.Fatal(err)
				}
				deliver(rd.Persisted())
				if k := len(rd.Apply); k > 0 {
					n.applied = rd.Apply[k-1].Index
				}
				if err := n.core.Advance(rd); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for nodes[0].core.Status().State != raft.StateLeader {
		nodes[0].core.Tick()
		pump()
	}
	payload := make([]byte, raftBenchPayload)
	batch := make([][]byte, raftBenchBatch)
	for i := range batch {
		batch[i] = payload
	}
	leader := nodes[0]
	b.ReportAllocs()
	m0 := raftMallocs()
	batches := 0
	for b.Loop() {
		first, _, err := leader.core.Propose(batch...)
		if err != nil {
			b.Fatal(err)
		}
		last := first + raftBenchBatch - 1
		for leader.applied < last || nodes[1].applied < last || nodes[2].applied < last {
			pump()
			if leader.applied < last || nodes[1].applied < last || nodes[2].applied < last {
				// Followers learn the final commit index from the next
				// heartbeat.
				leader.core.Tick()
			}
		}
		batches++
		if batches%raftCompactEvery == 0 {
			for _, n := range nodes {
				if err := n.store.CreateSnapshot(n.applied, n.core.ConfStateAt(n.applied), nil); err != nil {
					b.Fatal(err)
				}
				if err := n.store.Compact(n.applied); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	raftReportPerEntry(b, batches, raftMallocs()-m0)
}

type raftBenchEtcdNode struct {
	rn      *etcdraft.RawNode
	store   *etcdraft.MemoryStorage
	applied uint64
}

func raftBenchEtcd(b *testing.B) {
	nodes := make([]*raftBenchEtcdNode, 3)
	for i := range nodes {
		st := etcdraft.NewMemoryStorage()
		snapIndex, snapTerm := uint64(1), uint64(1)
		err := st.ApplySnapshot(&etcdpb.Snapshot{Metadata: &etcdpb.SnapshotMetadata{
			ConfState: &etcdpb.ConfState{Voters: []uint64{1, 2, 3}}, Index: &snapIndex, Term: &snapTerm}})
		if err != nil {
			b.Fatal(err)
		}
		rn, err := etcdraft.NewRawNode(&etcdraft.Config{
			ID: uint64(i + 1), ElectionTick: 10, HeartbeatTick: 1, Storage: st,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 64, CheckQuorum: true, PreVote: true,
			Logger: &etcdraft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
		})
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = &raftBenchEtcdNode{rn: rn, store: st, applied: snapIndex}
	}
	pump := func() {
		for busy := true; busy; {
			busy = false
			for _, n := range nodes {
				if !n.rn.HasReady() {
					continue
				}
				busy = true
				rd := n.rn.Ready()
				if rd.HardState != nil {
					if err := n.store.SetHardState(rd.HardState); err != nil {
						b.Fatal(err)
					}
				}
				if err := n.store.Append(rd.Entries); err != nil {
					b.Fatal(err)
				}
				for _, m := range rd.Messages {
					if err := nodes[m.GetTo()-1].rn.Step(m); err != nil {
						b.Fatal(err)
					}
				}
				if k := len(rd.CommittedEntries); k > 0 {
					n.applied = rd.CommittedEntries[k-1].GetIndex()
				}
				n.rn.Advance(rd)
			}
		}
	}
	if err := nodes[0].rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	pump()
	if nodes[0].rn.Status().RaftState != etcdraft.StateLeader {
		b.Fatal(fmt.Errorf("etcd node 1 did not become leader"))
	}
	payload := make([]byte, raftBenchPayload)
	leader := nodes[0]
	from := uint64(1)
	b.ReportAllocs()
	m0 := raftMallocs()
	batches := 0
	for b.Loop() {
		// etcd writes term and index into the proposed entries, so each
		// batch needs fresh ones.
		ents := make([]*etcdpb.Entry, raftBenchBatch)
		for i := range ents {
			ents[i] = &etcdpb.Entry{Data: payload}
		}
		prevLast, _ := leader.store.LastIndex()
		if err := leader.rn.Step(&etcdpb.Message{Type: etcdpb.MsgProp.Enum(), From: &from, Entries: ents}); err != nil {
			b.Fatal(err)
		}
		// The leader's unstable log now ends at prevLast+64.
		target := prevLast + raftBenchBatch
		for leader.applied < target || nodes[1].applied < target || nodes[2].applied < target {
			pump()
			if leader.applied < target || nodes[1].applied < target || nodes[2].applied < target {
				leader.rn.Tick()
			}
		}
		batches++
		if batches%raftCompactEvery == 0 {
			for _, n := range nodes {
				if err := n.store.Compact(n.applied); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	raftReportPerEntry(b, batches, raftMallocs()-m0)
}
