package tui

import (
	"errors"

	"github.com/securechat/securechat/p2p"
)

// dialReason is a DialFailed's human line: the node's Reason, or its raw
// text worded by [p2p.DescribeDialError] (which cleans what it quotes) when
// it gave none. Either way it is cleaned once more for the screen.
func dialReason(ev p2p.DialFailed) string {
	if ev.Reason != "" {
		return cleanText(ev.Reason, false)
	}
	return cleanText(p2p.DescribeDialError(errors.New(ev.Err)), false)
}
