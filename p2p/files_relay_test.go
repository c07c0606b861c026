package p2p

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// TestFileWaitsForDirect: over a limited relayed connection file data does
// not flow and the sender says it waits for a direct connection; once one
// appears the transfer completes.
func TestFileWaitsForDirect(t *testing.T) {
	r := startRelayNode(t, hostKey(t), 0)
	ra := []multiaddr.Multiaddr{r.addr(t, "tcp")}
	mk := func(name string) *testNode {
		set := testSettings(t, name)
		set.fileRetry = 200 * time.Millisecond
		cfg := Config{Name: name, Relays: ra, circuitsOnly: true, Ephemeral: true, ListenAddrs: loopback,
			Downloads: filepath.Join(t.TempDir(), "downloads")}
		n, err := newNode(context.Background(), cfg, set)
		if err != nil {
			t.Fatal(err)
		}
		return wrap(t, n)
	}
	a, b := mk("alice"), mk("bob")
	a.connectAt(t, b, b.circuitAddr(t, reserveBound))
	path, content := writeTestFile(t, "f.bin", 200<<10)
	_, id, err := a.SendFile(context.Background(), b.PeerID(), path)
	if err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "offer", isFileOffered(id))
	if err := b.AcceptFile(id, ""); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "waiting for a direct connection", func(e Event) bool {
		p, ok := e.(FileProgress)
		return ok && p.FileID == id && p.Waiting == WaitingDirect
	})
	if tr := b.Transfers(); len(tr) != 1 || tr[0].Bytes != 0 {
		t.Fatalf("data went over the relay: %+v", tr)
	}
	// Hole punching needs a NAT; on loopback a direct dial stands in.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// b announces its circuit address only; it listens on loopback all
	// the same.
	direct := peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Network().ListenAddresses()}
	if err := a.host.Connect(network.WithForceDirectDial(ctx, "test"), direct); err != nil {
		t.Fatalf("direct connect: %v", err)
	}
	done := b.ev.wait(t, "done", isFileDone(id)).(FileDone)
	a.ev.wait(t, "done (sender)", isFileDone(id))
	if got, _ := os.ReadFile(done.Path); len(got) != len(content) {
		t.Fatalf("got %d bytes", len(got))
	}
}
