package hashring

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNoNodes is returned by a lookup on a structure with no nodes.
	ErrNoNodes = errors.New("hashring: no nodes")
	// ErrAllFull is returned by Bounded.Acquire when every node is at its
	// load bound, so the key cannot be placed without exceeding it.
	ErrAllFull = errors.New("hashring: all nodes at load bound")
	// ErrInvalidNode is returned for an empty node ID or a weight that is
	// not a positive finite number.
	ErrInvalidNode = errors.New("hashring: invalid node")
	// ErrInvalidConfig is returned by Config.Validate and New for a
	// configuration that cannot be used.
	ErrInvalidConfig = errors.New("hashring: invalid config")
	// ErrUnknownNode is returned by Bounded.Release for a node that holds no
	// load.
	ErrUnknownNode = errors.New("hashring: unknown node")
)
