package p2p

import (
	"bufio"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

func strs(as []multiaddr.Multiaddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func TestInviteAddrsOrder(t *testing.T) {
	self, relay := testPeerID(t), testPeerID(t)
	circuit := "/ip4/5.6.7.8/tcp/4001/p2p/" + relay.String() + "/p2p-circuit"
	got := strs(inviteAddrs(self, maddrs(t,
		"/ip4/127.0.0.1/tcp/1",
		"/ip4/192.168.1.5/tcp/2",
		"/ip4/198.51.100.1/tcp/3", // documentation range: neither public nor private
		"/ip6/fe80::1/tcp/4",
		"/ip4/0.0.0.0/tcp/5",
		circuit+"/p2p/"+self.String(),
		"/ip4/1.2.3.4/tcp/6/p2p/"+self.String(),
		"/ip4/1.2.3.4/tcp/6",
		"/ip6/2606:4700::1/udp/7/quic-v1",
	)))
	want := []string{"/ip4/1.2.3.4/tcp/6", "/ip6/2606:4700::1/udp/7/quic-v1", circuit, "/ip4/192.168.1.5/tcp/2", "/ip4/198.51.100.1/tcp/3"}
	if !slices.Equal(got, want) {
		t.Fatalf("inviteAddrs =\n %v\nwant\n %v", got, want)
	}
	loopOnly := []string{"/ip4/127.0.0.1/tcp/1", "/ip6/::1/udp/2/quic-v1"}
	if got := strs(inviteAddrs(self, maddrs(t, append(loopOnly, "/ip6/fe80::1/tcp/4")...))); !slices.Equal(got, loopOnly) {
		t.Fatalf("loopback only: %v", got)
	}
}

// forgeInvite signs an invite by id for peer p with raw addresses.
func forgeInvite(t *testing.T, id *e2e.Identity, p peer.ID, name string, addrs ...multiaddr.Multiaddr) string {
	t.Helper()
	raw := make([][]byte, len(addrs))
	for i, a := range addrs {
		raw[i] = a.Bytes()
	}
	inv, err := e2e.NewInvite(id, []byte(p), name, raw)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Encode()
}

func TestParseInviteAddrs(t *testing.T) {
	id := mustFixtureIdentity(t, "invite")
	self, relay, other := testPeerID(t), testPeerID(t), testPeerID(t)
	p2p := func(p peer.ID) string { return "/p2p/" + p.String() }
	tcp := "/ip4/1.2.3.4/tcp/4001"
	circuit := tcp + p2p(relay) + "/p2p-circuit"
	good := map[string]string{ // address in the invite: address parsed
		tcp:                      tcp + p2p(self),
		tcp + p2p(self):          tcp + p2p(self),
		circuit:                  circuit + p2p(self),
		circuit + p2p(self):      circuit + p2p(self),
		"/ip6/::1/udp/1/quic-v1": "/ip6/::1/udp/1/quic-v1" + p2p(self),
	}
	for in, want := range good {
		inv, err := ParseInvite(" \n" + forgeInvite(t, id, self, "bob\x1b[31m", multiaddr.StringCast(in)) + "\r\n")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if inv.PeerID != self.String() || inv.Fingerprint != id.Fingerprint() || inv.Name != "bob" ||
			len(inv.Addrs) != 1 || inv.Addrs[0] != want {
			t.Fatalf("%s: parsed %+v, want address %s", in, inv, want)
		}
		if info := inv.AddrInfo(); info.ID != self || len(info.Addrs) != 1 || info.Addrs[0].String()+p2p(self) != want {
			t.Fatalf("%s: AddrInfo %v", in, info)
		}
	}
	bad := map[string]string{
		"another peer":             tcp + p2p(other),
		"peer before the end":      tcp + p2p(self) + "/tcp/1",
		"another peer via circuit": circuit + p2p(other),
		"circuit without relay":    tcp + "/p2p-circuit" + p2p(self),
		"relay is the peer":        tcp + p2p(self) + "/p2p-circuit",
		"no transport":             p2p(self),
	}
	for name, a := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseInvite(forgeInvite(t, id, self, "", multiaddr.StringCast(a))); !errors.Is(err, ErrBadAddress) {
				t.Fatalf("ParseInvite = %v, want ErrBadAddress", err)
			}
		})
	}
	t.Run("address bytes that do not parse", func(t *testing.T) {
		inv, err := e2e.NewInvite(id, []byte(self), "", [][]byte{{0x04, 1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseInvite(inv.Encode()); !errors.Is(err, ErrBadAddress) {
			t.Fatalf("ParseInvite = %v", err)
		}
	})
	t.Run("peer ID that does not parse", func(t *testing.T) {
		inv, err := e2e.NewInvite(id, []byte{0x12, 0x20, 1}, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseInvite(inv.Encode()); !errors.Is(err, ErrBadAddress) {
			t.Fatalf("ParseInvite = %v", err)
		}
	})
}

// TestInviteVectorAddrs checks e2e's invite vector from the node's side:
// its binary addresses are the multiaddrs its header names.
func TestInviteVectorAddrs(t *testing.T) {
	f, err := os.Open("../e2e/testdata/invite.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var line string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "invite: "); ok {
			line = v
		}
	}
	inv, err := ParseInvite(line)
	if err != nil {
		t.Fatalf("vector invite: %v", err)
	}
	var relay string
	for _, a := range inv.Addrs {
		if r, _, ok := strings.Cut(strings.TrimPrefix(a, "/ip4/203.0.113.9/tcp/4001/p2p/"), "/p2p-circuit"); ok {
			relay = r
		}
	}
	self := "/p2p/" + inv.PeerID
	want := []string{
		"/ip4/198.51.100.7/tcp/4001" + self,
		"/ip4/198.51.100.7/udp/4001/quic-v1" + self,
		"/ip6/2001:db8::7/tcp/4001" + self,
		"/ip4/203.0.113.9/tcp/4001/p2p/" + relay + "/p2p-circuit" + self,
		"/ip4/192.168.1.7/tcp/4001" + self,
	}
	if relay == "" || !slices.Equal(inv.Addrs, want) || inv.Name != "alice" {
		t.Fatalf("vector addresses %v, name %q", inv.Addrs, inv.Name)
	}
}

func connectInvite(t *testing.T, from *testNode, invite string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := from.ConnectInvite(ctx, invite)
	if err == nil && c.PeerID == "" {
		t.Errorf("ConnectInvite answered %+v without a peer", c)
	}
	return err
}

func TestConnectInvite(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	s, err := b.Invite()
	if err != nil {
		t.Fatal(err)
	}
	if !IsInvite(s) || len(s) > e2e.MaxInviteLen {
		t.Fatalf("invite %q", s)
	}
	inv, err := ParseInvite(s)
	if err != nil {
		t.Fatal(err)
	}
	if inv.PeerID != b.PeerID() || inv.Fingerprint != b.Fingerprint() || inv.Name != "bob" || len(inv.Addrs) < 2 {
		t.Fatalf("b's invite = %+v", inv)
	}
	for _, addr := range inv.Addrs {
		if !strings.Contains(addr, "/127.0.0.1/") || !strings.HasSuffix(addr, "/p2p/"+b.PeerID()) {
			t.Fatalf("invite address %s", addr)
		}
	}
	if err := connectInvite(t, a, s); err != nil {
		t.Fatalf("ConnectInvite: %v", err)
	}
	// The invite pinned b's key before the session: its first session
	// confirms the pin instead of trusting on first use.
	up := a.ev.wait(t, "session up", isSessionUp(b.PeerID())).(SessionUp)
	if up.Fingerprint != b.Fingerprint() || up.Trust != TrustPinned {
		t.Fatalf("a's session up = %+v", up)
	}
	b.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	c, ok, err := a.store.Contact(b.PeerID())
	if err != nil || !ok || !c.Fingerprint.Equal(b.Fingerprint()) || c.LastSeen.IsZero() {
		t.Fatalf("a's contact for b = %+v, %v, %v", c, ok, err)
	}
	if n := a.ev.count(isAlert(AlertFingerprintMismatch)); n != 0 {
		t.Fatalf("%d mismatch alerts", n)
	}
	// Once up, the invite again is a no-op.
	if err := connectInvite(t, a, s); err != nil {
		t.Fatalf("ConnectInvite again: %v", err)
	}
}

func TestConnectInviteRefusesBadInvites(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	s, err := b.Invite()
	if err != nil {
		t.Fatal(err)
	}
	mid := len(s) / 2
	flip := byte('A')
	if s[mid] == 'A' {
		flip = 'B'
	}
	own, err := a.Invite()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"one character changed": s[:mid] + string(flip) + s[mid+1:],
		"truncated":             s[:len(s)-1],
		"this node's own":       own,
	} {
		t.Run(name, func(t *testing.T) {
			if err := connectInvite(t, a, bad); !errors.Is(err, ErrBadAddress) {
				t.Fatalf("ConnectInvite = %v, want ErrBadAddress", err)
			}
		})
	}
	if a.host.Network().Connectedness(b.host.ID()) != network.NotConnected || len(a.Peers()) != 0 {
		t.Fatal("a refused invite dialled or stored its peer")
	}
	if n := a.ev.count(func(e Event) bool { _, ok := e.(PeerFound); return ok }); n != 0 {
		t.Fatalf("%d dials", n)
	}
}

// expectMismatch checks that a has raised a fingerprint_mismatch alert for
// b, has no session with it, and still pins fp for it with nothing pending.
func expectMismatch(t *testing.T, a *testNode, b peer.ID, fp e2e.Fingerprint) {
	t.Helper()
	al := a.ev.wait(t, "mismatch alert", isAlert(AlertFingerprintMismatch)).(Alert)
	if al.PeerID != b.String() {
		t.Fatalf("alert = %+v", al)
	}
	if a.online(b) || a.ev.count(isSessionUp(b.String())) != 0 {
		t.Fatal("a session came up")
	}
	c, ok, err := a.store.Contact(b.String())
	if err != nil || !ok || !c.Fingerprint.Equal(fp) || !c.PendingFingerprint.IsZero() || c.Identity != nil {
		t.Fatalf("contact = %+v, %v, %v", c, ok, err)
	}
	if len(a.Peers()) != 1 || a.Peers()[0].KeyChanged {
		t.Fatalf("peers = %+v", a.Peers())
	}
}

// TestConnectInviteOtherFingerprint: b's invite, then b comes back under the
// same peer ID (host key) with another identity, as a thief of its host key
// would. The invite's pin refuses the session, dialled or incoming.
func TestConnectInviteOtherFingerprint(t *testing.T) {
	a := newTestNode(t, "alice")
	hk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := distinctIdentities(t, a.Fingerprint())
	b1 := newKeyedNode(t, "bob", hk, id1)
	s, err := b1.Invite()
	if err != nil {
		t.Fatal(err)
	}
	listen := b1.host.Network().ListenAddresses()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := start(context.Background(), Config{ListenAddrs: listen, Name: "bob"}, testSettings(t, "bob"),
		nodeKeys{host: hk, id: id2}, store.OpenMemory([32]byte{2}))
	if err != nil {
		t.Skipf("b's addresses were not free again: %v", err)
	}
	b2 := wrap(t, n)
	if err := connectInvite(t, a, s); !errors.Is(err, ErrDialFailed) {
		t.Fatalf("ConnectInvite = %v, want ErrDialFailed", err)
	}
	expectMismatch(t, a, b2.host.ID(), id1.Fingerprint())

	// b2 dialling a gets no session either: the pin holds both ways.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	before := a.ev.count(isAlert(AlertFingerprintMismatch))
	_, _ = b2.Connect(ctx, a.addr(t, "tcp"))
	a.ev.waitN(t, "second mismatch alert", before+1, isAlert(AlertFingerprintMismatch))
	expectMismatch(t, a, b2.host.ID(), id1.Fingerprint())
}

// distinctIdentities returns two of the test's fixture identities,
// distinct from each other and from not.
func distinctIdentities(t *testing.T, not e2e.Fingerprint) (*e2e.Identity, *e2e.Identity) {
	t.Helper()
	var ids []*e2e.Identity
	for range 2 * numFixtureIdentities {
		id := mustFixtureIdentity(t, "distinct")
		if id.Fingerprint() != not && !slices.ContainsFunc(ids, func(x *e2e.Identity) bool { return x == id }) {
			ids = append(ids, id)
		}
		if len(ids) == 2 {
			return ids[0], ids[1]
		}
	}
	t.Fatal("no two distinct identities in the pool")
	return nil, nil
}

// TestConnectInviteForgedIdentity: an invite that names b's peer ID and
// addresses, validly signed by another identity. b presents its own: no
// session, an alert, and b's keys are not kept.
func TestConnectInviteForgedIdentity(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	forger, _ := distinctIdentities(t, b.Fingerprint())
	if forger.Fingerprint() == a.Fingerprint() {
		_, forger = distinctIdentities(t, a.Fingerprint())
	}
	forged := forgeInvite(t, forger, b.host.ID(), "bob", b.host.Addrs()...)
	if err := connectInvite(t, a, forged); !errors.Is(err, ErrDialFailed) {
		t.Fatalf("ConnectInvite = %v, want ErrDialFailed", err)
	}
	expectMismatch(t, a, b.host.ID(), forger.Fingerprint())

	// b's real invite replaces the pin no session confirmed.
	s, err := b.Invite()
	if err != nil {
		t.Fatal(err)
	}
	if err := connectInvite(t, a, s); err != nil {
		t.Fatalf("ConnectInvite with the real invite: %v", err)
	}
	a.ev.wait(t, "session up", isSessionUp(b.PeerID()))
}

// TestConnectInviteAfterSession: once a session confirmed b's key, an
// invite naming another key for b is refused before any dial.
func TestConnectInviteAfterSession(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	forger, _ := distinctIdentities(t, b.Fingerprint())
	forged := forgeInvite(t, forger, b.host.ID(), "bob", b.host.Addrs()...)
	err := connectInvite(t, a, forged)
	if !errors.Is(err, ErrDialFailed) || !errors.Is(err, ErrFingerprintMismatch) {
		t.Fatalf("ConnectInvite = %v, want ErrDialFailed and ErrFingerprintMismatch", err)
	}
	a.ev.wait(t, "mismatch alert", isAlert(AlertFingerprintMismatch))
	c, _, _ := a.store.Contact(b.PeerID())
	if !c.Fingerprint.Equal(b.Fingerprint()) || !c.PendingFingerprint.IsZero() || !a.online(b.host.ID()) {
		t.Fatalf("contact %+v changed or session lost", c)
	}
}
