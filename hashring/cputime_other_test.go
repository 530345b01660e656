//go:build !unix

package hashring

import (
	"testing"
	"time"
)

func cpuNow() time.Duration                                       { return 0 }
func reportCPU(b *testing.B, start time.Duration, iterations int) {}
