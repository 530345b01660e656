package hashring

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Node is a member of a placement structure: an ID (a host name, an
// address, a shard name) and a relative weight. A node with weight 2 owns
// about twice the keys of a node with weight 1. Weight 0 means 1.
type Node struct {
	ID     string
	Weight float64
}

// weightOf returns the effective weight of n.
func weightOf(w float64) float64 {
	if w == 0 {
		return 1
	}
	return w
}

// checkNode reports whether id and w can be placed.
func checkNode(id string, w float64) error {
	if id == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidNode)
	}
	if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return fmt.Errorf("%w: %q has weight %v, want a positive finite number", ErrInvalidNode, id, w)
	}
	return nil
}

// normalizeNodes validates nodes and returns a copy sorted by ID with
// weights made explicit. Sorting by ID is what makes every structure in the
// package independent of the order nodes were added in.
func normalizeNodes(nodes []Node) ([]Node, error) {
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		if err := checkNode(n.ID, n.Weight); err != nil {
			return nil, err
		}
		out[i] = Node{ID: n.ID, Weight: weightOf(n.Weight)}
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(out); i++ {
		if out[i].ID == out[i-1].ID {
			return nil, fmt.Errorf("%w: duplicate ID %q", ErrInvalidNode, out[i].ID)
		}
	}
	return out, nil
}

// withNode returns a copy of the sorted nodes with n inserted or, if its ID
// is present, its weight replaced. It also returns n's index and whether the
// ID was already there.
func withNode(nodes []Node, n Node) ([]Node, int, bool) {
	i, found := slices.BinarySearchFunc(nodes, n.ID, func(a Node, id string) int { return cmp.Compare(a.ID, id) })
	out := make([]Node, 0, len(nodes)+1)
	out = append(out, nodes[:i]...)
	out = append(out, n)
	if found {
		out = append(out, nodes[i+1:]...)
	} else {
		out = append(out, nodes[i:]...)
	}
	return out, i, found
}

// withoutNode returns a copy of the sorted nodes without id, id's former
// index, and whether it was present.
func withoutNode(nodes []Node, id string) ([]Node, int, bool) {
	i, found := slices.BinarySearchFunc(nodes, id, func(a Node, id string) int { return cmp.Compare(a.ID, id) })
	if !found {
		return nodes, -1, false
	}
	out := make([]Node, 0, len(nodes)-1)
	out = append(out, nodes[:i]...)
	out = append(out, nodes[i+1:]...)
	return out, i, true
}
