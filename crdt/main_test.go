package crdt_test

import (
	"flag"
	"os"
	"testing"
)

// checksSet records whether -rapid.checks was given explicitly.
var checksSet bool

// clusterChecks is how many cases TestCluster runs. A cluster case runs
// dozens of steps, each checking invariants on every replica, so it runs
// fewer cases than the laws whatever -rapid.checks says.
var clusterChecks = flag.Int("crdt.clusterchecks", 200, "cases per TestCluster subtest")

// TestMain raises rapid's default number of cases to 1,000 per property,
// so that `go test ./crdt/...` checks every law on at least 1,000
// generated histories. An explicit -rapid.checks (CI passes 10,000) wins,
// except in TestCluster (see -crdt.clusterchecks).
func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { checksSet = checksSet || f.Name == "rapid.checks" })
	if !checksSet {
		if err := flag.Set("rapid.checks", "1000"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
