//go:build !race

package p2p

// raceEnabled reports whether the race detector is on; slow tests run
// fewer iterations under it.
const raceEnabled = false
