// Package doctor turns a node's [p2p.Diagnostics] into the report of
// `securechat doctor` and the terminal UI's /doctor: the JSON a script
// reads, and lines of text that answer "why can't my friend reach me?".
package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/securechat/securechat/p2p"
)

// Report is the JSON form of the diagnostics. Lists are never null.
type Report struct {
	PeerID           string      `json:"peer_id"`
	Listen           []string    `json:"listen"`
	Addrs            []string    `json:"addrs"`
	Observed         []string    `json:"observed"`
	Reachability     string      `json:"reachability"`
	MDNS             bool        `json:"mdns"`
	ServeRelay       bool        `json:"serve_relay"`
	HolePunchPrivate bool        `json:"holepunch_private"`
	Relays           []Relay     `json:"relays"`
	HolePunches      []HolePunch `json:"hole_punches"`
	// Advice holds the findings, most important first, in words.
	Advice []string `json:"advice"`
}

// Relay is one relay of --relay.
type Relay struct {
	PeerID    string `json:"peer_id"`
	Reachable bool   `json:"reachable"` // connected now
	Reserved  bool   `json:"reserved"`
	Expires   string `json:"expires,omitempty"` // RFC 3339, while reserved
	// LimitSeconds and LimitBytes are the relay's caps on one relayed
	// connection (0: none announced).
	LimitSeconds int64  `json:"limit_seconds"`
	LimitBytes   uint64 `json:"limit_bytes"`
	Error        string `json:"error,omitempty"` // the last reservation failure
}

// HolePunch is the last hole-punch outcome with one peer.
type HolePunch struct {
	PeerID  string `json:"peer_id"`
	At      string `json:"at"`   // RFC 3339
	Kind    string `json:"kind"` // "direct_dial" or "hole_punch"
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`
}

// New builds the report from d.
func New(d p2p.Diagnostics) Report {
	r := Report{
		PeerID:           d.PeerID,
		Listen:           nonNil(d.Listen),
		Addrs:            nonNil(d.Addrs),
		Observed:         nonNil(d.Observed),
		Reachability:     d.Reachability,
		MDNS:             d.MDNS,
		ServeRelay:       d.ServeRelay,
		HolePunchPrivate: d.HolePunchPrivate,
		Relays:           []Relay{},
		HolePunches:      []HolePunch{},
	}
	for _, s := range d.Relays {
		rel := Relay{PeerID: s.Relay, Reachable: s.Connected, Reserved: s.Reserved, Error: oneLine(s.LastError),
			LimitSeconds: int64(s.LimitDuration / time.Second), LimitBytes: s.LimitData}
		if s.Reserved && !s.Expires.IsZero() {
			rel.Expires = s.Expires.UTC().Format(time.RFC3339)
		}
		r.Relays = append(r.Relays, rel)
	}
	for _, h := range d.HolePunches {
		r.HolePunches = append(r.HolePunches, HolePunch{PeerID: h.PeerID, At: h.At.UTC().Format(time.RFC3339),
			Kind: h.Kind, Success: h.Success, Error: oneLine(h.Error)})
	}
	r.Advice = advice(r)
	return r
}

// advice words what the report means for a friend on another network.
func advice(r Report) []string {
	var out []string
	var public, circuit, lan bool
	for _, s := range r.Addrs {
		if strings.Contains(s, "/p2p-circuit") {
			circuit = true
			continue
		}
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			continue
		}
		switch {
		case manet.IsIPLoopback(a):
		case manet.IsPublicAddr(a):
			public = true
		default:
			lan = true
		}
	}
	reserved := 0
	for _, rel := range r.Relays {
		switch {
		case rel.Reserved:
			reserved++
		case !rel.Reachable:
			out = append(out, fmt.Sprintf("Relay %s cannot be reached%s: check its address and that it runs with --serve-relay.",
				short(rel.PeerID), because(rel.Error)))
		default:
			out = append(out, fmt.Sprintf("Relay %s is reachable but holds no reservation for you%s.", short(rel.PeerID), because(rel.Error)))
		}
	}
	switch {
	case circuit:
		out = append(out, "Friends anywhere can reach you through your relay: give them your invite (securechat invite).")
	case public:
		out = append(out, "You have a public address: friends can dial you directly, unless a firewall drops it.")
	case len(r.Relays) == 0 && lan:
		out = append(out, "Only LAN addresses: a friend on another network cannot reach you. "+
			"Use --relay with a relay on a public machine (README: Chat across the internet).")
	case len(r.Relays) == 0:
		out = append(out, "No address another machine can dial: listen on a real interface (--listen) or use --relay.")
	}
	if reserved == 0 && len(r.Relays) > 0 && !public {
		out = append(out, "No relay reservation yet: a friend on another network cannot reach you until one holds.")
	}
	for _, h := range r.HolePunches {
		if !h.Success && h.Kind == "hole_punch" {
			out = append(out, fmt.Sprintf("The hole punch to %s failed%s: that chat stays on the relay, which works.",
				short(h.PeerID), because(h.Error)))
		}
	}
	if len(out) == 0 {
		out = append(out, "Nothing wrong found.")
	}
	return out
}

// Text is the report as lines for people, times in loc.
func Text(r Report, loc *time.Location) []string {
	yes := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	out := []string{
		"peer ID:       " + r.PeerID,
		"reachability:  " + r.Reachability + reachNote(r.Reachability),
		"mDNS:          " + yes(r.MDNS),
		"serving relay: " + yes(r.ServeRelay),
		"hole punching: on" + map[bool]string{true: ", also to private ranges", false: ""}[r.HolePunchPrivate],
	}
	list := func(title string, items []string, none string) {
		out = append(out, title)
		if len(items) == 0 {
			out = append(out, "  "+none)
		}
		for _, s := range items {
			out = append(out, "  "+s)
		}
	}
	list("listening on:", r.Listen, "(nothing)")
	list("addresses peers can dial:", r.Addrs, "(none)")
	list("seen from outside (by peers):", r.Observed, "(no peer has told yet)")
	var rel []string
	for _, x := range r.Relays {
		s := short(x.PeerID) + ": "
		switch {
		case x.Reserved:
			s += "reachable, reserved"
			if t, err := time.Parse(time.RFC3339, x.Expires); err == nil {
				s += " until " + t.In(loc).Format("15:04")
			}
			s += ", " + limits(x)
		case x.Reachable:
			s += "reachable, not reserved" + because(x.Error)
		default:
			s += "not reachable" + because(x.Error)
		}
		rel = append(rel, s)
	}
	list("relays:", rel, "(none: --relay MULTIADDR)")
	var hp []string
	for _, h := range r.HolePunches {
		s := short(h.PeerID) + ": " + strings.ReplaceAll(h.Kind, "_", " ")
		if h.Success {
			s += " succeeded"
		} else {
			s += " failed" + because(h.Error)
		}
		if t, err := time.Parse(time.RFC3339, h.At); err == nil {
			s += " at " + t.In(loc).Format("15:04:05")
		}
		hp = append(hp, s)
	}
	list("last hole punch per peer:", hp, "(none yet)")
	out = append(out, "advice:")
	for _, a := range r.Advice {
		out = append(out, "  - "+a)
	}
	return out
}

func limits(x Relay) string {
	if x.LimitSeconds == 0 && x.LimitBytes == 0 {
		return "no limit per relayed connection"
	}
	d := "no time limit"
	switch s := x.LimitSeconds; {
	case s >= 3600 && s%3600 == 0:
		d = fmt.Sprintf("%d h", s/3600)
	case s >= 60 && s%60 == 0:
		d = fmt.Sprintf("%d min", s/60)
	case s > 0:
		d = fmt.Sprintf("%d s", s)
	}
	b := "no data limit"
	switch n := x.LimitBytes; {
	case n >= 1<<20 && n%(1<<20) == 0:
		b = fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		b = fmt.Sprintf("%d KiB", n>>10)
	case n > 0:
		b = fmt.Sprintf("%d bytes", n)
	}
	return "limits " + d + " and " + b + " per relayed connection"
}

func reachNote(r string) string {
	if r == p2p.ReachabilityUnknown {
		return " (no AutoNAT server has told; normal)"
	}
	return ""
}

func because(err string) string {
	if err == "" {
		return ""
	}
	return " (" + err + ")"
}

// short is a peer ID's start and end, as the UI shows them.
func short(id string) string {
	if len(id) <= 14 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// oneLine folds a multi-line error (libp2p joins errors with newlines).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
