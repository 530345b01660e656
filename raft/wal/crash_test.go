package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// walModel is what the log must hold: the result of every acknowledged
// operation, applied in order.
type walModel struct {
	mark, markTerm uint64
	log            []Entry // entries mark+1, mark+2, ...
	hs             HardState
}

func (m walModel) clone() walModel {
	m.log = append([]Entry(nil), m.log...)
	return m
}

func (m walModel) last() uint64 { return m.mark + uint64(len(m.log)) }

// step is one record of an operation, in the order the WAL writes them, so a
// failed operation can be replayed record by record.
type step func(*walModel)

func truncateStep(from uint64) step {
	return func(m *walModel) {
		if from <= m.mark+1 {
			m.log = m.log[:0]
		} else if k := from - m.mark - 1; k < uint64(len(m.log)) {
			m.log = m.log[:k]
		}
	}
}

func entryStep(e Entry) step { return func(m *walModel) { m.log = append(m.log, e) } }

func hsStep(hs HardState) step { return func(m *walModel) { m.hs = hs } }

func markStep(index, term uint64, reset bool) step {
	return func(m *walModel) {
		if reset || index >= m.last() {
			m.log = m.log[:0]
		} else {
			m.log = m.log[index-m.mark:]
		}
		m.mark, m.markTerm = index, term
	}
}

func apply(m walModel, steps []step) walModel {
	m = m.clone()
	for _, s := range steps {
		s(&m)
	}
	return m
}

// crashMachine drives a WAL on a fault-injecting file system through saves,
// concurrent appends, compactions, snapshots, syncs, injected faults, power
// cuts and restarts, in SyncEveryBatch or SyncOff mode.
type crashMachine struct {
	fs       *memFS
	w        *WAL
	mode     SyncMode
	model    walModel // the log as of the last point known durable
	unsynced []step   // acknowledged since then but not fsynced (SyncOff)
	failed   []step   // records of the operations that failed, if any
	reopens  int
}

const crashSegmentSize = 2048

func (c *crashMachine) open(t *rapid.T, powerCut bool) {
	w, err := Open(Config{Dir: testDir, FS: c.fs, SegmentSize: crashSegmentSize, Sync: c.mode})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	c.w = w
	c.reopens++
	c.checkRecovered(t, powerCut)
}

// checkRecovered accepts the reopened log if it equals the model after some
// prefix of the records not known durable: after a power cut, the unsynced
// ones and those of a failed operation (none, some or all of them made it to
// disk); after a process crash, every acknowledged one and a prefix of the
// failed ones, as the page cache keeps what was written. It then adopts the
// reopened log as the model: Open makes what it read durable.
func (c *crashMachine) checkRecovered(t *rapid.T, powerCut bool) {
	got := c.snapshotOf(t)
	base, rest := c.model, append(append([]step(nil), c.unsynced...), c.failed...)
	if !powerCut {
		base, rest = apply(c.model, c.unsynced), c.failed
	}
	var tried []string
	for k := 0; k <= len(rest); k++ {
		cand := apply(base, rest[:k])
		if equalModels(cand, got) {
			c.model, c.unsynced, c.failed = got, nil, nil
			return
		}
		tried = append(tried, fmt.Sprintf("%+v", cand))
	}
	t.Fatalf("recovered log %+v matches none of the allowed states:\n%v", got, tried)
}

// view is what a healthy WAL must show: the model plus what was
// acknowledged since.
func (c *crashMachine) view() walModel { return apply(c.model, c.unsynced) }

func equalModels(a, b walModel) bool {
	if a.mark != b.mark || a.markTerm != b.markTerm || a.hs != b.hs || len(a.log) != len(b.log) {
		return false
	}
	for i := range a.log {
		x, y := a.log[i], b.log[i]
		if x.Index != y.Index || x.Term != y.Term || string(x.Data) != string(y.Data) {
			return false
		}
	}
	return true
}

// snapshotOf reads the whole state back from the WAL.
func (c *crashMachine) snapshotOf(t *rapid.T) walModel {
	m := walModel{hs: c.w.HardState()}
	m.mark, m.markTerm = c.w.Mark()
	if c.w.FirstIndex() != m.mark+1 {
		t.Fatalf("FirstIndex %d with mark %d", c.w.FirstIndex(), m.mark)
	}
	last := c.w.LastIndex()
	if last > m.mark {
		ents, err := c.w.Entries(m.mark+1, last+1, 0)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		m.log = ents
	}
	return m
}

// done records the outcome of an operation made of steps. sync says the
// operation fsyncs whatever the mode (compactions do).
func (c *crashMachine) done(t *rapid.T, steps []step, sync bool, err error) {
	if err == nil {
		c.unsynced = append(c.unsynced, steps...)
		if c.mode == SyncEveryBatch || sync {
			c.model, c.unsynced = c.view(), nil
		}
		return
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
		t.Fatalf("unexpected error: %v", err)
	}
	c.fail(steps)
}

// fail records the steps of a failed operation. Writes acknowledged but not
// yet fsynced become uncertain too: a failed fsync leaves them out of the
// disk, and the WAL then cuts them from the page cache as well.
func (c *crashMachine) fail(steps []step) {
	c.failed = append(append(c.unsynced, c.failed...), steps...)
	c.unsynced = nil
}

func entryData(index uint64, size int) []byte {
	data := make([]byte, size)
	for j := range data {
		data[j] = byte(int(index)*7 + j)
	}
	return data
}

func (c *crashMachine) Save(t *rapid.T) {
	if c.failed != nil {
		err := c.w.Save(context.Background(), nil, []Entry{{Index: c.view().last() + 1, Term: 1}})
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("save after a failure: %v, want ErrFailed", err)
		}
		return
	}
	v := c.view()
	first := rapid.Uint64Range(v.mark+1, v.last()+1).Draw(t, "first")
	n := rapid.IntRange(1, 4).Draw(t, "count")
	term := rapid.Uint64Range(1, 5).Draw(t, "term")
	var steps []step
	if first <= v.last() {
		steps = append(steps, truncateStep(first))
	}
	es := make([]Entry, n)
	for i := range es {
		size := rapid.IntRange(0, 400).Draw(t, "size")
		es[i] = Entry{Index: first + uint64(i), Term: term, Data: entryData(first+uint64(i), size)}
		steps = append(steps, entryStep(es[i]))
	}
	var hs *HardState
	if rapid.Bool().Draw(t, "with hard state") {
		hs = &HardState{Term: term, Vote: rapid.SampledFrom([]string{"", "a", "node-2"}).Draw(t, "vote"), Commit: rapid.Uint64Range(0, first).Draw(t, "commit")}
		steps = append(steps, hsStep(*hs))
	}
	c.done(t, steps, false, c.w.Save(context.Background(), hs, es))
}

// ConcurrentAppend runs several Appends at once, so that they share
// batches. Indexes are handed out in queue order and a failure fails every
// batch queued behind it, so the acknowledged appends must hold the lowest
// indexes.
func (c *crashMachine) ConcurrentAppend(t *rapid.T) {
	if c.failed != nil {
		t.Skip("failed")
	}
	n := rapid.IntRange(2, 6).Draw(t, "appenders")
	term := max(c.view().hs.Term, rapid.Uint64Range(1, 5).Draw(t, "append term"))
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = rapid.IntRange(0, 400).Draw(t, "append size")
	}
	type result struct {
		first uint64
		data  []byte
		err   error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(i + 1)}, sizes[i])
			first, err := c.w.Append(context.Background(), term, data)
			results[i] = result{first, data, err}
		})
	}
	wg.Wait()
	sort.Slice(results, func(a, b int) bool { return results[a].first < results[b].first })
	for len(results) > 0 && results[0].first == 0 {
		// Refused before it was queued: the WAL had failed already.
		if !errors.Is(results[0].err, ErrFailed) {
			t.Fatalf("append refused with %v", results[0].err)
		}
		results = results[1:]
	}
	var acked, failed []step
	for i, r := range results {
		if r.err != nil && (!errors.Is(r.err, ErrFailed) || !errors.Is(r.err, errInjected)) {
			t.Fatalf("unexpected error: %v", r.err)
		}
		if i > 0 && r.first != results[i-1].first+1 {
			t.Fatalf("appends got indexes %d then %d", results[i-1].first, r.first)
		}
		s := entryStep(Entry{Index: r.first, Term: term, Data: r.data})
		if r.err != nil {
			failed = append(failed, s)
			continue
		}
		if len(failed) > 0 {
			t.Fatalf("append at %d acknowledged after one at a lower index failed", r.first)
		}
		acked = append(acked, s)
	}
	c.done(t, acked, false, nil)
	if len(failed) > 0 {
		c.fail(failed)
	}
}

func (c *crashMachine) Compact(t *rapid.T) {
	v := c.view()
	if c.failed != nil || v.last() == v.mark {
		t.Skip("nothing to compact")
	}
	idx := rapid.Uint64Range(v.mark+1, v.last()).Draw(t, "compact to")
	term := v.log[idx-v.mark-1].Term
	c.done(t, []step{markStep(idx, term, false), hsStep(v.hs)}, true, c.w.Compact(context.Background(), idx))
}

func (c *crashMachine) ApplySnapshot(t *rapid.T) {
	if c.failed != nil {
		t.Skip("failed")
	}
	v := c.view()
	idx := rapid.Uint64Range(v.mark, v.last()+5).Draw(t, "snapshot index")
	term := rapid.Uint64Range(1, 6).Draw(t, "snapshot term")
	c.done(t, []step{markStep(idx, term, true), hsStep(v.hs)}, true, c.w.ApplySnapshot(context.Background(), idx, term))
}

func (c *crashMachine) Sync(t *rapid.T) {
	if c.failed != nil {
		t.Skip("failed")
	}
	c.done(t, nil, true, c.w.Sync(context.Background()))
}

func (c *crashMachine) ArmFault(t *rapid.T) {
	n := rapid.IntRange(1, 5).Draw(t, "fault after")
	kind := faultKind(rapid.IntRange(0, 3).Draw(t, "fault kind"))
	c.fs.arm(n, kind)
}

func (c *crashMachine) PowerCut(t *rapid.T) {
	c.fs.PowerCut()
	c.open(t, true)
}

func (c *crashMachine) ProcessCrash(t *rapid.T) {
	c.open(t, c.fs.Restart())
}

func (c *crashMachine) CloseAndReopen(t *rapid.T) {
	err := c.w.Close()
	switch {
	case err == nil && c.failed == nil:
		c.model, c.unsynced = c.view(), nil
	case err != nil && c.failed == nil:
		// Close's own fsync hit an armed fault.
		if !errors.Is(err, errInjected) {
			t.Fatalf("close: %v", err)
		}
		c.fail(nil)
	}
	c.open(t, c.fs.Restart())
}

// Check runs after every action: a healthy WAL's view is exactly the model.
func (c *crashMachine) Check(t *rapid.T) {
	if c.failed != nil {
		return
	}
	if got := c.snapshotOf(t); !equalModels(got, c.view()) {
		t.Fatalf("WAL %+v, model %+v", got, c.view())
	}
}

func TestCrashRecoveryProperties(t *testing.T) {
	reopens, histories := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		c := &crashMachine{
			fs:   newMemFS(rapid.Uint64().Draw(t, "fs seed")),
			mode: rapid.SampledFrom([]SyncMode{SyncEveryBatch, SyncOff}).Draw(t, "sync mode"),
		}
		c.open(t, false)
		t.Repeat(map[string]func(*rapid.T){
			"save":          c.Save,
			"append":        c.ConcurrentAppend,
			"sync":          c.Sync,
			"compact":       c.Compact,
			"snapshot":      c.ApplySnapshot,
			"fault":         c.ArmFault,
			"power cut":     c.PowerCut,
			"process crash": c.ProcessCrash,
			"reopen":        c.CloseAndReopen,
			"":              c.Check,
		})
		reopens += c.reopens
		histories++
	})
	t.Logf("%d histories, %d reopens checked", histories, reopens)
	require.Positive(t, reopens)
}
