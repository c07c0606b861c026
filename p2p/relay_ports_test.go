package p2p

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// TestRelayedOnDefaultPorts: nodes started without listen addresses (on
// their default ports, ports.go) still dial and accept relayed
// connections. libp2p.NoListenAddrs, which such a host is built with,
// also turns the relay transport off unless it is enabled again.
func TestRelayedOnDefaultPorts(t *testing.T) {
	t.Parallel()
	r := startRelayNode(t, hostKey(t), 0)
	relays := []multiaddr.Multiaddr{r.addr(t, "tcp")}
	dir := t.TempDir()
	acfg, bcfg := homeConfig(dir, "alice"), homeConfig(dir, "bob")
	acfg.Relays, bcfg.Relays = relays, relays
	bcfg.circuitsOnly = true // b is reachable through the relay only
	a, b := startHome(t, acfg), startHome(t, bcfg)
	bc := b.circuitAddr(t, reserveBound)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	info, err := peer.AddrInfoFromP2pAddr(bc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Connect(ctx, bc)
	if err != nil {
		t.Fatalf("Connect %s: %v", bc, err)
	}
	if c.PeerID != info.ID.String() || c.Conn != ConnRelayed {
		t.Fatalf("Connect answered %+v, want a relayed session with %s", c, info.ID)
	}
}
