package raft_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distkit/distkit/raft"
)

// itKV is the integration tests' replicated state: a string map written by
// "key=value" commands. Reads come from test goroutines while the node
// applies, so everything is under mu.
//
// Like a real service with request IDs (thesis §6.3), it applies each
// distinct command once: the tests make every written value unique, so a
// command seen again is a repeat of the same request (a duplicated or
// re-forwarded proposal) and is ignored. It counts such repeats, and it
// checks the StateMachine contract it relies on: commands arrive in strictly
// increasing index order, never below what a restored snapshot covered.
type itKV struct {
	mu       sync.Mutex
	data     map[string]string
	seen     map[string]bool
	applied  uint64
	repeats  int
	restores int
	snaps    int
	// delay, if set, is how long (in virtual time) each Apply batch and
	// each WriteSnapshot takes, to model a slow state machine and disk.
	delay func() time.Duration
	// safety, if set, is told every applied command, as applied by id.
	safety *itSafety
	id     raft.NodeID
}

// itSafety checks State Machine Safety across a whole cluster's life: no
// two state machines, on any node or incarnation, apply different commands
// at the same log index.
type itSafety struct {
	mu         sync.Mutex
	at         map[uint64]string
	violations []string
}

func newITSafety() *itSafety { return &itSafety{at: map[uint64]string{}} }

func (s *itSafety) applied(id raft.NodeID, index uint64, cmd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.at[index]; ok && prev != cmd {
		if len(s.violations) < 10 {
			s.violations = append(s.violations, fmt.Sprintf("%s applied %q at index %d, where another node applied %q", id, cmd, index, prev))
		}
		return
	}
	s.at[index] = cmd
}

// command returns the command applied at index, if any node applied one.
func (s *itSafety) command(index uint64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd, ok := s.at[index]
	return cmd, ok
}

func (s *itSafety) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

func newITKV() *itKV {
	return &itKV{data: map[string]string{}, seen: map[string]bool{}}
}

// itCmd encodes a write of value to key.
func itCmd(key, value string) []byte { return []byte(key + "=" + value) }

// Apply implements raft.StateMachine.
func (kv *itKV) Apply(cmds []raft.Command) error {
	if kv.delay != nil {
		<-time.After(kv.delay())
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for i := range cmds {
		c := &cmds[i]
		if c.Index <= kv.applied {
			return fmt.Errorf("itKV: apply of index %d after %d: out of order or repeated", c.Index, kv.applied)
		}
		kv.applied = c.Index
		if len(c.Data) == 0 {
			continue
		}
		cmd := string(c.Data)
		if kv.safety != nil {
			kv.safety.applied(kv.id, c.Index, cmd)
		}
		k, v, ok := strings.Cut(cmd, "=")
		if !ok {
			return fmt.Errorf("itKV: malformed command %q at index %d", cmd, c.Index)
		}
		if kv.seen[cmd] {
			kv.repeats++
			c.Result = itResult{Index: c.Index, Repeat: true}
			continue
		}
		kv.seen[cmd] = true
		kv.data[k] = v
		c.Result = itResult{Index: c.Index}
	}
	return nil
}

// itResult is what Apply hands back to the proposer.
type itResult struct {
	Index  uint64
	Repeat bool
}

// Snapshot implements raft.StateMachine with a copy of the state.
func (kv *itKV) Snapshot() (raft.SnapshotWriter, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.snaps++
	return &itKVSnap{applied: kv.applied, data: maps.Clone(kv.data), seen: maps.Clone(kv.seen), delay: kv.delay}, nil
}

// Restore implements raft.StateMachine.
func (kv *itKV) Restore(r io.Reader) error {
	applied, data, seen, err := decodeITKV(r)
	if err != nil {
		return err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.applied, kv.data, kv.seen = applied, data, seen
	kv.restores++
	return nil
}

func (kv *itKV) get(key string) string {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.data[key]
}

func (kv *itKV) state() (applied uint64, data map[string]string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.applied, maps.Clone(kv.data)
}

func (kv *itKV) counters() (restores, snaps, repeats int) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.restores, kv.snaps, kv.repeats
}

// itKVSnap is a point-in-time copy, written out on the node's snapshot
// goroutine while Apply carries on.
type itKVSnap struct {
	applied uint64
	data    map[string]string
	seen    map[string]bool
	delay   func() time.Duration
}

// WriteSnapshot writes the applied index, then the pairs and the seen
// commands, each string as a uvarint length and its bytes, in sorted order
// so that equal states give equal snapshots.
func (s *itKVSnap) WriteSnapshot(w io.Writer) error {
	if s.delay != nil {
		<-time.After(s.delay())
	}
	bw := bufio.NewWriter(w)
	var buf [binary.MaxVarintLen64]byte
	putU := func(v uint64) { _, _ = bw.Write(buf[:binary.PutUvarint(buf[:], v)]) }
	putS := func(s string) { putU(uint64(len(s))); _, _ = bw.WriteString(s) }
	putU(s.applied)
	keys := slices.Sorted(maps.Keys(s.data))
	putU(uint64(len(keys)))
	for _, k := range keys {
		putS(k)
		putS(s.data[k])
	}
	seen := slices.Sorted(maps.Keys(s.seen))
	putU(uint64(len(seen)))
	for _, c := range seen {
		putS(c)
	}
	return bw.Flush()
}

// Release implements raft.SnapshotWriter.
func (s *itKVSnap) Release() {}

var errITKVCorrupt = errors.New("itKV: corrupt snapshot")

func decodeITKV(r io.Reader) (uint64, map[string]string, map[string]bool, error) {
	br := bufio.NewReader(r)
	getU := func() (uint64, error) {
		v, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", errITKVCorrupt, err)
		}
		return v, nil
	}
	getS := func() (string, error) {
		n, err := getU()
		if err != nil {
			return "", err
		}
		if n > 1<<20 {
			return "", fmt.Errorf("%w: string of %d bytes", errITKVCorrupt, n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", fmt.Errorf("%w: %v", errITKVCorrupt, err)
		}
		return string(b), nil
	}
	applied, err := getU()
	if err != nil {
		return 0, nil, nil, err
	}
	n, err := getU()
	if err != nil {
		return 0, nil, nil, err
	}
	data := map[string]string{}
	for range n {
		k, err := getS()
		if err != nil {
			return 0, nil, nil, err
		}
		v, err := getS()
		if err != nil {
			return 0, nil, nil, err
		}
		data[k] = v
	}
	if n, err = getU(); err != nil {
		return 0, nil, nil, err
	}
	seen := map[string]bool{}
	for range n {
		c, err := getS()
		if err != nil {
			return 0, nil, nil, err
		}
		seen[c] = true
	}
	return applied, data, seen, nil
}
