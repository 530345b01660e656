package balancer

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNoEndpoints is returned by Pick when the balancer has no endpoints.
	ErrNoEndpoints = errors.New("balancer: no endpoints")
	// ErrAllDown is returned by Pick when every endpoint is marked down.
	ErrAllDown = errors.New("balancer: all endpoints down")
	// ErrUnknownEndpoint is returned by SetHealthy for a name that is not
	// an endpoint.
	ErrUnknownEndpoint = errors.New("balancer: unknown endpoint")
	// ErrInvalidConfig is returned by Config.Validate, New and
	// SetEndpoints for settings or endpoints that cannot be used.
	ErrInvalidConfig = errors.New("balancer: invalid config")
	// ErrOverloaded is returned by Pick under ConsistentHash when every
	// healthy endpoint is at its MaxOutstanding cap.
	ErrOverloaded = errors.New("balancer: all endpoints at capacity")
)
