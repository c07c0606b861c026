package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/keystore"
)

// newLAN skips without the binary or network namespaces, and returns an
// empty LAN that is deleted when t ends.
func newLAN(t *testing.T) *netns.LAN {
	t.Helper()
	needBinary(t)
	return netns.New(t)
}

// withPassphrase is a clean environment for a node with a home directory.
func withPassphrase(t *testing.T) []string {
	t.Helper()
	return binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase)
}

// TestLANTwoPeers: two nodes on one LAN find each other by mDNS alone (no
// --connect, no address typed), get one session each way with trust "new",
// and chat both ways. A third node on the same bridge, started with
// --no-mdns, is neither found nor finds anyone.
func TestLANTwoPeers(t *testing.T) {
	l := newLAN(t)
	quiet := startLAN(t, l.AddHost(t), "quiet", binEnv(t), "--ephemeral", "--no-mdns")
	a := startLAN(t, l.AddHost(t), "alice", binEnv(t), "--ephemeral")
	b := startLAN(t, l.AddHost(t), "bob", binEnv(t), "--ephemeral")
	aUp, bUp := sessionUp(a, b)
	for _, c := range []struct {
		up   map[string]any
		peer *proc
	}{{aUp, b}, {bUp, a}} {
		if c.up["trust"] != "new" || c.up["fingerprint"] != c.peer.fingerprint() || c.up["name"] != c.peer.name {
			t.Errorf("session_up = %v, want trust new, %s's fingerprint and name", c.up, c.peer.name)
		}
	}
	chat(a, b, "hello bob")
	chat(b, a, "hello alice")
	for _, n := range []*proc{quiet, a, b} {
		n.quit()
	}
	if a.count(event("peer_found", "peer_id", b.peerID(), "via", "mdns"))+
		b.count(event("peer_found", "peer_id", a.peerID(), "via", "mdns")) == 0 {
		t.Error("no peer_found via mdns on either side")
	}
	for _, c := range [][2]*proc{{a, b}, {b, a}} {
		if k := c[0].count(event("session_up", "peer_id", c[1].peerID())); k != 1 {
			t.Errorf("%s: %d session_up with %s, want 1", c[0].name, k, c[1].name)
		}
		if k := c[0].count(event("peer_found", "peer_id", c[1].peerID(), "via", "mdns")); k > 1 {
			t.Errorf("%s: %d peer_found via mdns for %s, want at most 1", c[0].name, k, c[1].name)
		}
		if k := c[0].count(event("peer_found", "peer_id", quiet.peerID())); k != 0 {
			t.Errorf("%s found the --no-mdns node", c[0].name)
		}
	}
	if k := quiet.count(event("peer_found")) + quiet.count(event("session_up")); k != 0 {
		t.Errorf("the --no-mdns node found or met %d peers", k)
	}
}

// TestLANThreePeers: three nodes on one bridge; every pair gets exactly one
// session, and each message reaches the peer it names and no other.
func TestLANThreePeers(t *testing.T) {
	l := newLAN(t)
	nodes := []*proc{
		startLAN(t, l.AddHost(t), "alice", binEnv(t), "--ephemeral"),
		startLAN(t, l.AddHost(t), "bob", binEnv(t), "--ephemeral"),
		// carol listens where a user's node does by default.
		startLAN(t, l.AddHost(t), "carol", binEnv(t), "--ephemeral", "--default-listen"),
	}
	for i, x := range nodes {
		for _, y := range nodes[i+1:] {
			sessionUp(x, y)
		}
	}
	// Each ordered pair sends one message naming both ends.
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				chat(x, y, x.name+" to "+y.name)
			}
		}
	}
	for _, x := range nodes {
		x.quit()
	}
	for _, x := range nodes {
		for _, y := range nodes {
			if x == y {
				continue
			}
			if k := x.count(event("session_up", "peer_id", y.peerID())); k != 1 {
				t.Errorf("%s: %d session_up with %s, want 1", x.name, k, y.name)
			}
		}
		for _, ev := range x.events() {
			if ev["event"] != "message" {
				continue
			}
			from := ""
			for _, y := range nodes {
				if ev["peer_id"] == y.peerID() {
					from = y.name
				}
			}
			if want := from + " to " + x.name; ev["text"] != want {
				t.Errorf("%s got %q from %s, want only %q", x.name, ev["text"], from, want)
			}
		}
		if k := x.count(event("message")); k != len(nodes)-1 {
			t.Errorf("%s got %d messages, want %d", x.name, k, len(nodes)-1)
		}
	}
}

// TestLANRestartAndKeyChange: a node that restarts with the same home keeps
// its peer ID and fingerprint, is found again, and both sides call the
// session "pinned". Then a node presenting that peer ID with a different
// RSA identity (the home's host key, a new identity) raises key_changed on
// the peer that pinned it, gets no session, and sending to it is refused.
func TestLANRestartAndKeyChange(t *testing.T) {
	l := newLAN(t)
	ha, hb := l.AddHost(t), l.AddHost(t)
	homeA, homeB := t.TempDir(), t.TempDir()
	a := startLAN(t, ha, "alice", withPassphrase(t), "--home", homeA)
	// The impostor's key file is made while the rest runs: Argon2 and RSA
	// key generation are slow in a -race test binary.
	evilHome := filepath.Join(t.TempDir(), "impostor")
	evilErr := make(chan error, 1)
	go func() { evilErr <- newIdentityHome(homeA, evilHome) }()
	b := startLAN(t, hb, "bob", withPassphrase(t), "--home", homeB)
	if aUp, bUp := sessionUp(a, b); aUp["trust"] != "new" || bUp["trust"] != "new" {
		t.Fatalf("first sessions: %v, %v; want trust new", aUp, bUp)
	}
	chat(a, b, "see you")
	chat(b, a, "bye") // each is the other's contact (a peer that only connected is a stranger)
	a.quit()
	b.wait("session_down", event("session_down", "peer_id", a.peerID()))

	a2 := startLAN(t, ha, "alice", withPassphrase(t), "--home", homeA)
	if a2.peerID() != a.peerID() || a2.fingerprint() != a.fingerprint() {
		t.Fatalf("restarted node is %s/%s, was %s/%s", a2.peerID(), a2.fingerprint(), a.peerID(), a.fingerprint())
	}
	b.wait("pinned session_up", event("session_up", "peer_id", a.peerID(), "trust", "pinned"))
	a2.wait("pinned session_up", event("session_up", "peer_id", b.peerID(), "trust", "pinned"))
	chat(b, a2, "welcome back")
	a2.quit()
	downs := func(ev map[string]any) bool { return ev["event"] == "session_down" && ev["peer_id"] == a.peerID() }
	b.waitCount("second session_down", lanWait, 2, downs)

	select {
	case err := <-evilErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(lanWait):
		t.Fatal("impostor key file not made in time")
	}
	evil := startLAN(t, ha, "alice", withPassphrase(t), "--home", evilHome)
	if evil.peerID() != a.peerID() || evil.fingerprint() == a.fingerprint() {
		t.Fatalf("impostor is %s/%s; want peer ID %s with another fingerprint", evil.peerID(), evil.fingerprint(), a.peerID())
	}
	al := b.wait("key_changed", event("alert", "kind", "key_changed", "peer_id", a.peerID()))
	if msg, _ := al["message"].(string); !strings.Contains(msg, evil.fingerprint()) || !strings.Contains(msg, a.fingerprint()) {
		t.Errorf("alert %q does not name both fingerprints", msg)
	}
	p := peerEntry(b, a, "after-alert")
	if p["key_changed"] != true || p["state"] != "offline" || p["fingerprint"] != a.fingerprint() {
		t.Errorf("peers entry = %v; want key_changed, offline, the pinned fingerprint", p)
	}
	b.send(map[string]any{"cmd": "send", "to": a.peerID(), "text": "hi?", "ref": "kc"})
	if ev := b.wait("send refused", event("error", "ref", "kc")); ev["code"] != "key_changed" {
		t.Errorf("send to a changed key: %v", ev)
	}
	if k := b.count(event("session_up", "peer_id", a.peerID())); k != 2 {
		t.Errorf("%d session_up for the peer ID, want the 2 before the key changed", k)
	}
	if k := evil.count(event("session_up")); k != 0 {
		t.Errorf("impostor got %d sessions", k)
	}
	evil.quit()
	b.quit()
}

// TestLANNameCollision: a new identity under a known name is a different,
// unverified peer (trust "new", its own fingerprint), with a name_collision
// alert naming it.
func TestLANNameCollision(t *testing.T) {
	l := newLAN(t)
	a := startLAN(t, l.AddHost(t), "alice", binEnv(t), "--ephemeral")
	b := startLAN(t, l.AddHost(t), "bob", binEnv(t), "--ephemeral")
	sessionUp(a, b)
	chat(b, a, "hi") // alice is bob's contact: a name_collision is about contacts' names
	fake := startLAN(t, l.AddHost(t), "alice", binEnv(t), "--ephemeral")
	up := b.wait("session_up with the second alice", event("session_up", "peer_id", fake.peerID()))
	if up["trust"] != "new" || up["name"] != "alice" || up["fingerprint"] != fake.fingerprint() || up["fingerprint"] == a.fingerprint() {
		t.Errorf("session_up = %v; want trust new, name alice, the newcomer's own fingerprint", up)
	}
	al := b.wait("name_collision", event("alert", "kind", "name_collision", "peer_id", fake.peerID()))
	if msg, _ := al["message"].(string); !strings.Contains(msg, a.peerID()) {
		t.Errorf("alert %q does not name the contact", msg)
	}
	if p := peerEntry(b, a, "a"); p["fingerprint"] != a.fingerprint() || p["name"] != "alice" {
		t.Errorf("the first alice changed: %v", p)
	}
	if p := peerEntry(b, fake, "fake"); p["fingerprint"] != fake.fingerprint() || p["trust"] != "new" {
		t.Errorf("the second alice: %v; want its own fingerprint, trust new", p)
	}
	for _, n := range []*proc{a, b, fake} {
		n.quit()
	}
}

// TestLANReannounce: a node that has no LAN address at start announces
// nothing; once its interface gets one, it re-announces (go-libp2p's
// service snapshots addresses when it starts) and is found.
func TestLANReannounce(t *testing.T) {
	l := newLAN(t)
	ha := l.AddHostNoAddr(t)
	a := startLAN(t, ha, "alice", binEnv(t), "--ephemeral", "--listen-any")
	b := startLAN(t, l.AddHost(t), "bob", binEnv(t), "--ephemeral")
	if err := ha.AddAddr(); err != nil {
		t.Fatal(err)
	}
	sessionUp(a, b)
	chat(a, b, "I am here now")
	a.quit()
	b.quit()
}

// newIdentityHome makes a home dir with home's key file but a fresh RSA
// identity: the same host key, so the same peer ID, with another
// fingerprint. It is what a stolen host key, or a reinstall that kept only
// the host key, looks like to a peer.
func newIdentityHome(home, dir string) error {
	const keyFile = "identity.key" // p2p's name for the key file
	kf, err := keystore.Load(filepath.Join(home, keyFile), []byte(testPassphrase))
	if err != nil {
		return fmt.Errorf("load %s's key file: %w", home, err)
	}
	if kf.Identity, err = e2e.GenerateIdentity(); err != nil {
		return err
	}
	return keystore.Create(filepath.Join(dir, keyFile), []byte(testPassphrase), kf)
}

// BenchmarkLANDiscoveryToSession measures, in the namespace LAN, how long two
// nodes that start on one LAN take to find each other by mDNS and set up an
// end-to-end session: from the second node's start, and from its ready
// event (which leaves out key generation), to session_up on both sides.
func BenchmarkLANDiscoveryToSession(b *testing.B) {
	if binPath == "" {
		b.Fatal(buildErr)
	}
	if err := netns.Available(); err != nil {
		b.Skip(err)
	}
	l := netns.New(b)
	ha, hb := l.AddHost(b), l.AddHost(b)
	env := benchEnv(b)
	var fromStart, fromReady time.Duration
	for i := 0; i < b.N; i++ {
		x := startLAN(b, ha, fmt.Sprintf("x%d", i), env, "--ephemeral")
		y := startLAN(b, hb, fmt.Sprintf("y%d", i), env, "--ephemeral")
		_, readyAt := y.waitAt(lanWait, "ready", event("ready"))
		_, xUp := x.waitAt(lanWait, "session_up", event("session_up", "peer_id", y.peerID()))
		_, yUp := y.waitAt(lanWait, "session_up", event("session_up", "peer_id", x.peerID()))
		up := readyAt
		for _, at := range []time.Time{xUp, yUp} {
			if at.After(up) {
				up = at
			}
		}
		fromStart += up.Sub(y.start)
		fromReady += up.Sub(readyAt)
		x.quit()
		y.quit()
	}
	b.ReportMetric(float64(fromStart.Milliseconds())/float64(b.N), "ms-start-to-session")
	b.ReportMetric(float64(fromReady.Milliseconds())/float64(b.N), "ms-ready-to-session")
}

// benchEnv is binEnv for a benchmark.
func benchEnv(b *testing.B) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SECURECHAT_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+b.TempDir())
}
