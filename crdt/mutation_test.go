package crdt_test

import (
	"flag"
	"fmt"
	"sync"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/crdt/crdttest"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// recorder is a rapid.TB that records failure instead of failing the test,
// so that a test can require the law suite to fail.
type recorder struct {
	mu     sync.Mutex
	failed bool
	msg    string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return "mutation" }
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Log(...any)                {}
func (r *recorder) Skipf(string, ...any)      {}
func (r *recorder) Skip(...any)               {}
func (r *recorder) SkipNow()                  {}
func (r *recorder) Errorf(f string, a ...any) { r.fail(fmt.Sprintf(f, a...)) }
func (r *recorder) Error(a ...any)            { r.fail(fmt.Sprint(a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.fail(fmt.Sprintf(f, a...)) }
func (r *recorder) Fatal(a ...any)            { r.fail(fmt.Sprint(a...)) }
func (r *recorder) FailNow()                  { r.fail("FailNow") }
func (r *recorder) Fail()                     { r.fail("Fail") }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failed {
		r.failed, r.msg = true, msg
	}
}

// setFlag sets a flag for the duration of a test.
func setFlag(t *testing.T, name, value string) {
	old := flag.Lookup(name).Value.String()
	require.NoError(t, flag.Set(name, value))
	t.Cleanup(func() { _ = flag.Set(name, old) })
}

// TestMutationsAreCaught breaks the join in each of the ways the issue
// names and requires the law suite to notice, within the normal case
// budget, on the causal types.
func TestMutationsAreCaught(t *testing.T) {
	setFlag(t, "rapid.nofailfile", "true")
	setFlag(t, "rapid.shrinktime", "50ms")
	for name, m := range crdt.Mutations {
		t.Run(name, func(t *testing.T) {
			restore := crdt.SetMutation(m)
			defer restore()
			for typ, run := range map[string]func(rapid.TB){
				"AWSet":             func(tb rapid.TB) { crdttest.Laws(tb, awsetSpec()) },
				"ORMap/ORMap/AWSet": func(tb rapid.TB) { crdttest.Laws(tb, nestedSpec()) },
			} {
				var r recorder
				run(&r)
				require.True(t, r.Failed(), "the law suite passed %s with the join broken (%s)", typ, name)
				t.Logf("%s: caught: %.200s", typ, r.msg)
			}
		})
	}
}
