package tui

import (
	"strings"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// A message left in the peer's mailbox is marked so until its receipt.
func TestDepositedMark(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("while you sleep")
	hs.event(p2p.Deposited{PeerID: bobID, ID: "m1"})
	hs.contains("✉ in mailbox")
	hs.event(p2p.Delivered{PeerID: bobID, ID: "m1"})
	hs.contains("✓✓ delivered")
	hs.lacks("✉ in mailbox")
	hs.event(p2p.Deposited{PeerID: bobID, ID: "m1"}) // late: the receipt stands
	hs.lacks("✉ in mailbox")
}

// /mailbox without --mailbox says how to get one.
func TestMailboxCommandNone(t *testing.T) {
	hs := newHarness(t, 100, 24)
	hs.ready()
	hs.line("/mailbox")
	hs.contains("No mailbox: start with --mailbox")
}

func TestMailboxLines(t *testing.T) {
	got := strings.Join(MailboxLines([]p2p.MailboxStatus{
		{Addr: "/ip4/192.0.2.1/tcp/4002/p2p/x", Reachable: true, Waiting: 3, Bytes: 6144, QuotaBytes: 1 << 30, FreeBytes: 1 << 29},
		{Addr: "/ip4/192.0.2.2/tcp/4002/p2p/y", Err: "mailbox: not an owner of this mailbox\x1b[2J"},
	}), "\n")
	for _, want := range []string{"reachable, 3 waiting (6.0 KiB), 512.0 MiB of 1.0 GiB free", "unreachable (mailbox: not an owner of this mailbox"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape passed: %q", got)
	}
}
