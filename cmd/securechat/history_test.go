package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// histNode is a fake node that keeps a history.
type histNode struct {
	*fakeNode
	entries []p2p.HistoryEntry
	asked   []int
}

func (n *histNode) History(peerID string, limit int) ([]p2p.HistoryEntry, error) {
	n.asked = append(n.asked, limit)
	if peerID != fakePeerA {
		return nil, p2p.ErrUnknownPeer
	}
	return n.entries, nil
}

func TestHeadlessHistory(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	hn := &histNode{fakeNode: newFakeNode(), entries: []p2p.HistoryEntry{
		{ID: "01", FromMe: true, Text: "hi", SentAt: at, State: p2p.StateDelivered},
		{ID: "02", Text: "hello", SentAt: at, State: p2p.StateDelivered},
	}}
	withPeers(hn.fakeNode)
	tests := []struct {
		name  string
		node  chatNode
		line  string
		want  string
		limit int
	}{
		{"by peer ID", hn, `{"cmd":"history","peer_id":"` + fakePeerA + `","ref":"h1"}`,
			`{"event":"history","peer_id":"` + fakePeerA + `","messages":[{"id":"01","from_me":true,"text":"hi","sent_at":"2026-05-06T07:08:09Z","state":"delivered"},{"id":"02","from_me":false,"text":"hello","sent_at":"2026-05-06T07:08:09Z","state":"delivered"}],"ref":"h1"}`, 0},
		{"by fingerprint, limit", hn, `{"cmd":"history","peer_id":"` + fakeFPA.String() + `","limit":5}`,
			`"peer_id":"` + fakePeerA + `"`, 5},
		{"unknown peer", hn, `{"cmd":"history","peer_id":"nobody","ref":"h2"}`,
			`{"event":"error","code":"unknown_peer","message":"p2p: unknown peer: no peer matches \"nobody\"","ref":"h2"}`, -1},
		{"by name", hn, `{"cmd":"history","peer_id":"alice"}`, `"peer_id":"` + fakePeerA + `"`, 0},
		{"missing peer_id", hn, `{"cmd":"history","ref":"h3"}`, `"code":"bad_request"`, -1},
		{"bad limit", hn, `{"cmd":"history","peer_id":"x","limit":"ten"}`, `"code":"bad_request"`, -1},
		{"negative limit", hn, `{"cmd":"history","peer_id":"x","limit":-1}`, `"code":"bad_request"`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := &headless{node: tt.node, out: newEventWriter(&buf), log: slog.New(slog.DiscardHandler)}
			hn.asked = nil
			h.handleLine(context.Background(), []byte(tt.line))
			h.out.close(time.Second)
			got := strings.TrimSpace(buf.String())
			if !json.Valid([]byte(got)) || !strings.Contains(got, tt.want) {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
			if tt.limit >= 0 && tt.node == chatNode(hn) && (len(hn.asked) != 1 || hn.asked[0] != tt.limit) {
				t.Errorf("History asked with limits %v, want [%d]", hn.asked, tt.limit)
			}
		})
	}
}

func TestLineModeShowsHistory(t *testing.T) {
	hn := &histNode{fakeNode: newFakeNode(), entries: []p2p.HistoryEntry{
		{ID: "01", FromMe: true, Text: "queued one", SentAt: time.Now(), State: p2p.StateQueued},
		{ID: "02", Text: "evil \x1b[2J text", SentAt: time.Now(), State: p2p.StateDelivered},
	}}
	withPeers(hn.fakeNode)
	var buf bytes.Buffer
	lm := &lineMode{node: hn, out: &buf}
	lm.showHistory(twoPeers()[0])
	out := buf.String()
	for _, want := range []string{"last 2 messages", "<me> queued one [queued]", "<alice> evil", "text"} {
		if !strings.Contains(out, want) {
			t.Errorf("line mode history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequence reached the terminal: %q", out)
	}
}
