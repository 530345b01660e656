package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryStorageCompactBeyondTruncatedLog checks that compacting to a
// snapshot index whose entry a later Append cut away is an error, not a
// panic.
func TestMemoryStorageCompactBeyondTruncatedLog(t *testing.T) {
	s := NewMemoryStorage()
	ents := make([]Entry, 10)
	for i := range ents {
		ents[i] = Entry{Index: uint64(i + 1), Term: 1}
	}
	require.NoError(t, s.Append(ents))
	require.NoError(t, s.CreateSnapshot(8, ConfState{Voters: []NodeID{"a"}}, []byte("state")))
	// A new leader replaces the log from index 5 with a shorter suffix.
	require.NoError(t, s.Append([]Entry{{Index: 5, Term: 2}}))
	err := s.Compact(8)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrUnavailable), "got %v", err)
	require.NoError(t, s.Compact(5))
}
