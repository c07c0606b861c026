package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-multiaddr"
)

// TestConnectAnswers checks Connect's answer, also for a peer already in
// session, and that Send resolves names as MatchPeer does.
func TestConnectAnswers(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, round := range []string{"first", "already in session"} {
		got, err := a.Connect(ctx, b.addr(t, "tcp"))
		if err != nil {
			t.Fatalf("%s Connect: %v", round, err)
		}
		if want := (Connected{PeerID: b.PeerID(), Conn: ConnDirect}); got != want {
			t.Errorf("%s Connect = %+v, want %+v", round, got, want)
		}
	}
	b.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	a.ev.wait(t, "session up", isSessionUp(b.PeerID()))

	fp := b.Fingerprint().String()
	for _, to := range []string{b.PeerID(), fp, "BOB", "bo", fp[:MinFingerprintPrefix], "bob~" + fp[:MinFingerprintPrefix]} {
		pid, _, err := a.SendTo(ctx, to, "hi")
		if err != nil || pid != b.PeerID() {
			t.Errorf("SendTo(%q) = %s, %v; want %s", to, pid, err, b.PeerID())
		}
	}
	for _, to := range []string{fp[:8], "bob~" + fp[:8], "carol"} {
		if _, _, err := a.SendTo(ctx, to, "hi"); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("SendTo(%q): %v, want ErrUnknownPeer", to, err)
		}
	}
}

// kindConn is a network.Conn with a chosen Stat and remote address.
type kindConn struct {
	network.Conn
	limited bool
	remote  string
}

func (c kindConn) Stat() network.ConnStats {
	return network.ConnStats{Stats: network.Stats{Limited: c.limited}}
}

func (c kindConn) RemoteMultiaddr() multiaddr.Multiaddr { return multiaddr.StringCast(c.remote) }

func TestConnKind(t *testing.T) {
	const relay = "/ip4/10.232.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit"
	tests := []struct {
		name string
		c    network.Conn
		want string
	}{
		{"tcp", kindConn{remote: "/ip4/127.0.0.1/tcp/4001"}, ConnDirect},
		{"quic", kindConn{remote: "/ip4/127.0.0.1/udp/4001/quic-v1"}, ConnDirect},
		{"limited circuit", kindConn{limited: true, remote: relay}, ConnRelayed},
		{"unlimited circuit", kindConn{remote: relay}, ConnRelayed},
		{"limited, whatever the address", kindConn{limited: true, remote: "/ip4/127.0.0.1/tcp/1"}, ConnRelayed},
		{"none", nil, ConnDirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connKind(tt.c); got != tt.want {
				t.Errorf("connKind = %q, want %q", got, tt.want)
			}
		})
	}
}
