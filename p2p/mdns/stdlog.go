package mdns

import (
	"context"
	stdlog "log"
	"log/slog"
	"strings"
	"time"
)

// RouteStdLog sends the output of the standard log package to l, each line
// as a warning with via=stdlog, and drops the standard logger's prefix
// flags. zeroconf, under go-libp2p's mDNS service, reports its failures (a
// send on an interface without an address, no IPv6) with the standard
// logger, which writes to stderr: stray lines there would corrupt a
// terminal UI or a machine-read stream. The standard logger is
// process-wide, so this package never calls RouteStdLog itself: a program
// calls it once, before it starts a [Discovery], with the logger it wants
// those lines in.
func RouteStdLog(l *slog.Logger) {
	stdlog.SetFlags(0)
	stdlog.SetOutput(stdLogWriter{h: l.Handler()})
}

// stdLogWriter turns each standard log line into a warning record for h.
type stdLogWriter struct{ h slog.Handler }

func (w stdLogWriter) Write(b []byte) (int, error) {
	ctx := context.Background()
	if w.h.Enabled(ctx, slog.LevelWarn) {
		r := slog.NewRecord(time.Now(), slog.LevelWarn, strings.TrimSpace(string(b)), 0)
		r.AddAttrs(slog.String("via", "stdlog"))
		_ = w.h.Handle(ctx, r)
	}
	return len(b), nil
}
