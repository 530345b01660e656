package raft

import (
	"fmt"
	"log/slog"
)

// Defaults applied to zero Config fields.
const (
	DefaultElectionTicks       = 10
	DefaultHeartbeatTicks      = 1
	DefaultLeaseDriftTicks     = 2
	DefaultMaxMsgEntries       = 256
	DefaultMaxMsgBytes         = 1 << 20
	DefaultMaxInflightMsgs     = 64
	DefaultMaxInflightBytes    = 32 << 20
	DefaultMaxUncommittedBytes = 64 << 20
	DefaultMaxApplyBytes       = 64 << 20
	DefaultSnapshotChunkBytes  = 1 << 20
	DefaultSnapshotEntries     = 10000
)

// Config configures one Core. The zero value of every field but ID and
// Storage means the documented default.
type Config struct {
	// ID is this node's identity. Required.
	ID NodeID

	// Voters and Learners are the initial membership, used only when the
	// Storage holds no configuration (a fresh node). The first batch then
	// persists them. A fresh node with neither is an error.
	Voters   []NodeID
	Learners []NodeID

	// Join starts a fresh node with no configuration, to be added to a
	// running cluster with ProposeConfChange: it neither campaigns nor
	// votes until an entry or snapshot from the leader says it is a member.
	Join bool

	// Storage is the node's durable log, read by the core. Required. The
	// caller writes to it what each batch's Persist step says.
	Storage Storage

	// Applied is the index of the last entry the state machine had applied
	// before a restart; entries after it are delivered again. Zero means
	// the Storage's snapshot index: the caller restores its state machine
	// from Storage.Snapshot() when it starts.
	Applied uint64

	// ElectionTicks is the number of Tick calls without hearing from a
	// leader after which a follower campaigns. The actual timeout is drawn
	// uniformly from [ElectionTicks, 2*ElectionTicks) on every reset, so
	// nodes rarely campaign together. It is also the leader's check-quorum
	// period and the window in which a follower ignores vote requests after
	// hearing from its leader. Default 10; must exceed HeartbeatTicks.
	ElectionTicks int
	// HeartbeatTicks is the number of Tick calls between a leader's
	// heartbeats. Default 1.
	HeartbeatTicks int

	// Seed seeds the core's random number generator, which only draws the
	// randomized election timeouts. Two cores with equal configs, seeds and
	// inputs produce identical outputs. Give each node a different seed, or
	// their timeouts coincide.
	Seed uint64

	// DisablePreVote turns off the pre-vote phase (thesis §9.6). With it on
	// (the default) a node that cannot win an election does not raise its
	// term, so a rejoining partitioned node does not depose a healthy leader.
	DisablePreVote bool
	// DisableCheckQuorum turns off check-quorum: with it on (the default) a
	// leader that has not heard from a quorum within ElectionTicks steps
	// down, and a follower that heard from its leader within ElectionTicks
	// ignores vote requests (leader stickiness).
	DisableCheckQuorum bool

	// LeaseReads lets the leader answer ReadIndex at once, without a
	// heartbeat round, while it holds a lease: less than ElectionTicks
	// minus LeaseDriftTicks of its ticks have passed since it sent a
	// heartbeat that a quorum acknowledged. Followers that heard that
	// heartbeat refuse to vote for anyone else until ElectionTicks of their
	// own ticks pass (leader stickiness), so no other leader can exist
	// before the lease ends, provided no node's ticks run faster than the
	// leader's by more than LeaseDriftTicks per election timeout. With it
	// on, a restarted node also refuses votes for its first ElectionTicks
	// ticks, since it forgot which leader it heard. A leadership transfer
	// ends the lease; without a lease reads fall back to ReadIndex. It
	// requires check-quorum. Off by default: it trades a clock assumption
	// for latency.
	LeaseReads bool
	// LeaseDriftTicks is the clock-drift bound of LeaseReads in ticks; it
	// must be less than ElectionTicks. Default 2.
	LeaseDriftTicks int

	// MaxMsgEntries bounds the entries in one append message. Default 256.
	MaxMsgEntries int
	// MaxMsgBytes bounds the payload bytes in one append message; one
	// entry larger than it is still sent alone. Default 1 MiB.
	MaxMsgBytes uint64
	// MaxInflightMsgs bounds the append messages sent to one follower and
	// not yet acknowledged (pipelining depth). Default 64.
	MaxInflightMsgs int
	// MaxInflightBytes bounds the payload bytes sent to one follower and not
	// yet acknowledged. Default 32 MiB.
	MaxInflightBytes uint64
	// MaxUncommittedBytes bounds the payload bytes a leader holds that are
	// not committed; Propose beyond it fails fast with ErrProposalDropped
	// (one proposal is always accepted when nothing is pending). Default
	// 64 MiB.
	MaxUncommittedBytes uint64
	// MaxApplyBytes bounds the payload bytes of committed entries handed
	// out in one batch; one larger entry still goes alone. Default 64 MiB.
	MaxApplyBytes uint64

	// SnapshotChunkBytes is the size of the chunks a snapshot is sent in.
	// Default 1 MiB.
	SnapshotChunkBytes uint64
	// SnapshotEntries is how many entries may be applied after the last
	// snapshot before a batch asks for a new one (Ready.SnapshotDue).
	// Default 10000.
	SnapshotEntries uint64

	// Logger receives the core's rare notable events (elections, step
	// downs). Nil is silent.
	Logger *slog.Logger
}

// Validate reports whether c is usable. It does not modify c.
func (c *Config) Validate() error {
	if c.ID == None {
		return fmt.Errorf("%w: ID is empty", ErrInvalidConfig)
	}
	if c.Storage == nil {
		return fmt.Errorf("%w: Storage is nil", ErrInvalidConfig)
	}
	if c.ElectionTicks < 0 || c.HeartbeatTicks < 0 || c.MaxMsgEntries < 0 || c.MaxInflightMsgs < 0 || c.LeaseDriftTicks < 0 {
		return fmt.Errorf("%w: negative tick or count", ErrInvalidConfig)
	}
	n := c.withDefaults()
	if n.HeartbeatTicks >= n.ElectionTicks {
		return fmt.Errorf("%w: HeartbeatTicks (%d) must be less than ElectionTicks (%d)", ErrInvalidConfig, n.HeartbeatTicks, n.ElectionTicks)
	}
	if c.LeaseReads && c.DisableCheckQuorum {
		return fmt.Errorf("%w: LeaseReads requires check-quorum", ErrInvalidConfig)
	}
	if c.LeaseReads && n.LeaseDriftTicks >= n.ElectionTicks {
		return fmt.Errorf("%w: LeaseDriftTicks (%d) must be less than ElectionTicks (%d)", ErrInvalidConfig, n.LeaseDriftTicks, n.ElectionTicks)
	}
	seen := make(map[NodeID]bool, len(c.Voters)+len(c.Learners))
	for _, id := range c.Voters {
		if id == None || seen[id] {
			return fmt.Errorf("%w: empty or duplicate voter %q", ErrInvalidConfig, string(id))
		}
		seen[id] = true
	}
	for _, id := range c.Learners {
		if id == None || seen[id] {
			return fmt.Errorf("%w: empty, duplicate or voting learner %q", ErrInvalidConfig, string(id))
		}
		seen[id] = true
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	n := *c
	if n.ElectionTicks == 0 {
		n.ElectionTicks = DefaultElectionTicks
	}
	if n.HeartbeatTicks == 0 {
		n.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if n.LeaseDriftTicks == 0 {
		n.LeaseDriftTicks = DefaultLeaseDriftTicks
	}
	if n.MaxMsgEntries == 0 {
		n.MaxMsgEntries = DefaultMaxMsgEntries
	}
	if n.MaxMsgBytes == 0 {
		n.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if n.MaxInflightMsgs == 0 {
		n.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if n.MaxInflightBytes == 0 {
		n.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if n.MaxUncommittedBytes == 0 {
		n.MaxUncommittedBytes = DefaultMaxUncommittedBytes
	}
	if n.SnapshotEntries == 0 {
		n.SnapshotEntries = DefaultSnapshotEntries
	}
	if n.SnapshotChunkBytes == 0 {
		n.SnapshotChunkBytes = DefaultSnapshotChunkBytes
	}
	if n.MaxApplyBytes == 0 {
		n.MaxApplyBytes = DefaultMaxApplyBytes
	}
	return n
}
