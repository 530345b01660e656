package raft

import (
	"errors"
	"fmt"
)

// Sentinel errors. Typed errors below unwrap to them; test with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error Config.Validate returns.
	ErrInvalidConfig = errors.New("raft: invalid config")
	// ErrNotLeader is returned by Propose on a node that is not the leader.
	// The error is a *NotLeaderError naming the leader, if known.
	ErrNotLeader = errors.New("raft: not leader")
	// ErrProposalDropped is returned by Propose when the leader already
	// holds Config.MaxUncommittedBytes of entries that are not committed:
	// the cluster is behind and the caller should back off.
	ErrProposalDropped = errors.New("raft: proposal dropped: too many uncommitted bytes")
	// ErrTransferInProgress is returned by Propose while the leader hands
	// leadership over: new entries would only delay the transfer.
	ErrTransferInProgress = errors.New("raft: leadership transfer in progress")
	// ErrTransferTimeout is the result of a leadership transfer that did
	// not finish within one election timeout.
	ErrTransferTimeout = errors.New("raft: leadership transfer timed out")
	// ErrTransferLost is the result of a leadership transfer after which
	// another node than the target became leader.
	ErrTransferLost = errors.New("raft: leadership went to another node")
	// ErrInvalidTransfer is returned by TransferLeadership for a target
	// that is this node or not a voter.
	ErrInvalidTransfer = errors.New("raft: invalid leadership transfer target")
	// ErrConfChangePending is returned by ProposeConfChange while an
	// earlier change is uncommitted or before the leader has committed an
	// entry of its term.
	ErrConfChangePending = errors.New("raft: configuration change pending")
	// ErrInvalidConfChange is returned by ProposeConfChange for a change
	// that does not fit the latest configuration.
	ErrInvalidConfChange = errors.New("raft: invalid configuration change")
	// ErrStorage wraps an error returned by the Storage.
	ErrStorage = errors.New("raft: storage error")
	// ErrCompacted is returned by Storage when the requested index has been
	// compacted away.
	ErrCompacted = errors.New("raft: requested index is compacted")
	// ErrUnavailable is returned by Storage when the requested index is
	// beyond its last entry.
	ErrUnavailable = errors.New("raft: requested entry is unavailable")
	// ErrCorrupt is wrapped by every decoding error of the wire codec.
	ErrCorrupt = errors.New("raft: corrupt message")
	// ErrBatchMisuse is returned by Advance for a batch that did not come
	// from the last Ready call, or whose persisted messages were never taken.
	ErrBatchMisuse = errors.New("raft: batch misuse")
	// ErrQuorumLost is returned by a Node's pending and new calls when the
	// leader stepped down because it stopped hearing from a quorum
	// (check-quorum), or when no leader has been known for two election
	// timeouts. A proposal that fails with it may still be applied later.
	ErrQuorumLost = errors.New("raft: quorum lost")
	// ErrStopped is returned by a Node's calls once it is closed, or once
	// a fatal error (storage, state machine) stopped it.
	ErrStopped = errors.New("raft: node stopped")
	// ErrOutcomeUnknown is returned by Node.Propose when the node cannot
	// learn whether the proposal was applied: the leader it forwarded the
	// proposal to was replaced before answering, or a snapshot from the
	// leader covered the entry. Retry with ProposeSession to be safe.
	ErrOutcomeUnknown = errors.New("raft: proposal outcome unknown")
	// ErrCommandTooLarge is returned by Node.Propose and ProposeSession for
	// a command above NodeConfig.MaxCommandBytes: its append message could
	// not cross the transport. The command was not applied.
	ErrCommandTooLarge = errors.New("raft: command too large")
	// ErrDuplicateRequest is returned by Node.ProposeSession for a request
	// whose sequence number is below the client's latest applied one, or
	// equal to it when the result was not kept (see Node.ProposeSession):
	// the request was applied once already.
	ErrDuplicateRequest = errors.New("raft: session request already applied")
)

// NotLeaderError is returned by Propose on a node that is not the leader. It
// unwraps to ErrNotLeader.
type NotLeaderError struct {
	// Leader is the leader this node knows of, or None.
	Leader NodeID
}

func (e *NotLeaderError) Error() string {
	if e.Leader == None {
		return "raft: not leader (no leader known)"
	}
	return fmt.Sprintf("raft: not leader (leader is %q)", string(e.Leader))
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
