package balancer

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

// TestImports enforces the leaf-package rule: no networking, and no distkit
// package other than hashring, in non-test code.
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
			if strings.HasPrefix(path, "github.com/distkit/distkit/") {
				require.Equal(t, "github.com/distkit/distkit/hashring", path, "%s", f)
			}
		}
	}
}
