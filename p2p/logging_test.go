package p2p

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/gologshim"
)

// TestLibp2pLogsRouted: go-libp2p's loggers write to the node's logger (at
// warning level and up), and to nothing once no node has a logger.
//
// Not parallel: it points the process-wide forwarding handler at its own
// logger for a moment.
func TestLibp2pLogsRouted(t *testing.T) {
	var buf bytes.Buffer
	owner := new(int)
	libp2pLogs.root.set(owner, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log := gologshim.Logger("securechat-test").With("k", "v").WithGroup("g")
	log.Info("quiet")
	log.Warn("loud", "x", 1)
	libp2pLogs.root.clear(owner)
	log.Error("after clear")
	out := buf.String()
	if !strings.Contains(out, "loud") || !strings.Contains(out, "logger=securechat-test") ||
		!strings.Contains(out, "k=v") || !strings.Contains(out, "g.x=1") || !strings.Contains(out, "component=libp2p") {
		t.Errorf("warning not routed with its attributes: %q", out)
	}
	if strings.Contains(out, "quiet") || strings.Contains(out, "after clear") {
		t.Errorf("unwanted records routed: %q", out)
	}
}

// TestRouteLibraryLogs: TestMain called RouteLibraryLogs, as a program
// does; it installed the forwarding handler as gologshim's default and
// silenced quic-go's buffer warning, and calling it again changes nothing.
//
// Not parallel: it checks that no node logger is set, and parallel tests
// start nodes with loggers.
func TestRouteLibraryLogs(t *testing.T) {
	RouteLibraryLogs()
	if v, ok := os.LookupEnv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"); !ok || v == "" {
		t.Errorf("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING = %q, %v; want it set", v, ok)
	}
	// A logger made now picks the default handler at its first use: with
	// no node logger set, Enabled is false (the record goes nowhere).
	if gologshim.Logger("securechat-route-test").Enabled(context.Background(), slog.LevelError) {
		t.Error("a libp2p logger is enabled with no node logger: not routed through the forwarding handler")
	}
}
