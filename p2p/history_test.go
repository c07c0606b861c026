package p2p

import (
	"slices"
	"testing"
)

// TestHistoryBefore pages back through a conversation the way a reader
// scrolling up does: every message once, in order.
func TestHistoryBefore(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	ids := sendBurst(t, a.Node, b.PeerID(), 12, "page")
	page, err := a.History(b.PeerID(), 5)
	if err != nil || len(page) != 5 {
		t.Fatalf("History(5) = %d entries, %v", len(page), err)
	}
	var got []string
	for len(page) > 0 {
		var ps []string
		for _, e := range page {
			ps = append(ps, e.ID)
		}
		got = append(ps, got...)
		if page, err = a.HistoryBefore(b.PeerID(), page[0].Seq, 5); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged back to %v\nwant %v", got, ids)
	}
	if es, err := a.HistoryBefore(b.PeerID(), 0, 5); err != nil || len(es) != 0 {
		t.Errorf("HistoryBefore(0) = %v, %v; want none", es, err)
	}
	if _, err := a.HistoryBefore("12D3KooWnope", 1, 5); err != ErrUnknownPeer {
		t.Errorf("HistoryBefore of a stranger: %v, want ErrUnknownPeer", err)
	}
}
