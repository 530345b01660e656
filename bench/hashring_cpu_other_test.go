//go:build !unix

package bench

import (
	"testing"
	"time"
)

func hashringCPUNow() time.Duration                                       { return 0 }
func hashringReportCPU(b *testing.B, start time.Duration, iterations int) {}
