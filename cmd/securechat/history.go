package main

import (
	"fmt"

	"github.com/securechat/securechat/p2p"
)

// historyEvent answers the history command (docs/INTERFACE.md).
type historyEvent struct {
	Event    string        `json:"event"`
	PeerID   string        `json:"peer_id"`
	Messages []historyJSON `json:"messages"`
	Ref      string        `json:"ref,omitempty"`
}

type historyJSON struct {
	ID     string `json:"id"`
	FromMe bool   `json:"from_me"`
	Text   string `json:"text"`
	SentAt string `json:"sent_at"`
	State  string `json:"state"`
}

// toJSONHistory converts history entries; never nil, so it encodes as [].
func toJSONHistory(es []p2p.HistoryEntry) []historyJSON {
	out := make([]historyJSON, 0, len(es))
	for _, e := range es {
		out = append(out, historyJSON{ID: e.ID, FromMe: e.FromMe, Text: e.Text, SentAt: rfc3339(e.SentAt), State: e.State})
	}
	return out
}

// history answers the history command: peer_id (or anything
// [p2p.MatchPeer] resolves), optional limit.
func (h *headless) history(c command) {
	p, err := p2p.MatchPeer(shownPeers(h.node.Peers()), c.PeerID)
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	es, err := h.node.History(p.PeerID, c.Limit)
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	h.out.emit(historyEvent{Event: "history", PeerID: p.PeerID, Messages: toJSONHistory(es), Ref: c.Ref})
}

// lineHistoryShown is how many messages the line mode shows when a
// conversation is opened with /msg.
const lineHistoryShown = 10

// showHistory prints the last messages of the conversation with p.
func (lm *lineMode) showHistory(p p2p.PeerInfo) {
	es, err := lm.node.History(p.PeerID, lineHistoryShown)
	if err != nil || len(es) == 0 {
		return
	}
	what := fmt.Sprintf("last %d messages", len(es))
	if len(es) == 1 {
		what = "last message"
	}
	lm.printf("*** %s with %s:\n", what, peerLabel(p))
	for _, e := range es {
		who := sanitizeName(p.Name)
		if who == "" {
			who = "them"
		}
		state := ""
		if e.FromMe {
			who, state = "me", " ["+e.State+"]"
		}
		lm.printf("  %s <%s> %s%s\n", e.SentAt.Local().Format("2006-01-02 15:04"), who, sanitizeText(e.Text), state)
	}
}
