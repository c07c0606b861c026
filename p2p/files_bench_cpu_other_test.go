//go:build !unix

package p2p

import "time"

// cpuNow returns 0: the process's CPU time is read on Unix only.
func cpuNow() time.Duration { return 0 }
