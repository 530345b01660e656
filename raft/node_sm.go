package raft

import (
	"io"
	"time"
)

// Command is one committed normal entry handed to the state machine.
type Command struct {
	// Index and Term locate the entry in the log.
	Index, Term uint64
	// Data is the command as given to Propose or ProposeSession. It is
	// shared with the log: never modify it.
	Data []byte
	// Result is set by Apply. The node hands it to the Propose call that
	// proposed this entry on this node, if there is one; with client
	// sessions it is also remembered, so a retry of the same request gets
	// it again.
	Result any
}

// StateMachine is the user's replicated state. The node applies every
// committed command to it in log order, on every node.
//
// Threading contract: Apply and Snapshot are called on one goroutine, the
// node's apply goroutine, never concurrently with each other or with
// Restore. Restore is called by NewNode (from the storage's snapshot) and
// on the apply goroutine (when the leader sends a snapshot). The
// SnapshotWriter returned by Snapshot runs on another goroutine,
// concurrently with later Apply calls, so Snapshot must capture a
// point-in-time view of the state (copy-on-write, an immutable tree, or a
// copy) and WriteSnapshot must not read state that Apply changes.
// Applying on its own goroutine keeps a slow state machine from stalling
// consensus; reads through ReadIndex and LeaseRead wait for it.
//
// Reading the state machine from other goroutines (to serve reads) is the
// state machine's business: it needs its own lock or atomics for that.
// Apply, Snapshot and Restore must not wait for the node's own Propose,
// ReadIndex or membership calls: those wait for the apply goroutine that is
// running them (Status is fine).
type StateMachine interface {
	// Apply applies committed commands in log order and sets each Result.
	// The slice is reused after Apply returns: do not keep it (the Data of
	// each command may be kept). An error is fatal: the node stops and
	// Close returns the error.
	Apply(cmds []Command) error
	// Snapshot captures the state after the last applied command. The
	// writer it returns is run once, on another goroutine, and then
	// released.
	Snapshot() (SnapshotWriter, error)
	// Restore replaces the whole state with a snapshot's contents, as
	// written by a SnapshotWriter (possibly on another node).
	Restore(r io.Reader) error
}

// SnapshotWriter writes one point-in-time snapshot of a state machine.
type SnapshotWriter interface {
	// WriteSnapshot writes the snapshot to w. It runs concurrently with
	// later Apply calls.
	WriteSnapshot(w io.Writer) error
	// Release is called once, after WriteSnapshot returned (or when the
	// snapshot is abandoned), to free what the snapshot held.
	Release()
}

// Metrics receives the node's measurements. The node calls it from its own
// goroutines, never under a lock, so an implementation must be safe for
// concurrent use and cheap: a counter or a histogram update.
type Metrics interface {
	// CommitLatency is the time from a Propose call reaching the node to
	// its entry being applied on this node, for each successful proposal.
	CommitLatency(d time.Duration)
	// FsyncLatency is the time one Save of the storage took, and how many
	// log entries it wrote (the group-commit batch size).
	FsyncLatency(d time.Duration, entries int)
	// ApplyLag is how many committed entries the state machine had not yet
	// applied when it finished a batch.
	ApplyLag(entries uint64)
	// Election reports an election this node took part in as a candidate:
	// won is true when it became leader of term.
	Election(term uint64, won bool)
	// SnapshotBytes counts snapshot bytes sent to followers (sent) or
	// received from the leader (not sent), per chunk.
	SnapshotBytes(sent bool, n int)
}

// NodeStatus is a snapshot of a Node's state, from Node.Status.
type NodeStatus struct {
	ID NodeID
	// Role is the node's role in Term.
	Role StateType
	Term uint64
	// Leader is the leader this node knows of, or None.
	Leader NodeID
	// Commit is the highest log index known committed; Applied the highest
	// one the state machine has applied; LastIndex the last in the log.
	Commit, Applied, LastIndex uint64
	// Progress is the leader's view of each member's replication, this
	// node included; nil on a node that does not lead.
	Progress []PeerProgress
	// Stopped is set once the node stopped; Err is the fatal error that
	// stopped it, if any.
	Stopped bool
	Err     error
}
