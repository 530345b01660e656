package vclock

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the typed errors of
// this package (OffsetError) unwrap to one of them.
var (
	// ErrCorrupt is wrapped by every error a decoder returns: the input is
	// truncated, has an unknown version byte, or is not the canonical
	// encoding of any value.
	ErrCorrupt = errors.New("vclock: corrupt encoding")

	// ErrClockOffset is wrapped by OffsetError, returned when a remote
	// hybrid logical timestamp is further ahead of the local physical clock
	// than the configured maximum offset.
	ErrClockOffset = errors.New("vclock: remote clock beyond maximum offset")

	// ErrInvalidConfig is wrapped by the error Config.Validate returns.
	ErrInvalidConfig = errors.New("vclock: invalid config")

	// ErrOutOfRange is returned when a value does not fit the packed 64-bit
	// timestamp layout.
	ErrOutOfRange = errors.New("vclock: value out of range")
)
