package importcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// listModule runs `go list -deps`-style listing over the whole module and
// returns its own packages.
func listModule(t *testing.T) []Package {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	dir := filepath.Dir(string(bytes.TrimSpace(root)))
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Dir,GoFiles,Imports,Deps", "./...")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		if _, ok := rel(p.ImportPath); ok {
			pkgs = append(pkgs, p)
		}
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

// TestModuleFollowsImportRules checks every package of the module against
// the rules. Packages that do not exist yet are simply not listed.
func TestModuleFollowsImportRules(t *testing.T) {
	var bad []string
	for _, p := range listModule(t) {
		bad = append(bad, CheckLeaf(p)...)
		bad = append(bad, CheckProtocolImports(p)...)
		for _, f := range p.GoFiles {
			if !IsCoreFile(p, f) {
				continue
			}
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			require.NoError(t, err)
			v, err := CheckCoreSource(filepath.Join(p.Dir, f), src)
			require.NoError(t, err)
			bad = append(bad, v...)
		}
	}
	require.Empty(t, bad, "import rule violations")
}
