package files

import (
	"errors"
	"strconv"
	"strings"
)

// errSize is ParseSize's one error.
var errSize = errors.New("a size is a whole number of bytes, optionally with KiB, MiB or GiB (for example 4GiB)")

// ParseSize parses a size in bytes: digits, optionally followed by B, KiB,
// MiB, GiB or TiB (powers of 1024; case does not matter, and K, M, G, T,
// KB, MB, GB, TB mean the same). The result is at least 1 and fits an
// int64.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 19 {
		return 0, errSize
	}
	num, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || num <= 0 {
		return 0, errSize
	}
	var shift uint
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
	case "k", "kb", "kib":
		shift = 10
	case "m", "mb", "mib":
		shift = 20
	case "g", "gb", "gib":
		shift = 30
	case "t", "tb", "tib":
		shift = 40
	default:
		return 0, errSize
	}
	if num > (1<<63-1)>>shift {
		return 0, errSize
	}
	return num << shift, nil
}
