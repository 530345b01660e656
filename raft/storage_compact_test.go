package raft

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
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

// TestMemoryStorageCompactConcurrentReaders runs Compact from two
// goroutines (so that one compacts between the other's capacity check and
// its copy) while the log grows and readers check that every view is
// whole: the entries from FirstIndex to LastIndex are contiguous with the
// terms they were written with, and the term before FirstIndex is kept.
func TestMemoryStorageCompactConcurrentReaders(t *testing.T) {
	term := func(i uint64) uint64 { return i/7 + 1 }
	s := NewMemoryStorage()
	const last = 12000
	cs := ConfState{Voters: []NodeID{"a"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var appended atomic.Uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := uint64(1); i <= last; i++ {
			if err := s.Append([]Entry{{Index: i, Term: term(i)}}); err != nil {
				t.Errorf("append %d: %v", i, err)
				return
			}
			appended.Store(i)
			if i%50 == 0 {
				if err := s.CreateSnapshot(i-10, cs, nil); err != nil {
					t.Errorf("snapshot %d: %v", i-10, err)
					return
				}
			}
		}
	}()
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(0); ; k++ {
				select {
				case <-done:
					return
				default:
				}
				snap, err := s.Snapshot()
				if err != nil {
					t.Errorf("snapshot: %v", err)
					return
				}
				i := snap.Meta.Index
				if i == 0 {
					continue
				}
				// Each goroutine compacts to a different point of the snapshot.
				i -= (k + uint64(g)) % min(i, 20)
				if err := s.Compact(i); err != nil && !errors.Is(err, ErrCompacted) {
					t.Errorf("compact %d: %v", i, err)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				fi, err := s.FirstIndex()
				if err != nil {
					t.Errorf("first index: %v", err)
					return
				}
				ents, err := s.Entries(fi, appended.Load()+1, math.MaxUint64)
				if errors.Is(err, ErrCompacted) || fi > appended.Load() {
					continue // compacted meanwhile, or nothing to read yet
				}
				if err != nil {
					t.Errorf("entries from %d: %v", fi, err)
					return
				}
				for j, e := range ents {
					if e.Index != fi+uint64(j) || e.Term != term(e.Index) {
						t.Errorf("entry %d of a read from %d is %+v", j, fi, e)
						return
					}
				}
				if fi > 1 {
					tm, err := s.Term(fi - 1)
					if err == nil && tm != term(fi-1) {
						t.Errorf("term of %d is %d, want %d", fi-1, tm, term(fi-1))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	fi, err := s.FirstIndex()
	require.NoError(t, err)
	li, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(last), li)
	ents, err := s.Entries(fi, li+1, math.MaxUint64)
	require.NoError(t, err)
	require.Len(t, ents, int(li-fi+1))
}
