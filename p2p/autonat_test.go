package p2p

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/multiformats/go-multiaddr"
)

// TestAutoNATv2OnlyBeyondLAN: the AutoNAT v2 server runs only on a relay,
// the client there and on a node with relays, and an ordinary node runs
// neither. The relay learns the relayed node's protocols through identify:
// the server is not among them there either.
func TestAutoNATv2OnlyBeyondLAN(t *testing.T) {
	r := startRelayNode(t, hostKey(t), 0)
	a := newRelayedNode(t, "alice", r.addr(t, "tcp"))
	b := newTestNode(t, "bob")

	for _, c := range []struct {
		tn               *testNode
		server, dialBack bool
	}{
		{r, true, true},
		{a, false, true},
		{b, false, false},
	} {
		protos := c.tn.host.Mux().Protocols()
		if got := slices.Contains(protos, autonatv2.DialProtocol); got != c.server {
			t.Errorf("%s: autonat v2 server registered = %v, want %v", c.tn.name, got, c.server)
		}
		if got := slices.Contains(protos, autonatv2.DialBackProtocol); got != c.dialBack {
			t.Errorf("%s: autonat v2 client registered = %v, want %v", c.tn.name, got, c.dialBack)
		}
	}

	// The relay has identified alice once her reservation holds.
	a.circuitAddr(t, reserveBound)
	got, err := r.host.Peerstore().SupportsProtocols(a.host.ID(), autonatv2.DialProtocol, autonatv2.DialBackProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []protocol.ID{autonatv2.DialBackProtocol}) {
		t.Fatalf("relay sees alice's autonat v2 protocols %v, want the dial-back alone", got)
	}
}

// TestReachabilityV2: AutoNAT v2's verdict maps to one reachability, and
// goes before AutoNAT v1's unknown; a change raises AddrsChanged.
func TestReachabilityV2(t *testing.T) {
	pub := multiaddr.StringCast("/ip4/1.2.3.4/udp/4001/quic-v1")
	pub2 := multiaddr.StringCast("/ip4/1.2.3.4/tcp/4001")
	for _, c := range []struct {
		e    event.EvtHostReachableAddrsChanged
		want string
	}{
		{event.EvtHostReachableAddrsChanged{}, ReachabilityUnknown},
		{event.EvtHostReachableAddrsChanged{Unknown: []multiaddr.Multiaddr{pub}}, ReachabilityUnknown},
		{event.EvtHostReachableAddrsChanged{Unreachable: []multiaddr.Multiaddr{pub}}, ReachabilityPrivate},
		{event.EvtHostReachableAddrsChanged{Reachable: []multiaddr.Multiaddr{pub}, Unreachable: []multiaddr.Multiaddr{pub2}}, ReachabilityPublic},
	} {
		if got := reachabilityV2(c.e); got != c.want {
			t.Errorf("reachabilityV2(%+v) = %q, want %q", c.e, got, c.want)
		}
	}

	// A node's own event bus carries the verdict as its host would emit it.
	n := newTestNode(t, "alice")
	em, err := n.host.EventBus().Emitter(new(event.EvtHostReachableAddrsChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	if err := em.Emit(event.EvtHostReachableAddrsChanged{Unreachable: []multiaddr.Multiaddr{pub}}); err != nil {
		t.Fatal(err)
	}
	n.ev.wait(t, "addrs with reachability private", func(e Event) bool {
		a, ok := e.(AddrsChanged)
		return ok && a.Reachability == ReachabilityPrivate
	})
	if got := n.Reachability(); got != ReachabilityPrivate {
		t.Fatalf("Reachability = %q, want private", got)
	}
}
