package main

import (
	"encoding/binary"
	"errors"

	"github.com/distkit/distkit/crdt"
)

// cart is the replicated state of one shopping cart: item quantities (an
// OR-map of PN-counters, so removing an item resets its count) and tags (an
// add-wins set). It is the unit the delta buffer ships: a local change
// yields a cart holding just that change's delta.
type cart struct {
	items crdt.ORMap[string, *crdt.PNCounter]
	tags  crdt.AWSet[string]
}

func (c *cart) Merge(o *cart) {
	c.items.Merge(&o.items)
	c.tags.Merge(&o.tags)
}

func (c *cart) Clone() *cart {
	return &cart{items: *c.items.Clone(), tags: *c.tags.Clone()}
}

// MarshalBinary writes the two encodings, each behind its length.
func (c *cart) MarshalBinary() ([]byte, error) {
	items, err := c.items.MarshalBinary()
	if err != nil {
		return nil, err
	}
	tags, err := c.tags.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, uint64(len(items)))
	b = append(b, items...)
	return append(b, tags...), nil
}

var errBadCart = errors.New("crdtservice: bad cart encoding")

func (c *cart) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return errBadCart
	}
	var out cart
	if err := out.items.UnmarshalBinary(b[k : k+int(n)]); err != nil {
		return err
	}
	if err := out.tags.UnmarshalBinary(b[k+int(n):]); err != nil {
		return err
	}
	*c = out
	return nil
}

// view is the cart as the HTTP API shows it.
type view struct {
	Items map[string]int64 `json:"items"`
	Tags  []string         `json:"tags"`
}

func (c *cart) view() view {
	v := view{Items: map[string]int64{}, Tags: []string{}}
	for k, n := range c.items.All() {
		v.Items[k] = n.Value()
	}
	for t := range c.tags.All() {
		v.Tags = append(v.Tags, t)
	}
	return v
}

// Messages between instances: a kind byte, a sequence number, then for
// data the encoded cart (a delta interval or the full state).
const (
	msgData byte = 1
	msgAck  byte = 2
)

func encodeMsg(kind byte, seq uint64, payload []byte) []byte {
	b := binary.AppendUvarint([]byte{kind}, seq)
	return append(b, payload...)
}

func decodeMsg(b []byte) (kind byte, seq uint64, payload []byte, err error) {
	if len(b) < 2 || (b[0] != msgData && b[0] != msgAck) {
		return 0, 0, nil, errBadCart
	}
	seq, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return 0, 0, nil, errBadCart
	}
	return b[0], seq, b[1+k:], nil
}
