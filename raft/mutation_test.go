package raft

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// failTB records the first failure of a seeded history and stops it.
type failTB struct{ msg string }

type stopHistory struct{}

func (f *failTB) Helper() {}

func (f *failTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(stopHistory{})
}

// runCatching runs one seeded history and returns its failure, or "".
func runCatching(seed uint64, steps int, mut mutation, narrow bool) (msg string) {
	f := &failTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopHistory); !ok {
				panic(r)
			}
			msg = f.msg
		}
	}()
	runSeeded(f, seed, steps, mut, narrow, false)
	return ""
}

// TestMutationsCaught proves the generated histories have teeth: each
// deliberately broken variant of the core must be caught within a bounded
// number of seeds.
func TestMutationsCaught(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mut    mutation
		narrow bool
		steps  int
	}{
		{"commit-old-term-entry", mutCommitOldTerm, true, 600},
		{"grant-two-votes-in-a-term", mutDoubleVote, true, 600},
		{"skip-log-up-to-date-check", mutSkipUpToDate, true, 600},
		{"read-without-quorum", mutReadWithoutQuorum, true, 600},
		{"two-pending-conf-changes", mutConfNoWait, false, 300},
		{"joint-consensus-one-majority", mutJointOneMajority, false, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Long histories, mostly in the narrow profile: a broken rule
			// needs a chain of leader changes over divergent logs to show.
			for seed := uint64(1); seed <= 5000; seed++ {
				if msg := runCatching(seed, tc.steps, tc.mut, tc.narrow); msg != "" {
					t.Logf("caught at seed %d: %s", seed, msg)
					return
				}
			}
			t.Fatalf("mutation %s survived 5000 seeded histories", tc.name)
		})
	}
}

// TestSeededHistoriesPass runs the seeded driver on the real core, in both
// profiles and with 300 to 600 steps: DISTKIT_RAFT_SEEDS seeds (default
// 100, 20 under the race detector). Each seed replays exactly.
func TestSeededHistoriesPass(t *testing.T) {
	n := 100
	if raceEnabled {
		n = 20
	}
	if v, err := strconv.Atoi(os.Getenv("DISTKIT_RAFT_SEEDS")); err == nil && v > 0 {
		n = v
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		for _, narrow := range []bool{false, true} {
			steps := 300 + int(seed%3)*150
			require.Empty(t, runCatching(seed, steps, mutNone, narrow), "seed %d, narrow %v, %d steps", seed, narrow, steps)
		}
	}
}

// TestDeterminism runs the same seeded histories twice and requires
// byte-identical traces: every send, delivery, proposal and apply.
func TestDeterminism(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a := runSeeded(t, seed, 300, mutNone, false, true).trace.String()
		b := runSeeded(t, seed, 300, mutNone, false, true).trace.String()
		require.NotEmpty(t, a)
		require.Equal(t, a, b, "seed %d", seed)
	}
}
