package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// fakeOwnInvite is the fake node's own invite: fixed, so the screens are.
var fakeOwnInvite = "securechat:" + strings.Repeat("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_", 8)

func (f *fakeNode) Invite() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inviteErr != nil {
		return "", f.inviteErr
	}
	return fakeOwnInvite, nil
}

func (f *fakeNode) ConnectInvite(ctx context.Context, invite string) (p2p.Connected, error) {
	inv, err := p2p.ParseInvite(invite)
	if err != nil {
		return p2p.Connected{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invites = append(f.invites, invite)
	if f.connectErr != nil {
		return p2p.Connected{}, f.connectErr
	}
	return p2p.Connected{PeerID: inv.PeerID, Conn: p2p.ConnRelayed}, nil
}

func (f *fakeNode) Diagnostics() p2p.Diagnostics {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.diag
}

func (f *fakeNode) Mailboxes(context.Context) []p2p.MailboxStatus { return nil }

var (
	peerInviteOnce sync.Once
	peerInvite     string
	peerInviteID   string
)

// realInvite is a valid invite of a fresh identity named "dave", made
// once (an RSA identity takes about a second).
func realInvite(t *testing.T) (invite, peerID string) {
	t.Helper()
	peerInviteOnce.Do(func() {
		id, err := e2e.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := libp2ppeer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		a := multiaddr.StringCast("/ip4/203.0.113.7/udp/4001/quic-v1")
		inv, err := e2e.NewInvite(id, []byte(pid), "dave", [][]byte{a.Bytes()})
		if err != nil {
			t.Fatal(err)
		}
		peerInvite, peerInviteID = inv.Encode(), pid.String()
	})
	if peerInvite == "" {
		t.Fatal("no invite")
	}
	return peerInvite, peerInviteID
}

// TestInviteCommand: /invite shows the invite as rows of its own, without
// stamp or indent, which read back as the invite, and its QR code on a
// screen big enough.
func TestInviteCommand(t *testing.T) {
	hs := newHarness(t, 200, 80)
	hs.ready()
	hs.line("/invite")
	if hs.m.modal == nil || hs.m.modal.title != "Your invite" || len(hs.m.modal.qr) == 0 {
		t.Fatalf("no invite window with a QR code: %+v", hs.m.modal)
	}
	hs.press(tea.KeyEnter)
	hs.contains("Your invite: give it to a friend")
	// The pane is narrower than the invite: its rows, joined, are it.
	var rows []string
	n := 0
	for _, r := range strings.Split(hs.screen(), "\n") {
		r, _, _ = strings.Cut(r, "│")
		if strings.HasPrefix(r, "securechat:") || len(rows) > 0 && n < len(fakeOwnInvite) {
			rows = append(rows, r)
			n += len(strings.TrimSpace(r))
		}
	}
	if len(rows) < 2 {
		t.Fatalf("the invite took %d rows; the test wants it cut", len(rows))
	}
	if got := p2p.CleanInvite(strings.Join(rows, "\n")); got != fakeOwnInvite {
		t.Fatalf("invite rows read back as %q", got)
	}

	hs.node.inviteErr = errBoom
	hs.line("/invite")
	hs.contains("No invite: boom")
}

// TestInviteScreen is the invite window on a common screen, where the QR
// code does not fit.
func TestInviteScreen(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.ready()
	hs.line("/invite")
	hs.golden("invite_80x24")
	hs.press(tea.KeyEnter)
	hs.golden("invite_behind_80x24")
}

// TestConnectInvite: /connect takes an invite (also pasted over several
// rows), says whom it dials and shows the session's path.
func TestConnectInvite(t *testing.T) {
	inv, id := realInvite(t)
	hs := newHarness(t, 100, 30)
	hs.ready()
	hs.line("/connect " + inv)
	hs.contains("Connecting to dave (" + shortID(id) + ") from the invite")
	hs.contains("Connected to dave (" + shortID(id) + ") (relayed).")
	if len(hs.node.invites) != 1 || hs.node.invites[0] != inv {
		t.Fatalf("ConnectInvite got %q", hs.node.invites)
	}

	// A paste split over rows goes into the input line as one line.
	hs.typeText("/connect ")
	hs.send(tea.PasteMsg{Content: inv[:50] + "\n" + inv[50:200] + "\n" + inv[200:]})
	if v := hs.m.input.Value(); v != "/connect "+inv {
		t.Fatalf("input after a split paste: %q", v)
	}
	hs.press(tea.KeyEnter)
	if len(hs.node.invites) != 2 {
		t.Fatalf("ConnectInvite calls: %d", len(hs.node.invites))
	}

	hs.line("/connect securechat:AAAA")
	hs.contains("Not a valid invite")
	if len(hs.node.invites) != 2 {
		t.Fatal("a bad invite was dialled")
	}
}

// TestPathShown: a session's path shows in the title, the peer list and
// the conversation, and follows PathChanged.
func TestPathShown(t *testing.T) {
	hs := newHarness(t, 140, 30)
	hs.ready()
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "online", Conn: p2p.ConnRelayed, Trust: p2p.TrustNew})
	hs.event(p2p.SessionUp{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", Trust: p2p.TrustNew, Conn: p2p.ConnRelayed})
	hs.contains("bob is online through a relay")
	hs.contains("online, relayed")
	hs.contains("◐")
	hs.line("/peers")
	hs.contains("online, relayed")
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "online", Conn: p2p.ConnDirect, Trust: p2p.TrustNew})
	hs.event(p2p.PathChanged{PeerID: bobID, Conn: p2p.ConnDirect})
	hs.contains("Now connected to bob directly.")
	hs.contains("online, direct")
	hs.lacks("◐")
	hs.golden("path_direct_140x30")
}

// TestAddrsAndDoctor: a relay reservation shows in the status bar, and
// /doctor prints the node's diagnostics.
func TestAddrsAndDoctor(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.ready()
	circuit := "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWRelayRelayRelayRelayRelayRelayRelayRelayRRRR/p2p-circuit/p2p/" + selfID
	hs.event(p2p.AddrsChanged{Addrs: append(hs.node.Addrs(), circuit), Reachability: "unknown"})
	hs.contains("Reachable through your relay now")
	hs.contains("listening: 3 (relay)")
	hs.node.diag = p2p.Diagnostics{
		PeerID: selfID, Listen: []string{"/ip4/0.0.0.0/tcp/4001"}, Addrs: []string{circuit}, Reachability: "unknown",
		Relays: []p2p.RelayStatus{{Relay: "12D3KooWRelayRelayRelayRelayRelayRelayRelayRelayRRRR", Connected: true, Reserved: true,
			Expires: start.Add(time.Hour), LimitDuration: 24 * time.Hour, LimitData: 64 << 20}},
		HolePunches: []p2p.HolePunch{{PeerID: bobID, At: start, Kind: "hole_punch", Error: "all retries failed"}},
	}
	hs.line("/doctor")
	hs.golden("doctor_120x40")
	hs.event(p2p.AddrsChanged{Addrs: hs.node.Addrs(), Reachability: "unknown"})
	hs.contains("The relay reservation was lost")
}
