package p2p

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// TestRestartSamePorts: a persistent node started without ListenAddrs
// listens again on its last ports, and its peer redials it there, at the
// addresses it stored.
func TestRestartSamePorts(t *testing.T) {
	t.Parallel()
	cfg := homeConfig(t.TempDir(), "bob")
	b1 := startHome(t, cfg)
	a := hiddenNode(t, "alice")
	dial(t, a, b1.addr(t, "tcp"))
	before := transportAddrs(b1)
	waitAddrs(t, a.Node, b1.PeerID(), before)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	forget(t, a.Node, b1.host.ID())
	fi, err := os.Stat(filepath.Join(cfg.Home, portsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("ports file mode %v, want 0600", perm)
	}

	b2 := startHome(t, cfg)
	if after := transportAddrs(b2); !sameSet(after, before) {
		t.Fatalf("restarted on %v, had %v", after, before)
	}
	a.ev.waitN(t, "session up again", 2, isSessionUp(b2.PeerID()))
}

// TestRestartPortTaken: a node whose last TCP port is taken gets a new
// one (and keeps its QUIC port); its peer redials it at the QUIC address
// and learns the new TCP address on that session.
func TestRestartPortTaken(t *testing.T) {
	t.Parallel()
	cfg := homeConfig(t.TempDir(), "bob")
	b1 := startHome(t, cfg)
	a := hiddenNode(t, "alice")
	dial(t, a, b1.addr(t, "quic-v1"))
	oldTCP, oldQUIC := b1.addr(t, "tcp"), b1.addr(t, "quic-v1")
	waitAddrs(t, a.Node, b1.PeerID(), transportAddrs(b1))
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	forget(t, a.Node, b1.host.ID())
	hostPort, err := manetHostPort(oldTCP)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", hostPort)
	if err != nil {
		t.Fatalf("take b's old port: %v", err)
	}
	defer l.Close()

	b2 := startHome(t, cfg)
	newTCP := b2.addr(t, "tcp")
	if newTCP.Equal(oldTCP) {
		t.Fatalf("b listens on its old TCP address %s, which is taken", newTCP)
	}
	if q := b2.addr(t, "quic-v1"); !q.Equal(oldQUIC) {
		t.Fatalf("QUIC moved from %s to %s", oldQUIC, q)
	}
	a.ev.waitN(t, "session up again", 2, isSessionUp(b2.PeerID()))
	tcp, _ := peer.SplitAddr(newTCP)
	waitAddrs(t, a.Node, b2.PeerID(), []string{tcp.String()})
}

// manetHostPort is "127.0.0.1:port" for a TCP address.
func manetHostPort(a multiaddr.Multiaddr) (string, error) {
	ip, err := a.ValueForProtocol(multiaddr.P_IP4)
	if err != nil {
		return "", err
	}
	port, err := a.ValueForProtocol(multiaddr.P_TCP)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, port), nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestPortsFile: the ports file keeps only addresses with a port, and a
// remembered address answers for the default it was bound for.
func TestPortsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), portsFileName)
	keep := []multiaddr.Multiaddr{
		multiaddr.StringCast("/ip4/0.0.0.0/tcp/41234"),
		multiaddr.StringCast("/ip6/::/udp/41235/quic-v1"),
	}
	if err := writePorts(path, keep); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("junk\n/ip4/0.0.0.0/tcp/0\n/ip4/1.2.3.4\n\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := readPorts(path); !slices.EqualFunc(got, keep, multiaddr.Multiaddr.Equal) {
		t.Fatalf("readPorts = %v, want %v", got, keep)
	}
	if readPorts(filepath.Join(t.TempDir(), "none")) != nil {
		t.Fatal("a missing file gave ports")
	}
	if k := portKey(keep[1]); k != "/ip6/::/udp/0/quic-v1" {
		t.Fatalf("portKey = %q", k)
	}
}
