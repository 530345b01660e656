package crdt

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is.
var (
	// ErrCorrupt is wrapped by every error a decoder returns: the input is
	// truncated, has an unknown version or type byte, or is not the
	// canonical encoding of any state.
	ErrCorrupt = errors.New("crdt: corrupt encoding")

	// ErrInsufficientRights is returned by BoundedCounter when a replica
	// tries to decrement or transfer more than the rights it holds.
	ErrInsufficientRights = errors.New("crdt: insufficient rights")

	// ErrUnsupportedType is returned when encoding a value whose element
	// type has no codec: it is none of the built-in scalar types and does
	// not implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler.
	ErrUnsupportedType = errors.New("crdt: element type has no binary codec")

	// ErrLiveDots is returned by ForgetReplica when the state still holds
	// dots of the replica to forget: prune them first.
	ErrLiveDots = errors.New("crdt: replica still has live dots")

	// ErrInvalidConfig is wrapped by DeltaBufferConfig.Validate.
	ErrInvalidConfig = errors.New("crdt: invalid config")
)

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
