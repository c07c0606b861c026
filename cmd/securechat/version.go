package main

import (
	"runtime/debug"
	"strings"
)

// version describes the build: the module version (set by go install
// module@version, else "devel"), then the VCS revision, whether the tree had
// uncommitted changes, the commit time and the Go version, as far as the
// build info records them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel (no build information)"
	}
	return formatVersion(bi)
}

// formatVersion is version for a given build info, so tests can give it one
// with VCS settings.
func formatVersion(bi *debug.BuildInfo) string {
	v := "devel"
	if m := bi.Main.Version; m != "" && m != "(devel)" {
		v = m
	}
	var rev, modified, at string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	var parts []string
	if rev != "" {
		r := "revision " + rev
		if modified == "true" {
			r += " (modified)"
		}
		parts = append(parts, r)
	}
	if at != "" {
		parts = append(parts, "committed "+at)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) == 0 {
		return v
	}
	return v + " (" + strings.Join(parts, ", ") + ")"
}
