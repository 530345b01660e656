package wal

import (
	"errors"
	"fmt"
)

// Errors returned by the WAL and the snapshot store. Callers test with
// errors.Is; detail comes wrapped around them.
var (
	// ErrCorrupt reports bytes on disk that do not form a valid record,
	// segment or snapshot. It is wrapped in a *CorruptError that names the
	// file and offset.
	ErrCorrupt = errors.New("wal: corrupt data")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
	// ErrFailed is returned once a write or sync has failed. After a failed
	// fsync the kernel may have dropped the dirty pages, so the only safe
	// course is to stop and reopen, which recovers from what is on disk.
	ErrFailed = errors.New("wal: failed, reopen to recover")
	// ErrOutOfRange is returned for an index outside [FirstIndex, LastIndex].
	ErrOutOfRange = errors.New("wal: index out of range")
	// ErrCompacted is returned for an index at or below the last compaction.
	ErrCompacted = errors.New("wal: index compacted")
	// ErrGap is returned by Save for entries that do not continue the log.
	ErrGap = errors.New("wal: entries do not continue the log")
	// ErrNoSnapshot is returned by the snapshot store when it holds none.
	ErrNoSnapshot = errors.New("wal: no snapshot")
)

// CorruptError names where corrupt data was found. It unwraps to ErrCorrupt.
type CorruptError struct {
	File   string // file name inside the directory
	Offset int64  // byte offset of the bad record or header
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt data in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(file string, off int64, format string, args ...any) error {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
