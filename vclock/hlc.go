package vclock

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultMaxOffset is the maximum clock offset used when
// HLCConfig.MaxOffset is zero. It is the bound CockroachDB uses by default.
const DefaultMaxOffset = 500 * time.Millisecond

// HLCConfig configures a hybrid logical clock. The zero value is valid and
// means: the system clock, DefaultMaxOffset, no logging.
type HLCConfig struct {
	// MaxOffset is how far a remote timestamp's wall time may be ahead of
	// the local physical clock before Update rejects it with an
	// OffsetError. It should be the largest clock skew expected between any
	// two replicas. A clock that accepted any remote time could be dragged
	// arbitrarily far into the future by one replica with a bad clock, and
	// every later timestamp would inherit the error. Zero means
	// DefaultMaxOffset; otherwise it must be at least a millisecond, the
	// resolution of a Timestamp.
	MaxOffset time.Duration

	// Clock returns the physical time. Nil means the system clock (see
	// HLC). Tests inject a ManualClock's Now here, or run under
	// testing/synctest, where the system clock is virtual. The clock may go
	// backwards; the HLC stays monotonic regardless. It is called on every
	// Now and Update, concurrently, so it must be cheap and safe for
	// concurrent use.
	Clock func() time.Time

	// Logger receives a warning for each rejected remote timestamp. Nil
	// means silent.
	Logger *slog.Logger
}

// Validate reports whether c is usable. It does not change c.
func (c HLCConfig) Validate() error {
	if c.MaxOffset < 0 || (c.MaxOffset > 0 && c.MaxOffset < time.Millisecond) {
		return fmt.Errorf("%w: MaxOffset %v is negative or below 1ms", ErrInvalidConfig, c.MaxOffset)
	}
	return nil
}

// OffsetError reports a remote timestamp too far ahead of the local physical
// clock. It unwraps to ErrClockOffset.
type OffsetError struct {
	Remote         Timestamp     // the rejected timestamp
	PhysicalMillis int64         // the local physical time when it was rejected, in Unix ms
	MaxOffset      time.Duration // the configured bound
}

func (e *OffsetError) Error() string {
	ahead := time.Duration(e.Remote.WallMillis()-e.PhysicalMillis) * time.Millisecond
	return fmt.Sprintf("vclock: remote timestamp %v is %v ahead of the local clock, beyond the maximum offset %v",
		e.Remote, ahead, e.MaxOffset)
}

// Unwrap returns ErrClockOffset.
func (e *OffsetError) Unwrap() error { return ErrClockOffset }

// HLC is a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks",
// 2014). Its timestamps stay within the clock offset of physical time, like
// a wall clock, and respect causality, like a Lamport clock: a timestamp
// issued after receiving another is greater than it. Timestamps from one
// HLC strictly increase, even when the physical clock goes backwards.
//
// The clock is one atomic Timestamp, advanced by compare-and-swap: Now and
// Update take no lock and are safe for concurrent use. The zero value uses
// the system clock and DefaultMaxOffset; NewHLC configures the rest. An HLC
// must not be copied after first use.
//
// The system clock is read as wall time at most once a second and
// interpolated with the monotonic clock in between: one monotonic read is
// about half the cost of time.Now, and HLC timestamps need only millisecond
// resolution. A step of the system clock therefore shows within a second.
// That one clock read per Now is most of its cost: a vDSO clock_gettime,
// 25 to 30 ns from C on a virtual machine even with the tsc clocksource and
// about 40 ns through Go's runtime, against 10 to 15 ns for the rest of
// Now, mostly one atomic add (compare BenchmarkClockRead with
// BenchmarkHLCNow, and testdata/clockread.c). Reading the clock less often
// would let timestamps fall behind physical time, and a cheaper clock
// (CLOCK_REALTIME_COARSE, the TSC) is either too coarse for milliseconds or
// needs assembly that is unsafe on virtual machines, so Now reads it every
// time.
//
// Like any HLC it cannot detect concurrency (two timestamps are always
// ordered), and it is only as good as the bound on clock skew: if the real
// offset between replicas exceeds MaxOffset, remote timestamps are rejected
// rather than absorbed.
type HLC struct {
	clock     func() time.Time
	maxOffset int64 // milliseconds; 0 means DefaultMaxOffset
	maxDur    time.Duration
	logger    *slog.Logger
	sys       atomic.Pointer[sysClock]
	// last is the one field every Now writes. The padding keeps it on a
	// cache line of its own, away from the fields above, which every Now
	// only reads: otherwise each write by one core would evict them from
	// the others' caches and concurrent callers would miss on them too.
	_    [cacheLine]byte
	last atomic.Uint64 // the latest Timestamp issued
	_    [cacheLine - 8]byte
}

// cacheLine is twice the 64-byte line of current x86 and ARM cores, since
// their prefetchers fetch lines in adjacent pairs.
const cacheLine = 128

// NewHLC returns a clock configured by cfg, or an error wrapping
// ErrInvalidConfig.
func NewHLC(cfg HLCConfig) (*HLC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &HLC{clock: cfg.Clock, maxDur: cfg.MaxOffset, logger: cfg.Logger}
	h.maxOffset = int64(cfg.MaxOffset / time.Millisecond)
	if cfg.Clock == nil {
		h.sys.Store(newSysClock())
	}
	return h, nil
}

// physical returns the physical time as a packed Timestamp with a zero
// logical part, clamped to the Timestamp range, and as Unix milliseconds.
func (h *HLC) physical() (uint64, int64) {
	var ms int64
	if s := h.sys.Load(); s != nil {
		ms = s.nowMillis()
	} else {
		ms = h.otherPhysical()
	}
	ms = min(max(ms, 0), MaxWallMillis)
	return uint64(ms) << logicalBits, ms
}

// otherPhysical reads the physical clock of an HLC without a sysClock: the
// injected clock, or, for a zero-value HLC, the system clock, which it sets
// up on first use.
func (h *HLC) otherPhysical() int64 {
	if h.clock != nil {
		return h.clock().UnixMilli()
	}
	h.sys.CompareAndSwap(nil, newSysClock())
	return h.sys.Load().nowMillis()
}

// Now returns a timestamp for a local event or a message about to be sent:
// greater than every timestamp this clock issued before, and at least the
// physical time. When many events fall in one millisecond the logical part
// counts them; after 65,535 it carries into the wall part, which then runs
// ahead of physical time by a millisecond until physical time catches up.
// A clock at the very end of the Timestamp range (year 10889) stays there.
func (h *HLC) Now() Timestamp {
	// This is physical() written out, with the system clock read inline:
	// two fewer calls on the path every timestamp takes.
	var ms int64
	if s := h.sys.Load(); s != nil {
		mono := time.Since(s.epoch)
		if int64(mono) < s.nextSync.Load() {
			ms = int64(mono/time.Millisecond) + s.offset.Load()
		} else {
			ms = s.resync()
		}
	} else {
		ms = h.otherPhysical()
	}
	pt := uint64(min(max(ms, 0), MaxWallMillis)) << logicalBits
	last := h.last.Load()
	// Within one millisecond the next timestamp is last+1, which an atomic
	// add produces without the retries a compare-and-swap needs when other
	// goroutines race it. Every change to the clock increases it, so the
	// sum is above every timestamp issued before and, as pt <= last, at
	// least the physical time. The bound keeps the add far from overflow.
	if pt <= last && last < addSafeLimit {
		return Timestamp(h.last.Add(1))
	}
	for {
		if last == ^uint64(0) {
			return Timestamp(last)
		}
		next := max(pt, last+1)
		if h.last.CompareAndSwap(last, next) {
			return Timestamp(next)
		}
		last = h.last.Load()
	}
}

// addSafeLimit is the clock value (wall time in the year 6429) below which
// Now may advance the clock with an atomic add: concurrent adds cannot
// carry it past the end of the range.
const addSafeLimit = 1 << 63

// Update records the receipt of a message stamped with remote and returns
// the receipt's timestamp, which is greater than remote and than every
// timestamp this clock issued before.
//
// If remote's wall time is more than MaxOffset ahead of the local physical
// time, Update returns an *OffsetError (errors.Is ErrClockOffset) and leaves
// the clock unchanged: the sender's clock, or this one, is broken, and
// absorbing the timestamp would carry the error into every later one.
func (h *HLC) Update(remote Timestamp) (Timestamp, error) {
	pt, ptMillis := h.physical()
	if remote.WallMillis()-ptMillis > h.maxOffsetMillis() {
		err := &OffsetError{Remote: remote, PhysicalMillis: ptMillis, MaxOffset: h.maxOffsetDuration()}
		if h.logger != nil {
			h.logger.LogAttrs(context.Background(), slog.LevelWarn, "vclock: rejected remote timestamp",
				slog.String("remote", remote.String()), slog.Int64("physical_ms", ptMillis),
				slog.Duration("max_offset", err.MaxOffset))
		}
		return 0, err
	}
	for {
		last := h.last.Load()
		if last == ^uint64(0) || uint64(remote) == ^uint64(0) {
			return Timestamp(^uint64(0)), nil
		}
		next := max(pt, last+1, uint64(remote)+1)
		if h.last.CompareAndSwap(last, next) {
			return Timestamp(next), nil
		}
	}
}

// Last returns the latest timestamp the clock issued, without issuing a new
// one. Persist it (or anything later) to restore the clock after a restart
// with Restore.
func (h *HLC) Last() Timestamp { return Timestamp(h.last.Load()) }

// Restore moves the clock forward to at least ts, so that every later
// timestamp is greater than ts. Call it at startup with the last timestamp
// persisted before a restart, so that timestamps stay monotonic across
// restarts even if the physical clock went backwards meanwhile. Unlike
// Update it performs no offset check: ts comes from this replica's own
// storage, not from the network.
func (h *HLC) Restore(ts Timestamp) {
	for {
		last := h.last.Load()
		if uint64(ts) <= last || h.last.CompareAndSwap(last, uint64(ts)) {
			return
		}
	}
}

func (h *HLC) maxOffsetMillis() int64 {
	if h.maxOffset == 0 {
		return int64(DefaultMaxOffset / time.Millisecond)
	}
	return h.maxOffset
}

func (h *HLC) maxOffsetDuration() time.Duration {
	if h.maxDur == 0 {
		return DefaultMaxOffset
	}
	return h.maxDur
}

// sysClock reads the system clock as Unix milliseconds with one monotonic
// clock read, re-reading the wall clock once a second.
type sysClock struct {
	epoch    time.Time    // has a monotonic reading
	offset   atomic.Int64 // wall ms minus monotonic ms since epoch, at the last resync
	nextSync atomic.Int64 // monotonic ns since epoch at which to resync
}

const sysResync = time.Second

func newSysClock() *sysClock {
	c := &sysClock{epoch: time.Now()}
	c.resync()
	return c
}

func (c *sysClock) nowMillis() int64 {
	mono := time.Since(c.epoch)
	if int64(mono) >= c.nextSync.Load() {
		return c.resync()
	}
	return int64(mono/time.Millisecond) + c.offset.Load()
}

// resync re-reads the wall clock. Concurrent resyncs store nearly equal
// values, so they need no coordination.
func (c *sysClock) resync() int64 {
	now := time.Now()
	mono := now.Sub(c.epoch)
	wall := now.UnixMilli()
	c.offset.Store(wall - int64(mono/time.Millisecond))
	c.nextSync.Store(int64(mono + sysResync))
	return wall
}

// ManualClock is a physical clock that moves only when told to, for tests:
// pass its Now as HLCConfig.Clock. It is safe for concurrent use. The zero
// value reads as the Unix epoch.
type ManualClock struct {
	ns atomic.Int64
}

// NewManualClock returns a clock reading t.
func NewManualClock(t time.Time) *ManualClock {
	c := &ManualClock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Set sets the clock to t, which may be before its current time.
func (c *ManualClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock by d, which may be negative.
func (c *ManualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
