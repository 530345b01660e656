package wal

import (
	"context"
	"errors"
	"fmt"
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
// compactions, snapshots, injected faults, power cuts and restarts.
type crashMachine struct {
	fs      *memFS
	w       *WAL
	model   walModel
	failed  []step // records of the operation that failed, if any
	reopens int
}

const crashSegmentSize = 300

func (c *crashMachine) open(t *rapid.T) {
	w, err := Open(Config{Dir: testDir, FS: c.fs, SegmentSize: crashSegmentSize})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	c.w = w
	c.reopens++
	c.checkRecovered(t)
}

// checkRecovered accepts the reopened log if it equals the model after some
// prefix of the failed operation's records (none, some or all of them made it
// to disk), then adopts it as the new model.
func (c *crashMachine) checkRecovered(t *rapid.T) {
	got := c.snapshotOf(t)
	var tried []string
	for k := 0; k <= len(c.failed); k++ {
		cand := apply(c.model, c.failed[:k])
		if equalModels(cand, got) {
			c.model, c.failed = got, nil
			return
		}
		tried = append(tried, fmt.Sprintf("%+v", cand))
	}
	t.Fatalf("recovered log %+v matches none of the allowed states:\n%v", got, tried)
}

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

// done records the outcome of an operation made of steps.
func (c *crashMachine) done(t *rapid.T, steps []step, err error) {
	if err == nil {
		c.model = apply(c.model, steps)
		return
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
		t.Fatalf("unexpected error: %v", err)
	}
	c.failed = steps
}

func (c *crashMachine) Save(t *rapid.T) {
	if c.failed != nil {
		err := c.w.Save(context.Background(), nil, []Entry{{Index: c.model.last() + 1, Term: 1}})
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("save after a failure: %v, want ErrFailed", err)
		}
		return
	}
	first := rapid.Uint64Range(c.model.mark+1, c.model.last()+1).Draw(t, "first")
	n := rapid.IntRange(1, 4).Draw(t, "count")
	term := rapid.Uint64Range(1, 5).Draw(t, "term")
	var steps []step
	if first <= c.model.last() {
		steps = append(steps, truncateStep(first))
	}
	es := make([]Entry, n)
	for i := range es {
		size := rapid.IntRange(0, 90).Draw(t, "size")
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(int(first) + i + j)
		}
		es[i] = Entry{Index: first + uint64(i), Term: term, Data: data}
		steps = append(steps, entryStep(es[i]))
	}
	var hs *HardState
	if rapid.Bool().Draw(t, "with hard state") {
		hs = &HardState{Term: term, Vote: rapid.SampledFrom([]string{"", "a", "node-2"}).Draw(t, "vote"), Commit: rapid.Uint64Range(0, first).Draw(t, "commit")}
		steps = append(steps, hsStep(*hs))
	}
	c.done(t, steps, c.w.Save(context.Background(), hs, es))
}

func (c *crashMachine) Compact(t *rapid.T) {
	if c.failed != nil || c.model.last() == c.model.mark {
		t.Skip("nothing to compact")
	}
	idx := rapid.Uint64Range(c.model.mark+1, c.model.last()).Draw(t, "compact to")
	term := c.model.log[idx-c.model.mark-1].Term
	c.done(t, []step{markStep(idx, term, false), hsStep(c.model.hs)}, c.w.Compact(context.Background(), idx))
}

func (c *crashMachine) ApplySnapshot(t *rapid.T) {
	if c.failed != nil {
		t.Skip("failed")
	}
	idx := rapid.Uint64Range(c.model.mark, c.model.last()+5).Draw(t, "snapshot index")
	term := rapid.Uint64Range(1, 6).Draw(t, "snapshot term")
	c.done(t, []step{markStep(idx, term, true), hsStep(c.model.hs)}, c.w.ApplySnapshot(context.Background(), idx, term))
}

func (c *crashMachine) ArmFault(t *rapid.T) {
	n := rapid.IntRange(1, 5).Draw(t, "fault after")
	kind := faultKind(rapid.IntRange(0, 2).Draw(t, "fault kind"))
	c.fs.arm(n, kind)
}

func (c *crashMachine) PowerCut(t *rapid.T) {
	c.fs.PowerCut()
	c.open(t)
}

func (c *crashMachine) ProcessCrash(t *rapid.T) {
	c.fs.Restart()
	c.open(t)
}

func (c *crashMachine) CloseAndReopen(t *rapid.T) {
	err := c.w.Close()
	if err != nil && c.failed == nil {
		// Close's own fsync hit an armed fault; nothing new was written.
		if !errors.Is(err, errInjected) {
			t.Fatalf("close: %v", err)
		}
	}
	c.fs.Restart()
	c.open(t)
}

// Check runs after every action: a healthy WAL's view is exactly the model.
func (c *crashMachine) Check(t *rapid.T) {
	if c.failed != nil {
		return
	}
	if got := c.snapshotOf(t); !equalModels(got, c.model) {
		t.Fatalf("WAL %+v, model %+v", got, c.model)
	}
}

func TestCrashRecoveryProperties(t *testing.T) {
	reopens, histories := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		c := &crashMachine{fs: newMemFS(rapid.Uint64().Draw(t, "fs seed"))}
		c.open(t)
		t.Repeat(map[string]func(*rapid.T){
			"save":          c.Save,
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
