// Package wal is a crash-safe, segmented write-ahead log and snapshot store:
// the durable storage under distkit's Raft, usable on its own by anything that
// needs an append-only log that survives crashes and power cuts.
//
// # Usage
//
//	w, err := wal.Open(wal.Config{Dir: dir})
//	if err != nil { ... }                           // ErrCorrupt names file and offset
//	defer w.Close()
//	err = w.Save(ctx, &wal.HardState{Term: 2, Vote: "n1", Commit: 7}, entries)
//	ents, err := w.Entries(lo, hi, maxBytes)
//	err = w.Compact(ctx, snapshotIndex)               // after a snapshot is saved
//
// Save takes entries with explicit indexes (what Raft needs: a follower's
// conflicting suffix is replaced by saving from the first conflicting index).
// Append assigns the next indexes itself, for many goroutines sharing one log.
//
// The SnapshotStore keeps snapshots beside the log: Create returns a writer,
// Commit makes the snapshot durable and visible atomically, and Latest opens
// the newest one with a reader that verifies the checksum as it is read.
//
// # Durability
//
// In the default mode, SyncEveryBatch, a Save, Append, Compact or
// ApplySnapshot that returned nil has been fsynced and survives a power cut.
// Concurrent calls are group-committed: the first caller writes and fsyncs
// the batch; calls arriving meanwhile queue and share the next fsync, so the
// batch size follows the load with no timer or tuning. SyncPeriodic fsyncs
// every SyncInterval (a power cut loses up to one interval of acknowledged
// writes) and SyncOff only on Close (unsafe; tests and throwaway data).
//
// The guarantee assumes what Linux file systems provide and the WAL relies
// on: fsync of a file returns only once its data and size are on stable
// storage; fsync of a directory makes creations, removals and renames in it
// durable; a rename within a directory is atomic; and after a power cut a
// file holds its fsynced bytes followed by some, none, or zeroed parts of
// what was written after the last fsync. The WAL fsyncs the directory after
// creating a segment, after each segment it deletes, and at open. If a write
// or an fsync fails, the WAL stops accepting writes (ErrFailed): after a
// failed fsync the kernel may have dropped the dirty pages, so retrying could
// report success for data that is gone. Reopen to recover from the disk.
//
// # Recovery
//
// Open reads every segment in order and checks every checksum. A last
// segment that ends in a partial record, or in zeros, with no whole record
// after the damage, is the trace of an interrupted write: it is cut off and
// reported in Report, and only unacknowledged writes are lost. Anything else
// is an error wrapping ErrCorrupt, as a *CorruptError naming the file and
// offset: a bad checksum before the tail, a missing segment (sequence numbers
// must be contiguous), or an entry that does not follow the log. Recovery
// never skips data silently and never panics on any input (FuzzRecover).
//
// # File format
//
// The directory holds segment files named by a 16-hex-digit sequence number
// ("0000000000000001.wal") and snapshot files named by index and term
// ("00000000000003e8-0000000000000002.snap"). All integers are little-endian.
//
// A segment starts with a 17-byte header: the magic "DKWL", a format version
// byte (1), the sequence number (8 bytes), and a CRC32C (Castagnoli) of those
// 13 bytes (4 bytes). Records follow back to back, each:
//
//	length   4 bytes  length of the payload
//	crc      4 bytes  CRC32C of the type byte and the payload
//	type     1 byte   1 entry, 2 hard state, 3 mark, 4 truncate
//	payload  length bytes:
//	  entry:      uvarint index, uvarint term, data (the rest)
//	  hard state: uvarint term, uvarint commit, uvarint vote length, vote
//	  mark:       uvarint index, uvarint term, 1 byte reset flag
//	  truncate:   uvarint index (entries at and above it are discarded)
//
// A mark records a compaction or snapshot: entries at or below its index are
// gone, and its term is the term of that last compacted entry (Raft's log
// matching needs it). A mark with the reset flag discards the whole log
// (installing a snapshot from a leader). Every mark is followed by the
// current hard state, and every new segment begins with the hard state and
// the mark, so deleting old segments never loses either.
//
// A snapshot file is the magic "DKSN", the version byte, the index (8),
// term (8), a metadata length (4) and the metadata, then the data, then a
// trailer: the data length (8) and a CRC32C of everything before the
// checksum (4). It is written as NAME.snap.tmp, fsynced, renamed to
// NAME.snap, and the directory fsynced; leftover .tmp files are removed by
// OpenSnapshots.
//
// # Backup and restore
//
// To back up, copy the snapshot files first, then the segment files in
// sequence order, while the WAL is closed or from a file-system snapshot.
// Copied from a live WAL, the last segment may end in a torn record, which
// Open cuts off as after a crash: the backup is then consistent up to its
// last whole record. To restore, put the files in an empty directory and
// Open it. Do not rename segments or mix files from two WALs: recovery
// checks sequence numbers and index continuity and refuses such a directory.
//
// # Concurrency
//
// A WAL and a SnapshotStore are safe for concurrent use. Reads (Entries,
// Term, HardState) see every batch once it is written. Close waits for an
// ongoing flush, fsyncs, and is idempotent.
//
// # Performance
//
// With 256-byte entries and an fsync per append, Save costs about the same
// as writing the same framing to a plain file and fsyncing it by hand
// (bench/ BenchmarkWALAppend); with 64 concurrent appenders one fsync carries
// tens of entries. Recovery reads and checks about 1 GiB of log in well under
// a second of CPU. Entry data is read from the files on demand; only a
// 32-byte position per entry is kept in memory.
package wal
