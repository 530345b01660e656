package raft

import "github.com/distkit/distkit/transport"

// NodeID names a member of the cluster. It is the transport's NodeID, so the
// runtime can hand the core's messages to a Transport without a lookup table.
type NodeID = transport.NodeID

// None is the empty NodeID: no leader known, no vote cast.
const None NodeID = ""

// StateType is the role a node plays in its current term.
type StateType uint8

// The roles of a node. Append only, do not reorder: the value appears in
// traces that tests compare byte for byte.
const (
	// StateFollower accepts entries from a leader and votes.
	StateFollower StateType = iota
	// StatePreCandidate asks whether it could win an election before it
	// disturbs anyone by raising its term (Raft thesis §9.6).
	StatePreCandidate
	// StateCandidate has raised its term and asks for votes.
	StateCandidate
	// StateLeader accepts proposals and replicates them.
	StateLeader
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StatePreCandidate:
		return "pre-candidate"
	case StateCandidate:
		return "candidate"
	case StateLeader:
		return "leader"
	}
	return "unknown"
}

// EntryType says how an entry's Data is interpreted.
type EntryType uint8

// Entry types. They go on the wire: append only, do not reorder.
const (
	// EntryNormal carries application data; an empty one is the no-op a new
	// leader appends to commit entries of earlier terms.
	EntryNormal EntryType = iota
	// EntryConfChange carries a ConfChange (ProposeConfChange).
	EntryConfChange
)

// Entry is one record of the replicated log.
type Entry struct {
	// Term is the leader term in which the entry was created.
	Term uint64
	// Index is the entry's position in the log, starting at 1.
	Index uint64
	// Type says how Data is interpreted.
	Type EntryType
	// Data is the application's command. The core never modifies it and
	// shares it between the log, messages and the output batch: callers must
	// not modify it either.
	Data []byte
}

// HardState is the state a node must persist before it sends any message that
// depends on it: its term, its vote in that term, and the commit index it
// knows (the commit index is persisted only to speed up restarts).
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is the membership of the cluster: the voters, which count toward
// quorums and may lead, and the learners, which receive the log but do not
// vote.
type ConfState struct {
	Voters   []NodeID
	Learners []NodeID
	// Promote lists the learners that the leader promotes to voters on
	// its own once they have caught up (thesis §4.2.1).
	Promote []NodeID
	// VotersOutgoing, when not empty, is the old voter set of a joint
	// configuration (thesis §4.3): decisions need a majority of Voters and
	// a majority of VotersOutgoing.
	VotersOutgoing []NodeID
}

// IsEmpty reports whether c lists no member.
func (c ConfState) IsEmpty() bool {
	return len(c.Voters) == 0 && len(c.Learners) == 0 && len(c.VotersOutgoing) == 0
}

func (c ConfState) clone() ConfState {
	return ConfState{
		Voters:   append([]NodeID(nil), c.Voters...),
		Learners: append([]NodeID(nil), c.Learners...),
		Promote:  append([]NodeID(nil), c.Promote...),

		VotersOutgoing: append([]NodeID(nil), c.VotersOutgoing...),
	}
}

// MsgType is the kind of a Message.
type MsgType uint8

// Message types. They go on the wire: append only, do not reorder.
const (
	msgNone MsgType = iota
	// MsgApp carries entries (maybe none) from the leader to a follower,
	// after the entry at (Index, LogTerm).
	MsgApp
	// MsgAppResp acknowledges a MsgApp up to Index, or rejects it with a
	// hint (RejectHint, LogTerm) to skip back over a whole conflicting term.
	MsgAppResp
	// MsgVote asks for a vote in Term; (Index, LogTerm) is the candidate's
	// last entry.
	MsgVote
	// MsgVoteResp grants or rejects a vote.
	MsgVoteResp
	// MsgPreVote asks whether the receiver would vote in Term, without
	// anyone raising their term.
	MsgPreVote
	// MsgPreVoteResp answers a MsgPreVote.
	MsgPreVoteResp
	// MsgHeartbeat asserts leadership and carries the commit index the
	// follower can safely adopt.
	MsgHeartbeat
	// MsgHeartbeatResp answers a MsgHeartbeat, echoing its Context (the
	// leader's read round).
	MsgHeartbeatResp
	// MsgProp forwards proposals (Entries, without term or index) from a
	// follower to the leader; Context is the follower's reference.
	MsgProp
	// MsgPropResp answers a MsgProp: accepted at (Index, LogTerm), or
	// rejected with RejectHint saying why (propRejectNotLeader, ...).
	MsgPropResp
	// MsgReadIndex forwards a read request (reference in Context) to the
	// leader.
	MsgReadIndex
	// MsgReadIndexResp answers a MsgReadIndex with the read index in Index.
	MsgReadIndexResp
	// MsgTimeoutNow tells the leadership transfer target to campaign at
	// once (thesis §3.10).
	MsgTimeoutNow
	// MsgSnap carries one chunk of a snapshot (Snap) to a follower whose
	// next entry is compacted.
	MsgSnap
	// MsgSnapResp acknowledges snapshot chunks: Index names the snapshot
	// and Context the byte offset the follower wants next.
	MsgSnapResp
)

// Reasons in the RejectHint of a rejecting MsgPropResp. They go on the
// wire: append only, do not reorder.
const (
	propRejectNotLeader uint64 = iota + 1
	propRejectDropped
	propRejectTransfer
)

var msgTypeNames = [...]string{"none", "app", "app-resp", "vote", "vote-resp", "prevote", "prevote-resp",
	"heartbeat", "heartbeat-resp", "prop", "prop-resp", "read-index", "read-index-resp", "timeout-now",
	"snap", "snap-resp"}

func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return "unknown"
}

// Message is what one core sends another. From and To are not encoded by the
// codec: the transport supplies From from the connection, so a peer cannot
// speak for another.
type Message struct {
	Type MsgType
	From NodeID
	To   NodeID
	// Term is the sender's term; for MsgPreVote and a granting
	// MsgPreVoteResp it is the term the pre-candidate would campaign in.
	Term uint64
	// LogTerm is the term of the entry at Index in MsgApp and votes, and
	// the hint term in a rejecting MsgAppResp.
	LogTerm uint64
	// Index is the entry before Entries in MsgApp, the last log index in
	// votes, and the acknowledged or rejected index in MsgAppResp.
	Index uint64
	// Commit is the sender's commit index (MsgApp, MsgHeartbeat).
	Commit uint64
	// Reject is set on a refusing response.
	Reject bool
	// RejectHint is the index a rejecting MsgAppResp suggests to retry
	// from, or the reason a MsgPropResp was rejected.
	RejectHint uint64
	// Force marks a MsgVote of a leadership transfer, which voters grant
	// even while they still hear from the current leader.
	Force bool
	// Context is the read round of heartbeats and their responses, or the
	// caller's reference of a forwarded proposal or read.
	Context uint64
	// Entries are the log entries of a MsgApp. They are shared with the
	// sender's log and must not be modified.
	Entries []Entry
	// Snap is the snapshot chunk of a MsgSnap.
	Snap *SnapshotChunk
}

// SnapshotMeta identifies a snapshot: the last entry it covers and the
// membership at that entry.
type SnapshotMeta struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is the state machine's state up to Meta.Index, as opaque bytes
// the application produced.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s is the zero Snapshot.
func (s Snapshot) IsEmpty() bool { return s.Meta.Index == 0 }

// SnapshotChunk is one piece of a snapshot in transfer: Data holds bytes
// [Offset, Offset+len(Data)) of a snapshot Total bytes long.
type SnapshotChunk struct {
	Meta   SnapshotMeta
	Offset uint64
	Total  uint64
	Data   []byte
}
