package p2p

import (
	"bytes"
	"log/slog"
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
