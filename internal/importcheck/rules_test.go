package importcheck

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckLeaf(t *testing.T) {
	tests := []struct {
		name string
		pkg  Package
		bad  int
	}{
		{"clean leaf", Package{ImportPath: Module + "/hashring", Deps: []string{"sync/atomic"}, Imports: []string{"github.com/cespare/xxhash/v2"}}, 0},
		{"leaf reaching net transitively", Package{ImportPath: Module + "/breaker", Deps: []string{"net/http", "sync"}}, 1},
		{"leaf importing a sibling", Package{ImportPath: Module + "/retry", Imports: []string{Module + "/breaker"}}, 1},
		{"crdt may import vclock", Package{ImportPath: Module + "/crdt", Imports: []string{Module + "/vclock"}}, 0},
		{"crdt may not import hashring", Package{ImportPath: Module + "/crdt", Imports: []string{Module + "/hashring"}}, 1},
		{"balancer may import hashring", Package{ImportPath: Module + "/balancer", Imports: []string{Module + "/hashring"}}, 0},
		{"leaf subpackage may import its parent", Package{ImportPath: Module + "/crdt/crdttest", Imports: []string{Module + "/crdt"}}, 0},
		{"a leaf's test-support package may reach net through rapid", Package{ImportPath: Module + "/crdt/crdttest", Deps: []string{"net/url"}, Imports: []string{Module + "/crdt"}}, 0},
		{"a leaf's test-support package still may not import siblings", Package{ImportPath: Module + "/crdt/crdttest", Imports: []string{Module + "/hashring"}}, 1},
		{"hashring may not place keys with maphash", Package{ImportPath: Module + "/hashring", Imports: []string{"hash/maphash"}}, 1},
		{"non-leaf is not checked", Package{ImportPath: Module + "/transport/tcpnet", Deps: []string{"net"}}, 0},
		{"outside the module is not checked", Package{ImportPath: "example.com/vclock", Deps: []string{"net"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Len(t, CheckLeaf(tt.pkg), tt.bad)
		})
	}
}

func TestCheckProtocolImports(t *testing.T) {
	require.Empty(t, CheckProtocolImports(Package{ImportPath: Module + "/raft", Imports: []string{Module + "/transport"}}))
	require.Len(t, CheckProtocolImports(Package{ImportPath: Module + "/raft", Imports: []string{Module + "/transport/memnet"}}), 1)
	require.Len(t, CheckProtocolImports(Package{ImportPath: Module + "/gossip/swim", Imports: []string{Module + "/transport/tcpnet"}}), 1)
	require.Empty(t, CheckProtocolImports(Package{ImportPath: Module + "/examples/echo", Imports: []string{Module + "/transport/tcpnet"}}))
}

func TestIsCoreFile(t *testing.T) {
	raft := Package{ImportPath: Module + "/raft"}
	require.True(t, IsCoreFile(raft, "election.go"))
	require.False(t, IsCoreFile(raft, "node.go"))
	require.False(t, IsCoreFile(raft, "node_propose.go"))
	require.False(t, IsCoreFile(Package{ImportPath: Module + "/raft/wal"}, "wal.go"))
	require.True(t, IsCoreFile(Package{ImportPath: Module + "/internal/sim"}, "sim.go"))
	require.False(t, IsCoreFile(Package{ImportPath: Module + "/breaker"}, "breaker.go"))
}

func TestCheckCoreSource(t *testing.T) {
	tests := []struct {
		name string
		src  string
		bad  int
	}{
		{"pure", `package raft
import "math/rand/v2"
type core struct{ rng *rand.Rand }
func newCore(seed uint64) *core { return &core{rng: rand.New(rand.NewPCG(seed, 1))} }
func (c *core) draw() int { return c.rng.IntN(10) }`, 0},
		{"durations are fine", `package raft
import "time"
const electionTimeout = 10 * time.Millisecond
func f(d time.Duration) time.Duration { return d }`, 0},
		{"clock", `package raft
import "time"
func f() int64 { return time.Now().UnixNano() }`, 1},
		{"renamed clock import", `package raft
import tm "time"
func f() { tm.Sleep(1) }`, 1},
		{"global rand v2", `package raft
import "math/rand/v2"
func f() int { return rand.IntN(3) }`, 1},
		{"math/rand v1", `package raft
import "math/rand"
var _ = rand.New`, 1},
		{"crypto/rand", `package raft
import "crypto/rand"
var _ = rand.Reader`, 1},
		{"os", `package raft
import "os"
var _ = os.Args`, 1},
		{"net", `package raft
import "net/netip"
var _ netip.Addr`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, err := CheckCoreSource("f.go", []byte(tt.src))
			require.NoError(t, err)
			require.Len(t, bad, tt.bad, "%v", bad)
		})
	}
}
