package p2p

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer for a logger shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsNameNoIdentityAtInfo: at the default level (Info) the log names
// no peer: a session with a named peer, its messages, a key change (a
// warning) and a name collision leave no peer ID, fingerprint, name or
// text in it (SECURITY.md, "At rest").
func TestLogsNameNoIdentityAtInfo(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	set := testSettings(t, "victim")
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: "victim",
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}, set)
	if err != nil {
		t.Fatal(err)
	}
	v := wrap(t, n)
	hk := hostKey(t)
	id1 := mustFixtureIdentity(t, "old")
	b1 := newKeyedNode(t, "secretname", hk, id1)
	v.connect(t, b1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b1.Send(ctx, v.PeerID(), "secret text"); err != nil {
		t.Fatal(err)
	}
	v.ev.wait(t, "message", isMessage(b1.PeerID()))
	twin := newTestNode(t, "SecretName")
	twin.connect(t, v)
	v.ev.wait(t, "name_collision", isAlert(AlertNameCollision))
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	v.ev.wait(t, "down", isDownOf(b1.PeerID()))
	id2 := mustFixtureIdentity(t, "new")
	b2 := newKeyedNode(t, "secretname", hk, id2)
	if _, err := b2.Connect(ctx, v.addr(t, "tcp")); err == nil {
		t.Fatal("key change got a session")
	}
	v.ev.wait(t, "key_changed", isAlert(AlertKeyChanged))

	out := buf.String()
	if !strings.Contains(out, "key_changed") {
		t.Fatalf("the key change was not logged at all:\n%s", out)
	}
	secrets := map[string]string{
		"peer ID": b1.PeerID(), "own peer ID": v.PeerID(), "twin's peer ID": twin.PeerID(),
		"name": "secretname", "text": "secret text",
	}
	for _, fp := range []string{id1.Fingerprint().String(), id2.Fingerprint().String(), v.Fingerprint().String(), twin.Fingerprint().String()} {
		secrets["fingerprint "+fp[:8]] = fp[:MinFingerprintPrefix]
	}
	lower := strings.ToLower(out)
	for what, s := range secrets {
		if strings.Contains(lower, strings.ToLower(s)) {
			t.Errorf("the Info log holds a %s (%s):\n%s", what, s, out)
		}
	}
}

// TestHandshakeFailuresLogOnce: a burst of failed handshakes from
// throwaway peers raises one alert each, but the log gets no warning and
// at most its burst of rate-limited debug lines.
func TestHandshakeFailuresLogOnce(t *testing.T) {
	t.Parallel()
	h := newLevelCounter()
	set := testSettings(t, "victim")
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: "victim", Logger: slog.New(h)}, set)
	if err != nil {
		t.Fatal(err)
	}
	v := wrap(t, n)
	const k = 3 * remoteLogBurst
	for range k / maxHandshakesPerPeer {
		att := newAttacker(t, v)
		for range maxHandshakesPerPeer {
			s := att.stream()
			if s == nil {
				continue
			}
			_, _ = s.Write(frame([]byte("not a handshake message")))
			waitReset(s, waitTimeout)
		}
	}
	got := v.ev.count(isAlert(AlertHandshakeFailed))
	if got == 0 {
		t.Fatal("no handshake_failed alert")
	}
	time.Sleep(10 * time.Millisecond)
	warn, debug := h.counts()
	t.Logf("%d failed handshakes: %d alerts, %d warnings, %d debug lines", k, got, warn, debug)
	if warn != 0 {
		h.c.mu.Lock()
		t.Errorf("%d warnings for failed handshakes: %q", warn, h.c.msgs)
		h.c.mu.Unlock()
	}
	if debug > remoteLogBurst+int(remoteLogRate*float64(waitTimeout/time.Second))+10 {
		t.Errorf("%d debug lines for %d failed handshakes: not rate-limited", debug, k)
	}
}

// levelCounter counts the node's own log records at Warn and above, and
// below Warn. go-libp2p's (component=libp2p) are left out: they go to the
// logger of whichever test's node set it last (logging.go).
type levelCounter struct {
	c      *levelCounts
	libp2p bool
}

type levelCounts struct {
	mu          sync.Mutex
	warn, debug int
	msgs        []string // the warnings'
}

func newLevelCounter() *levelCounter { return &levelCounter{c: &levelCounts{}} }

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	if h.libp2p {
		return nil
	}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		h.c.warn++
		h.c.msgs = append(h.c.msgs, r.Message)
	} else {
		h.c.debug++
	}
	return nil
}
func (h *levelCounter) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "component" && a.Value.String() == "libp2p" {
			return &levelCounter{c: h.c, libp2p: true}
		}
	}
	return h
}
func (h *levelCounter) WithGroup(string) slog.Handler { return h }
func (h *levelCounter) counts() (int, int) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.warn, h.c.debug
}
