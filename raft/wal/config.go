package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when the WAL calls fsync.
type SyncMode int

// Sync modes. The zero value is SyncEveryBatch.
const (
	// SyncEveryBatch fsyncs every write batch before Save returns: a Save
	// that returned nil survives a power cut. Concurrent Saves share one
	// fsync (group commit). This is the default and the only safe mode
	// for Raft.
	SyncEveryBatch SyncMode = iota
	// SyncPeriodic writes before Save returns and fsyncs every
	// SyncInterval: a power cut loses up to one interval of acknowledged
	// writes.
	SyncPeriodic
	// SyncOff never fsyncs except on Close. Unsafe: a power cut can lose
	// any acknowledged write. For tests and throwaway data only.
	SyncOff
)

func (m SyncMode) String() string {
	switch m {
	case SyncEveryBatch:
		return "every-batch"
	case SyncPeriodic:
		return "periodic"
	case SyncOff:
		return "off"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Defaults for zero Config fields.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultSyncInterval  = 100 * time.Millisecond
	DefaultMaxRecordSize = 64 << 20
)

// Config configures a WAL. Zero fields take the documented defaults.
type Config struct {
	// Dir is the directory holding the segment files. It is created if
	// missing. Required.
	Dir string
	// SegmentSize is the size in bytes past which the WAL starts a new
	// segment file. A single batch larger than it still goes into one
	// segment. Default DefaultSegmentSize (64 MiB).
	SegmentSize int64
	// Sync says when to fsync. Default SyncEveryBatch.
	Sync SyncMode
	// SyncInterval is the fsync period for SyncPeriodic. Default
	// DefaultSyncInterval (100 ms).
	SyncInterval time.Duration
	// MaxRecordSize bounds one record (an entry's data plus a few bytes of
	// header). Recovery treats a longer length field as corruption, so this
	// also bounds what a corrupt length can make the WAL allocate. Default
	// DefaultMaxRecordSize (64 MiB).
	MaxRecordSize int
	// FS is the file system to write through. Default OSFS.
	FS FS
	// Logger receives recovery reports and failures. Nil is silent.
	Logger *slog.Logger
}

// Validate reports whether the configuration is usable. It does not modify
// the Config.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("wal: Config.Dir is required"))
	}
	if c.SegmentSize < 0 {
		errs = append(errs, fmt.Errorf("wal: Config.SegmentSize %d is negative", c.SegmentSize))
	}
	if c.Sync < SyncEveryBatch || c.Sync > SyncOff {
		errs = append(errs, fmt.Errorf("wal: Config.Sync %v is not a sync mode", c.Sync))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("wal: Config.SyncInterval %v is negative", c.SyncInterval))
	}
	if c.MaxRecordSize < 0 {
		errs = append(errs, fmt.Errorf("wal: Config.MaxRecordSize %d is negative", c.MaxRecordSize))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy with zero fields filled in.
func (c Config) withDefaults() Config {
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.MaxRecordSize == 0 {
		c.MaxRecordSize = DefaultMaxRecordSize
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
