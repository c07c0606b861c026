package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// The partition test of issue 4: two real nodes (persistent homes, mDNS
// off) in network namespaces the test creates, joined by one bridge; the
// receiver's cable is pulled for a few seconds in the middle of a burst and
// plugged back in, with nftables dropping a share of the packets each host
// receives on its LAN interface all along (tc netem is not available in the
// CI kernel). The nft rules live in the test's namespaces only, and go with
// them.

const (
	partTotal     = 300              // messages in the burst
	partDownAt    = 30               // the receiver has shown this many when the link goes down
	partDownFor   = 5 * time.Second  // how long the link stays down
	partLossPct   = 10               // % of the packets each host receives that are dropped
	partRedeliver = 90 * time.Second // bound on "all delivered" once the link is back
)

// TestPartitionLinkDownAndLoss: alice sends 300 messages to bob; half are
// written before bob's link goes down (when bob has shown 30), the other
// half while it is down; the link stays down 5 s, then comes back; 10 % of
// the packets each side receives are dropped throughout. Every message is
// shown by bob exactly once, in alice's order, stored in his history the
// same way, and receipted to alice once each. Once over TCP, once over
// QUIC (alice dials that transport's address).
func TestPartitionLinkDownAndLoss(t *testing.T) {
	needBinary(t)
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipped: needs the nft command (nftables) for random packet loss; .ci/run installs it")
	}
	for _, transport := range []string{"/tcp/", "/quic-v1"} {
		t.Run(strings.Trim(transport, "/"), func(t *testing.T) { partition(t, transport) })
	}
}

// partition runs TestPartitionLinkDownAndLoss with alice dialling bob's
// address of the given transport.
func partition(t *testing.T, transport string) {
	l := netns.New(t)
	ha, hb := l.AddHost(t), l.AddHost(t)
	a := startLAN(t, ha, "alice", withPassphrase(t), "--home", t.TempDir(), "--no-mdns")
	b := startLAN(t, hb, "bob", withPassphrase(t), "--home", t.TempDir(), "--no-mdns")
	aID, bID := a.peerID(), b.peerID()
	a.send(map[string]any{"cmd": "connect", "addr": addrOf(t, b, transport), "ref": "dial"})
	sessionUp(a, b)
	for _, h := range []*netns.Host{ha, hb} {
		addLoss(t, h, partLossPct)
	}
	t0 := time.Now()

	fromA := event("message", "peer_id", aID)
	isSent, isDelivered := event("sent", "peer_id", bID), event("delivered", "peer_id", bID)
	sendBurst(t, a, bID, 0, partTotal/2)
	b.waitCount("messages before the partition", lanWait, partDownAt, fromA)
	shownAtDown, deliveredAtDown := b.count(fromA), a.count(isDelivered)
	downAt := time.Now()
	if err := hb.SetLink(false); err != nil {
		t.Fatal(err)
	}
	sendBurst(t, a, bID, partTotal/2, partTotal)
	a.waitCount("sent for the whole burst", lanWait, partTotal, isSent)
	time.Sleep(time.Until(downAt.Add(partDownFor)))
	deliveredAtUp := a.count(isDelivered)
	if err := hb.SetLink(true); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	a.waitCount("every receipt", partRedeliver, partTotal, isDelivered)
	b.waitCount("every message shown", lanWait, partTotal, fromA)
	total := time.Since(t0)

	var sent, shown []string
	delivered := map[string]int{}
	var firstAfterUp, lastReceipt time.Time
	evs, times := a.eventsAt()
	for i, ev := range evs {
		switch {
		case isSent(ev):
			sent = append(sent, ev["id"].(string))
		case isDelivered(ev):
			delivered[ev["id"].(string)]++
			if times[i].After(upAt) && firstAfterUp.IsZero() {
				firstAfterUp = times[i]
			}
			lastReceipt = times[i]
		}
	}
	for _, ev := range b.events() {
		if fromA(ev) {
			shown = append(shown, ev["id"].(string))
		}
	}
	dups, inOrder := exactlyOnce(sent, shown)
	lost, dupReceipts := 0, 0
	shownSet := map[string]bool{}
	for _, id := range shown {
		shownSet[id] = true
	}
	for _, id := range sent {
		if !shownSet[id] || delivered[id] == 0 {
			lost++
		}
		dupReceipts += max(delivered[id]-1, 0)
	}
	if len(sent) != partTotal || lost != 0 || dups != 0 || dupReceipts != 0 || !inOrder || len(delivered) != partTotal {
		t.Errorf("sent %d, receipts for %d ids, shown %d: %d lost, %d shown twice, %d duplicate receipts, shown in sent order %v",
			len(sent), len(delivered), len(shown), lost, dups, dupReceipts, inOrder)
	}
	if hist := historyOf(b, aID, false, "hb"); strings.Join(hist.ids, ",") != strings.Join(sent, ",") {
		t.Errorf("bob's history holds %d incoming messages, not the %d sent, in order", len(hist.ids), len(sent))
	}
	if hist := historyOf(a, bID, true, "ha"); len(hist.ids) != partTotal || hist.states["delivered"] != partTotal {
		t.Errorf("alice's history: %d outgoing, states %v; want %d delivered", len(hist.ids), hist.states, partTotal)
	}
	cuts := a.count(event("session_down", "peer_id", bID))
	ups := a.count(event("session_up", "peer_id", bID))
	dropA, seenA := lossCounters(t, ha)
	dropB, seenB := lossCounters(t, hb)
	a.quit()
	b.quit()

	first := "none (all receipted before the link came back)"
	if !firstAfterUp.IsZero() {
		first = firstAfterUp.Sub(upAt).Round(time.Millisecond).String()
	}
	t.Logf("%s partition (link down %v after %d shown) + %d%% nft loss: sent %d, delivered %d, shown %d, lost %d, duplicates %d (receipts %d), in order %v",
		strings.Trim(transport, "/"), partDownFor, shownAtDown, partLossPct, len(sent), len(delivered), len(shown), lost, dups, dupReceipts, inOrder)
	t.Logf("receipts: %d at link down, %d at link up; after the link came back: first receipt %s, all delivered %v; session_down %d, session_up %d; whole burst %v",
		deliveredAtDown, deliveredAtUp, first, max(lastReceipt.Sub(upAt), 0).Round(time.Millisecond), cuts, ups, total.Round(time.Millisecond))
	t.Logf("nft dropped %d of %d packets into alice, %d of %d into bob", dropA, seenA, dropB, seenB)
}

// addrOf is n's listen address of a transport ("/tcp/", "/quic-v1"),
// with its peer ID.
func addrOf(t *testing.T, n *proc, transport string) string {
	t.Helper()
	addrs, _ := n.ready["addrs"].([]any)
	for _, a := range addrs {
		if s, _ := a.(string); strings.Contains(s, transport) {
			if !strings.Contains(s, "/p2p/") {
				s += "/p2p/" + n.peerID()
			}
			return s
		}
	}
	t.Fatalf("%s has no %s address in %v", n.name, transport, addrs)
	return ""
}

// addLoss makes h drop pct % of the packets it receives on its LAN
// interface (eth0), at random, with nftables inside h's namespace. A first
// rule counts every packet, the second the dropped ones (lossCounters).
func addLoss(t *testing.T, h *netns.Host, pct int) {
	t.Helper()
	for _, args := range [][]string{
		{"add", "table", "inet", "sctest"},
		{"add", "chain", "inet", "sctest", "c", "{ type filter hook input priority 0; policy accept; }"},
		{"add", "rule", "inet", "sctest", "c", "iifname", "eth0", "counter"},
		{"add", "rule", "inet", "sctest", "c", "iifname", "eth0", "numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "counter", "drop"},
	} {
		if _, err := h.Run("nft", args...); err != nil {
			t.Fatalf("nft: %v", err)
		}
	}
}

var nftCounter = regexp.MustCompile(`counter packets (\d+)`)

// lossCounters reads addLoss's counters: packets dropped, packets seen.
func lossCounters(t *testing.T, h *netns.Host) (dropped, seen int) {
	t.Helper()
	out, err := h.Run("nft", "list", "chain", "inet", "sctest", "c")
	if err != nil {
		t.Errorf("nft: %v", err)
		return 0, 0
	}
	m := nftCounter.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Errorf("nft counters: %q", out)
		return 0, 0
	}
	seen, _ = strconv.Atoi(m[0][1])
	dropped, _ = strconv.Atoi(m[1][1])
	return dropped, seen
}

// sendBurst writes the send commands for messages from..to-1 to n's stdin,
// in order, in one write (a few KiB: the pipe holds them all).
func sendBurst(t *testing.T, n *proc, to string, from, until int) {
	t.Helper()
	var sb strings.Builder
	for i := from; i < until; i++ {
		fmt.Fprintf(&sb, `{"cmd":"send","to":%q,"text":"p %d","ref":"p-%d"}`+"\n", to, i, i)
	}
	if _, err := n.stdin.Write([]byte(sb.String())); err != nil {
		t.Fatalf("%s: write stdin: %v", n.name, err)
	}
}

// lanHistory is the part of a history answer the partition test checks.
type lanHistory struct {
	ids    []string       // messages in one direction, in order
	states map[string]int // their delivery states
}

// historyOf asks n for its conversation with peer and keeps the outgoing
// (fromMe) or incoming messages.
func historyOf(n *proc, peer string, fromMe bool, ref string) lanHistory {
	n.t.Helper()
	n.send(map[string]any{"cmd": "history", "peer_id": peer, "limit": 10000, "ref": ref})
	ev := n.wait("history "+ref, event("history", "ref", ref))
	h := lanHistory{states: map[string]int{}}
	ms, _ := ev["messages"].([]any)
	for _, m := range ms {
		m, _ := m.(map[string]any)
		if m["from_me"] == fromMe {
			h.ids = append(h.ids, fmt.Sprint(m["id"]))
			h.states[fmt.Sprint(m["state"])]++
		}
	}
	return h
}
