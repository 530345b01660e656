//go:build !linux

package hashring

import "time"

func threadCPUNow() (time.Duration, bool) { return 0, false }
