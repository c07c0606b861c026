package mdns

import (
	stdlog "log"
	"log/slog"
	"strings"
	"testing"
)

// TestRouteStdLog: a standard log line (zeroconf's) reaches the given
// logger as a warning, without the standard logger's timestamp, and not
// below the logger's level. The standard logger is restored afterwards.
func TestRouteStdLog(t *testing.T) {
	w, flags := stdlog.Writer(), stdlog.Flags()
	t.Cleanup(func() { stdlog.SetOutput(w); stdlog.SetFlags(flags) })
	var buf strings.Builder
	RouteStdLog(slog.New(slog.NewTextHandler(&buf, nil)))
	stdlog.Printf("[zeroconf] no suitable IPv6 interface: %s", "x")
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="[zeroconf] no suitable IPv6 interface: x"`) ||
		!strings.Contains(out, "via=stdlog") || strings.Count(out, "\n") != 1 {
		t.Fatalf("log = %q", out)
	}

	buf.Reset()
	RouteStdLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})))
	stdlog.Print("quiet")
	if buf.Len() != 0 {
		t.Fatalf("a warning passed an error-level logger: %q", buf.String())
	}
}
