package importcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
)

// Module is distkit's module path.
const Module = "github.com/distkit/distkit"

// Package is the part of `go list -json` output the rules read.
type Package struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// leafAllowed lists the leaf packages and the sibling each may import.
var leafAllowed = map[string][]string{
	"vclock":   nil,
	"crdt":     {"vclock"},
	"hashring": nil,
	"balancer": {"hashring"},
	"breaker":  nil,
	"retry":    nil,
	"detector": nil,
}

// protocols lists the packages whose cores must be pure.
var protocols = []string{"raft", "pbft", "gossip"}

// concreteTransports are the transports protocols must not import.
var concreteTransports = []string{"transport/memnet", "transport/tcpnet"}

// rel returns the path of p relative to the module ("raft/wal"), or "" for
// the module root, and whether p is inside the module at all.
func rel(p string) (string, bool) {
	if p == Module {
		return "", true
	}
	r, ok := strings.CutPrefix(p, Module+"/")
	return r, ok
}

// within reports whether package path r is top or one of its subpackages.
func within(r, top string) bool {
	return r == top || strings.HasPrefix(r, top+"/")
}

// isNet reports whether an import path belongs to the standard net family.
func isNet(p string) bool { return p == "net" || strings.HasPrefix(p, "net/") }

// topOf returns the leaf or protocol package that r belongs to, if any.
func topOf(r string, tops []string) (string, bool) {
	for _, t := range tops {
		if within(r, t) {
			return t, true
		}
	}
	return "", false
}

func leafNames() []string {
	names := make([]string, 0, len(leafAllowed))
	for n := range leafAllowed {
		names = append(names, n)
	}
	return names
}

// CheckLeaf returns the leaf rule violations of p, or nil if p is not a leaf
// package or breaks no rule.
func CheckLeaf(p Package) []string {
	r, ok := rel(p.ImportPath)
	if !ok {
		return nil
	}
	top, ok := topOf(r, leafNames())
	if !ok {
		return nil
	}
	var bad []string
	for _, d := range p.Deps {
		// Test-support packages (crdttest) may reach net through rapid's
		// own imports; they are linked only into tests.
		if isNet(d) && !isTestSupport(r) {
			bad = append(bad, fmt.Sprintf("%s: leaf package depends on %s", p.ImportPath, d))
		}
	}
	for _, imp := range p.Imports {
		// maphash's seed differs per process, so two processes would
		// place the same key differently.
		if imp == "hash/maphash" && (top == "hashring" || top == "balancer") {
			bad = append(bad, fmt.Sprintf("%s: placement must not use hash/maphash (its seed is per process)", p.ImportPath))
		}
		ir, ok := rel(imp)
		if !ok || within(ir, top) {
			continue
		}
		allowed := false
		for _, a := range leafAllowed[top] {
			if within(ir, a) {
				allowed = true
			}
		}
		if !allowed {
			bad = append(bad, fmt.Sprintf("%s: leaf package imports sibling %s", p.ImportPath, imp))
		}
	}
	return bad
}

// isTestSupport reports whether r is a test-support package, one whose last
// path element ends in "test" (crdt/crdttest, transport/transporttest).
func isTestSupport(r string) bool {
	return strings.HasSuffix(r[strings.LastIndex(r, "/")+1:], "test")
}

// CheckProtocolImports returns violations of the rule that protocols use
// only the Transport interface.
func CheckProtocolImports(p Package) []string {
	r, ok := rel(p.ImportPath)
	if !ok {
		return nil
	}
	if _, ok := topOf(r, protocols); !ok {
		return nil
	}
	var bad []string
	for _, imp := range p.Imports {
		ir, ok := rel(imp)
		if !ok {
			continue
		}
		for _, c := range concreteTransports {
			if within(ir, c) {
				bad = append(bad, fmt.Sprintf("%s: protocol imports concrete transport %s", p.ImportPath, imp))
			}
		}
	}
	return bad
}

// IsCoreFile reports whether file (a base name) of package p must be pure.
func IsCoreFile(p Package, file string) bool {
	r, ok := rel(p.ImportPath)
	if !ok {
		return false
	}
	if within(r, "internal/sim") {
		return true
	}
	// Only the protocol package itself holds the core; subpackages such as
	// raft/wal are storage or tooling and may do I/O.
	isProtocol := false
	for _, t := range protocols {
		if r == t {
			isProtocol = true
		}
	}
	if !isProtocol {
		return false
	}
	return file != "node.go" && !strings.HasPrefix(file, "node_")
}

// forbiddenImports may not appear in a core file.
var forbiddenImports = map[string]string{
	"os":          "the file system and environment",
	"crypto/rand": "a global random source",
	"math/rand":   "a global random source",
}

// forbiddenTime are the time functions that read or wait on the clock.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true,
}

// allowedRandV2 are the math/rand/v2 functions that build a seeded source
// rather than draw from the global one.
var allowedRandV2 = map[string]bool{
	"New": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true,
}

// CheckCoreSource returns the purity violations in one core file's source.
func CheckCoreSource(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var bad []string
	local := map[string]string{} // local name -> import path, for time and math/rand/v2
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		if why, ok := forbiddenImports[path]; ok || isNet(path) || strings.HasPrefix(path, "os/") {
			if !ok {
				why = "I/O"
			}
			bad = append(bad, fmt.Sprintf("%s: core file imports %s (%s)", fset.Position(imp.Pos()), path, why))
			continue
		}
		if path == "time" || path == "math/rand/v2" {
			n := filepath.Base(path)
			if path == "math/rand/v2" {
				n = "rand"
			}
			if imp.Name != nil {
				n = imp.Name.Name
			}
			local[n] = path
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		switch local[id.Name] {
		case "time":
			if forbiddenTime[sel.Sel.Name] {
				bad = append(bad, fmt.Sprintf("%s: core file reads the clock with time.%s", fset.Position(sel.Pos()), sel.Sel.Name))
			}
		case "math/rand/v2":
			if ast.IsExported(sel.Sel.Name) && !allowedRandV2[sel.Sel.Name] && !isRandType(sel.Sel.Name) {
				bad = append(bad, fmt.Sprintf("%s: core file draws from the global source with rand.%s", fset.Position(sel.Pos()), sel.Sel.Name))
			}
		}
		return true
	})
	return bad, nil
}

// isRandType reports whether name is a math/rand/v2 type, which a core may
// name (a *rand.Rand field) without touching the global source.
func isRandType(name string) bool {
	switch name {
	case "Rand", "Source", "PCG", "ChaCha8", "Zipf":
		return true
	}
	return false
}
