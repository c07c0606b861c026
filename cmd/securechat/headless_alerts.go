package main

import (
	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/p2p"
)

// drainEvents shows the node's events until it closes the channel, and
// now and then ends a minute of rate-limited handshake failures.
func (h *headless) drainEvents(events <-chan p2p.Event) {
	pumpEvents(events, h.event, func() { h.summarize(h.hsLimit.Flush(h.now())) })
}

// handshakeFailed reports whether to show a handshake_failed alert: the
// first [alertlimit.BurstHeadless] of a minute are, the rest are counted
// and summed up in one alert of the same kind, with an empty peer_id, when
// the minute is over (README, "Hostile peers and bad input").
func (h *headless) handshakeFailed(a p2p.Alert) bool {
	show, sum := h.hsLimit.Allow(a.PeerID, h.now())
	h.summarize(sum)
	return show
}

func (h *headless) summarize(sum alertlimit.Summary) {
	if sum.Failures > 0 {
		h.emitNodeEvent(alertEvent{"alert", p2p.AlertHandshakeFailed, "", h.hsLimit.Describe(sum)})
	}
}
