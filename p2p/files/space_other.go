//go:build !unix

package files

import "math"

// FreeSpace is not measured on this system: it reports no limit, and a
// full disk shows as a failed write instead.
func FreeSpace(dir string) (uint64, error) { return math.MaxUint64, nil }

// noFollow is not available here.
const noFollow = 0

func isQuota(error) bool { return false }
