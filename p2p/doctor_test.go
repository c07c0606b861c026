package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"

	"github.com/securechat/securechat/p2p/relay"
)

// TestDiagnosticsRelay: a node with a relay reports the relay reserved,
// with the limits a securechat relay announces, its circuit address among
// its addresses, and what it listens on; the relay reports serving.
func TestDiagnosticsRelay(t *testing.T) {
	r := startRelayNode(t, hostKey(t), 0)
	b := newRelayedNode(t, "bob", r.addr(t, "tcp"))
	b.circuitAddr(t, reserveBound)

	d := b.Diagnostics()
	if d.PeerID != b.PeerID() || len(d.Listen) == 0 || !hasCircuit(d.Addrs) {
		t.Fatalf("diagnostics: %+v", d)
	}
	if len(d.Relays) != 1 {
		t.Fatalf("relays: %+v", d.Relays)
	}
	st := d.Relays[0]
	if st.Relay != r.PeerID() || !st.Reserved || !st.Connected || st.LastError != "" || st.Expires.IsZero() {
		t.Fatalf("relay status: %+v", st)
	}
	if st.LimitDuration != relay.CircuitDuration || st.LimitData != relay.CircuitData {
		t.Fatalf("relay limits %v %d, want %v %d", st.LimitDuration, st.LimitData, relay.CircuitDuration, relay.CircuitData)
	}
	if d.MDNS || d.ServeRelay || d.Reachability == "" {
		t.Fatalf("diagnostics: %+v", d)
	}
	if rd := r.Diagnostics(); !rd.ServeRelay || len(rd.Relays) != 0 {
		t.Fatalf("relay's diagnostics: %+v", rd)
	}
}

// TestPunchLog: the tracer keeps the last outcome per peer, newest first,
// and a bounded number of peers.
func TestPunchLog(t *testing.T) {
	var l punchLog
	p1, p2 := peer.ID("one"), peer.ID("two")
	l.Trace(&holepunch.Event{Remote: p1, Timestamp: 1, Evt: &holepunch.DirectDialEvt{Success: false, Error: "no"}})
	l.Trace(&holepunch.Event{Remote: p2, Timestamp: 2, Evt: &holepunch.StartHolePunchEvt{}})
	l.Trace(&holepunch.Event{Remote: p1, Timestamp: 3, Evt: &holepunch.EndHolePunchEvt{Success: true}})
	got := l.list()
	if len(got) != 1 || got[0].PeerID != p1.String() || got[0].Kind != "hole_punch" || !got[0].Success {
		t.Fatalf("list: %+v", got)
	}
	for i := range 2 * maxPunchRecords {
		l.Trace(&holepunch.Event{Remote: peer.ID(rune('a' + i)), Timestamp: int64(10 + i), Evt: &holepunch.EndHolePunchEvt{}})
	}
	got = l.list()
	if len(got) != maxPunchRecords || !got[0].At.Equal(time.Unix(0, int64(10+2*maxPunchRecords-1))) {
		t.Fatalf("after many: %d records, newest %v", len(got), got[0].At)
	}
}
