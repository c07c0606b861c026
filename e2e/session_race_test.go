//go:build race

package e2e

// sessionRaceEnabled reports a -race build: a few tests then avoid work
// that the race detector slows down without checking anything.
const sessionRaceEnabled = true
