package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestRunExchangesEchoes(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	err := run(context.Background(), &out, options{Nodes: 3, Rounds: 2, Timeout: 30 * time.Second})
	require.NoError(t, err)
	text := out.String()
	for i := 1; i <= 3; i++ {
		for j := 1; j <= 3; j++ {
			if i == j {
				continue
			}
			for r := 1; r <= 2; r++ {
				require.Contains(t, text, fmt.Sprintf("node-%d <- node-%d: ping %d from node-%d\n", j, i, r, i))
				require.Contains(t, text, fmt.Sprintf("node-%d <- node-%d: echo %d from node-%d\n", i, j, r, i))
			}
		}
	}
	require.Contains(t, text, "all 12 echoes received\n")
	require.Equal(t, 3+12+12+1, strings.Count(text, "\n"))
}

func TestRunStopsWhenCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, &bytes.Buffer{}, options{Nodes: 2, Rounds: 1, Timeout: time.Minute})
	require.ErrorIs(t, err, context.Canceled)
}

func TestLoadTLS(t *testing.T) {
	_, err := loadTLS(filepath.Join(t.TempDir(), "missing.pem"), "key.pem", "ca.pem")
	require.Error(t, err)
}
