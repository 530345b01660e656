package hashring

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImports enforces the leaf-package rule: no networking and no sibling
// distkit package in non-test code.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		ast, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			require.False(t, path == "net" || strings.HasPrefix(path, "net/"), "%s imports %s", f, path)
			require.False(t, strings.HasPrefix(path, "github.com/distkit/distkit/"), "%s imports %s", f, path)
			require.NotEqual(t, "hash/maphash", path, "%s: placements need a fixed seed", f)
		}
	}
}
