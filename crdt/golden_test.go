package crdt_test

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/golden")

// TestGoldenEncodings pins the version-1 wire format: fixed states must
// encode to the bytes committed under testdata/golden, and those bytes
// must decode and re-encode unchanged. A format change needs a new
// version byte, not new golden files.
func TestGoldenEncodings(t *testing.T) {
	type codec interface {
		MarshalBinary() ([]byte, error)
		UnmarshalBinary([]byte) error
	}
	var pn = seedPN()
	cases := map[string]struct {
		state codec
		fresh func() codec
	}{
		"awset":     {seedAWSet(), func() codec { return new(awsetT) }},
		"pncounter": {pn, func() codec { return new(pnT) }},
		"ormap":     {seedNested(), func() codec { return new(nestedT) }},
		"lwwset":    {seedLWWSet(), func() codec { return new(lwwSetT) }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.state.MarshalBinary()
			require.NoError(t, err)
			path := filepath.Join("testdata", "golden", name+".hex")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644))
			}
			text, err := os.ReadFile(path)
			require.NoError(t, err)
			want, err := hex.DecodeString(strings.TrimSpace(string(text)))
			require.NoError(t, err)
			require.Equal(t, want, got)
			x := c.fresh()
			require.NoError(t, x.UnmarshalBinary(want))
			again, err := x.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, want, again)
		})
	}
}
