package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/distkit/distkit/raft"
)

// Limits on what the store holds. The HTTP handlers refuse larger requests,
// Apply refuses larger commands, and so the decoders can refuse anything
// larger as corrupt.
const (
	maxKeyLen   = 1 << 10 // 1 KiB
	maxValueLen = 1 << 20 // 1 MiB
)

// errCorrupt is wrapped by every error of the command and snapshot decoders.
var errCorrupt = errors.New("kvstore: corrupt data")

// op is what a command does. Ops are written to the replicated log: append
// only, do not reorder.
type op byte

const (
	opPut op = iota + 1
	opDelete
)

// command is one write, as proposed to Raft and applied by every node.
type command struct {
	Op    op
	Key   string
	Value string // empty for opDelete
}

// commandVersion is the first byte of every encoded command, so the format
// can change without misreading old logs.
const commandVersion = 1

// encode returns the command's bytes: the version, the op, then the key and
// (for a put) the value, each as a uvarint length and its bytes.
func (c command) encode() []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(c.Key)+len(c.Value))
	b = append(b, commandVersion, byte(c.Op))
	b = appendString(b, c.Key)
	if c.Op == opPut {
		b = appendString(b, c.Value)
	}
	return b
}

// decodeCommand parses what encode wrote. It never panics, allocates only
// the strings it returns (bounded by len(b)) and rejects trailing bytes, so
// each command has exactly one encoding.
func decodeCommand(b []byte) (command, error) {
	var c command
	if len(b) < 2 {
		return c, fmt.Errorf("%w: command of %d bytes", errCorrupt, len(b))
	}
	if b[0] != commandVersion {
		return c, fmt.Errorf("%w: command version %d", errCorrupt, b[0])
	}
	c.Op = op(b[1])
	rest := b[2:]
	var err error
	if c.Key, rest, err = readString(rest, maxKeyLen); err != nil {
		return c, fmt.Errorf("key: %w", err)
	}
	switch c.Op {
	case opPut:
		if c.Value, rest, err = readString(rest, maxValueLen); err != nil {
			return c, fmt.Errorf("value: %w", err)
		}
	case opDelete:
	default:
		return c, fmt.Errorf("%w: unknown op %d", errCorrupt, c.Op)
	}
	if len(rest) != 0 {
		return c, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(rest))
	}
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readUvarint reads a uvarint in its shortest form: binary.Uvarint also
// accepts padded forms (0x80 0x00 for 0), which would give one value two
// encodings.
func readUvarint(b []byte) (uint64, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || w != uvarintLen(n) {
		return 0, nil, fmt.Errorf("%w: bad uvarint", errCorrupt)
	}
	return n, b[w:], nil
}

func uvarintLen(n uint64) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

// readString reads a uvarint length of at most limit and that many bytes.
func readString(b []byte, limit int) (string, []byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return "", nil, err
	}
	if n > uint64(limit) || n > uint64(len(b)) {
		return "", nil, fmt.Errorf("%w: length %d with %d bytes left (limit %d)", errCorrupt, n, len(b), limit)
	}
	return string(b[:n]), b[n:], nil
}

// Store is the replicated state machine: a map from key to value.
//
// The raft.Node calls Apply, Snapshot and Restore on one goroutine, and
// WriteSnapshot on another while later commands are applied. HTTP handlers
// read the map at the same time; mu guards it for them.
type Store struct {
	mu   sync.RWMutex
	data map[string]string
}

func newStore() *Store { return &Store{data: map[string]string{}} }

// Get returns the value of key in the local copy of the state. It is
// linearizable only after a successful Node.ReadIndex.
func (s *Store) Get(key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	return v, ok
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.data)
}

// Apply applies committed commands in log order. A command that does not
// decode gets its error as its Result instead of stopping the node: every
// node decides the same, so the replicas stay identical. Empty commands
// (a new leader's no-op, should the node pass one on) change nothing.
func (s *Store) Apply(cmds []raft.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range cmds {
		if len(cmds[i].Data) == 0 {
			continue
		}
		c, err := decodeCommand(cmds[i].Data)
		if err != nil {
			cmds[i].Result = err
			continue
		}
		switch c.Op {
		case opPut:
			s.data[c.Key] = c.Value // a string: a copy, not the log's bytes
		case opDelete:
			delete(s.data, c.Key)
		}
	}
	return nil
}

// Snapshot captures the state as it is now, for WriteSnapshot to write
// while Apply carries on. A copy of the map is the simplest point-in-time
// view; strings are immutable, so the copy shares them. It costs a pause
// proportional to the number of keys on the apply goroutine: a store of
// millions of keys would rather use a persistent (immutable) tree.
func (s *Store) Snapshot() (raft.SnapshotWriter, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[string]string, len(s.data))
	for k, v := range s.data {
		m[k] = v
	}
	return &storeSnapshot{data: m}, nil
}

// Restore replaces the whole state with a snapshot's contents.
func (s *Store) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.data = m
	s.mu.Unlock()
	return nil
}

// storeSnapshot is a point-in-time copy of the map.
type storeSnapshot struct {
	data map[string]string
}

// snapshotVersion is the first byte of every snapshot.
const snapshotVersion = 1

// WriteSnapshot writes the version byte, the number of keys as a uvarint,
// then each key and value as a uvarint length and its bytes, in key order so
// that equal states give equal snapshots.
func (s *storeSnapshot) WriteSnapshot(w io.Writer) error {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.AppendUvarint([]byte{snapshotVersion}, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, s.data[k])
		if len(b) >= 64<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

// Release drops the copy; it is called once the snapshot is written.
func (s *storeSnapshot) Release() { s.data = nil }

// decodeSnapshot parses what WriteSnapshot wrote. It never panics and
// allocates in proportion to len(b): the key count is checked against the
// bytes left before the map is sized.
func decodeSnapshot(b []byte) (map[string]string, error) {
	if len(b) < 1 || b[0] != snapshotVersion {
		return nil, fmt.Errorf("%w: not a version %d snapshot", errCorrupt, snapshotVersion)
	}
	n, rest, err := readUvarint(b[1:])
	if err != nil {
		return nil, fmt.Errorf("key count: %w", err)
	}
	if n > uint64(len(rest))/2 { // every pair takes at least two bytes
		return nil, fmt.Errorf("%w: %d keys in %d bytes", errCorrupt, n, len(rest))
	}
	m := make(map[string]string, n)
	prev := ""
	for i := range n {
		var k, v string
		if k, rest, err = readString(rest, maxKeyLen); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if v, rest, err = readString(rest, maxValueLen); err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
		if i > 0 && k <= prev {
			return nil, fmt.Errorf("%w: keys out of order", errCorrupt)
		}
		m[k], prev = v, k
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(rest))
	}
	return m, nil
}
