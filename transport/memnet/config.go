package memnet

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/distkit/distkit/transport"
)

// Defaults for zero Config and Link fields.
const (
	// DefaultQueueSize is the capacity of a node's inbound queue (its Recv
	// channel) when Config.QueueSize is zero.
	DefaultQueueSize = 1024
	// DefaultReorderDelay bounds the extra hold-back of a reordered message
	// when Link.ReorderDelay is zero.
	DefaultReorderDelay = 10 * time.Millisecond
)

// Errors returned by memnet besides the transport sentinels.
var (
	// ErrDuplicateNode is returned by Join for an ID that already has an
	// open Endpoint on the network.
	ErrDuplicateNode = errors.New("memnet: duplicate node")
	// ErrInvalidConfig is wrapped by Validate, New and SetLink for a
	// configuration outside its documented range.
	ErrInvalidConfig = errors.New("memnet: invalid config")
)

// Config configures a Network. The zero value is a valid, fault-free
// network: no loss, no duplication, no latency, messages delivered
// synchronously in Send order.
type Config struct {
	// Seed seeds every random fault decision. Two networks with the same
	// Seed, the same link settings and the same Send sequence on each link
	// make the same decisions (see the package documentation for the exact
	// guarantee). Zero is a seed like any other.
	Seed uint64
	// QueueSize is the capacity of each node's inbound queue, which is the
	// buffer of its Recv channel. A message arriving at a full queue is
	// dropped and counted as LinkStats.DroppedOverflow. Zero means
	// DefaultQueueSize. Must not be negative.
	QueueSize int
	// MaxPayload is the largest payload Send accepts, in bytes; larger ones
	// fail with transport.ErrTooLarge. Zero means
	// transport.DefaultMaxPayload. Must not be negative.
	MaxPayload int
	// Link is the fault model of every directed link that has no override
	// set with Network.SetLink, including a node's link to itself. The zero
	// Link is a perfect link.
	Link Link
	// Logger receives fault changes (partitions, crashes) at Info and
	// individual drops at Debug. Nil means silent.
	Logger *slog.Logger
}

// Link is the fault model of one directed link. Every probability is in
// [0, 1]; every duration is non-negative. The zero Link delivers every
// message once, immediately.
type Link struct {
	// Loss is the probability that a message is dropped.
	Loss float64
	// Duplicate is the probability that a message that was not lost is
	// delivered twice. Each copy has its own payload slice and its own
	// delay, so a duplicate may arrive before the original.
	Duplicate float64
	// Latency is the fixed part of every copy's delay.
	Latency time.Duration
	// Jitter adds a delay drawn uniformly from [0, Jitter) to each copy.
	// Copies whose delays differ may arrive out of Send order.
	Jitter time.Duration
	// Reorder is the probability that a copy is held back by an extra
	// delay drawn uniformly from [0, ReorderDelay), so that messages sent
	// after it overtake it.
	Reorder float64
	// ReorderDelay bounds the extra delay of a reordered copy. Zero means
	// DefaultReorderDelay.
	ReorderDelay time.Duration
}

// Validate reports whether l is within range. It does not modify l.
func (l Link) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", l.Loss}, {"Duplicate", l.Duplicate}, {"Reorder", l.Reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("%w: Link.%s = %v, want a probability in [0, 1]", ErrInvalidConfig, p.name, p.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Latency", l.Latency}, {"Jitter", l.Jitter}, {"ReorderDelay", l.ReorderDelay}} {
		if d.v < 0 {
			return fmt.Errorf("%w: Link.%s = %v, want >= 0", ErrInvalidConfig, d.name, d.v)
		}
	}
	return nil
}

func (l Link) reorderDelay() time.Duration {
	if l.ReorderDelay == 0 {
		return DefaultReorderDelay
	}
	return l.ReorderDelay
}

// Validate reports whether c is within range. It does not modify c.
func (c Config) Validate() error {
	if c.QueueSize < 0 {
		return fmt.Errorf("%w: QueueSize = %d, want >= 0", ErrInvalidConfig, c.QueueSize)
	}
	if c.MaxPayload < 0 {
		return fmt.Errorf("%w: MaxPayload = %d, want >= 0", ErrInvalidConfig, c.MaxPayload)
	}
	return c.Link.Validate()
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = transport.DefaultMaxPayload
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
