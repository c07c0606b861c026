package p2p

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// MinFingerprintPrefix is the fewest hex digits of a fingerprint that name
// or tell apart a peer: 64 bits. An unbalanced RSA modulus cannot be
// detected from the public key, so a peer can grind RSA keys cheaply until
// its fingerprint starts like someone else's; 32 bits take a few
// core-hours, 64 bits are out of reach (e2e/PROTOCOL.md). Front ends show
// at least this many digits wherever a fingerprint prefix identifies a
// peer, and [MatchPeer] accepts no shorter prefix.
const MinFingerprintPrefix = 16

// minIDPart is the fewest characters of a peer ID's start or end that
// [MatchPeer] tries. Peer IDs are cheap to grind, so a short part may be
// ambiguous; it is never silently resolved to the wrong peer (rule 3).
const minIDPart = 4

// maxListed caps the candidates an [AmbiguousPeerError] message names.
const maxListed = 5

// ErrAmbiguousPeer is what an [AmbiguousPeerError] is: the query names
// several peers.
var ErrAmbiguousPeer = errors.New("p2p: ambiguous peer")

// AmbiguousPeerError is returned by [MatchPeer] when a query names several
// peers. Its message lists them in a form the user can type instead.
type AmbiguousPeerError struct {
	Query      string
	Candidates []PeerInfo
}

// Error names the query and the candidates.
func (e *AmbiguousPeerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "p2p: %q matches %d peers: ", e.Query, len(e.Candidates))
	for i, c := range e.Candidates {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(e.Candidates)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(MatchLabel(c))
		if c.Name != "" {
			b.WriteString(" (" + c.PeerID + ")")
		}
	}
	b.WriteString("; name one as listed")
	return b.String()
}

// Unwrap makes the error match [ErrAmbiguousPeer].
func (e *AmbiguousPeerError) Unwrap() error { return ErrAmbiguousPeer }

// MatchLabel is the shortest name [MatchPeer] resolves to p whatever other
// peers are called: "name~<first 16 hex digits of the fingerprint>", or the
// peer ID for a peer without a name or fingerprint.
func MatchLabel(p PeerInfo) string {
	if p.Name == "" || p.Fingerprint.IsZero() {
		return p.PeerID
	}
	return p.Name + "~" + p.Fingerprint.String()[:MinFingerprintPrefix]
}

// MatchPeer returns the peer among peers that query names. Every front end
// (the terminal UI's /msg, the line interface, the headless API's send and
// history) resolves what the user typed with it, so one string names the
// same peer everywhere. The rules are tried in order; the first that
// matches anyone decides:
//
//  1. Identity. The whole peer ID, or the whole fingerprint (64 hex
//     digits, either case). A string that is a valid peer ID or a whole
//     fingerprint names that identity only: if no peer has it, nothing
//     matches, so no peer can take it as its name. Several peers under one
//     fingerprint are one identity on several host keys: one with a live
//     session (State "online") wins, else the first in the list.
//  2. name~fingerprint. A name (case-insensitive) and the start of the
//     fingerprint, at least [MinFingerprintPrefix] hex digits, as the
//     terminal UI labels peers whose names collide. The fingerprint
//     decides: a peer that took the whole string "carol~0123..." as its
//     name does not match it here.
//  3. One word. A whole name (case-insensitive); the start or the end of a
//     peer ID (at least 4 characters, case-sensitive); "start…end" of a
//     peer ID, as the UI abbreviates it; the start of a fingerprint (at
//     least [MinFingerprintPrefix] hex digits). These are gathered
//     together: a peer whose name is another's ID tail or fingerprint
//     prefix makes the query ambiguous, it does not win it.
//  4. The start of a name, case-insensitive.
//
// A query that looks like a fingerprint prefix too short to trust (8 to 15
// hex digits, alone or after "name~") matches nothing: the rules above
// would otherwise try it as a name, which any peer may choose, and a user
// used to shorter prefixes would reach whoever took it.
//
// Surrounding spaces are ignored. Outside rule 1, a rule that matches
// several peers is an [*AmbiguousPeerError] naming them; a query that
// matches nobody is an error wrapping [ErrUnknownPeer]. MatchPeer matches
// names as given: peers hands it names already sanitized, and blocked peers
// only if the caller wants them found.
func MatchPeer(peers []PeerInfo, query string) (PeerInfo, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return PeerInfo{}, fmt.Errorf("%w: no peer named", ErrUnknownPeer)
	}
	if p, ok, final := matchIdentity(peers, q); ok || final {
		if !ok {
			return PeerInfo{}, fmt.Errorf("%w: no known peer is %s", ErrUnknownPeer, q)
		}
		return p, nil
	}
	if shortFingerprint(q) {
		return PeerInfo{}, fmt.Errorf("%w: %q: a fingerprint prefix needs at least %d hex digits", ErrUnknownPeer, q, MinFingerprintPrefix)
	}
	lower := strings.ToLower(q)
	rules := []func(PeerInfo) bool{
		nameFingerprintRule(q),
		wordRule(q),
		func(p PeerInfo) bool { return p.Name != "" && strings.HasPrefix(strings.ToLower(p.Name), lower) },
	}
	for _, rule := range rules {
		if rule == nil {
			continue
		}
		var found []PeerInfo
		for _, p := range peers {
			if rule(p) {
				found = append(found, p)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		return PeerInfo{}, &AmbiguousPeerError{Query: q, Candidates: found}
	}
	return PeerInfo{}, fmt.Errorf("%w: no peer matches %q", ErrUnknownPeer, q)
}

// matchIdentity is rule 1. final reports that q is a whole peer ID or
// fingerprint, so that no other rule may try it.
func matchIdentity(peers []PeerInfo, q string) (_ PeerInfo, ok, final bool) {
	for _, p := range peers {
		if p.PeerID == q {
			return p, true, true
		}
	}
	if fp, err := e2e.ParseFingerprint(strings.ToLower(q)); err == nil {
		var found *PeerInfo
		for i, p := range peers {
			if !p.Fingerprint.Equal(fp) {
				continue
			}
			if p.State == "online" {
				return p, true, true
			}
			if found == nil {
				found = &peers[i]
			}
		}
		if found != nil {
			return *found, true, true
		}
		return PeerInfo{}, false, true
	}
	_, err := peer.Decode(q)
	return PeerInfo{}, false, err == nil
}

// nameFingerprintRule is rule 2, or nil if q is not of its form.
func nameFingerprintRule(q string) func(PeerInfo) bool {
	i := strings.LastIndexByte(q, '~')
	if i <= 0 {
		return nil
	}
	name, prefix := q[:i], strings.ToLower(q[i+1:])
	if len(prefix) < MinFingerprintPrefix || !isHex(prefix) {
		return nil
	}
	return func(p PeerInfo) bool {
		return strings.EqualFold(p.Name, name) && strings.HasPrefix(p.Fingerprint.String(), prefix)
	}
}

// wordRule is rule 3.
func wordRule(q string) func(PeerInfo) bool {
	start, end, abbreviated := strings.Cut(q, "…")
	fpPrefix := ""
	if lq := strings.ToLower(q); len(lq) >= MinFingerprintPrefix && isHex(lq) {
		fpPrefix = lq
	}
	return func(p PeerInfo) bool {
		switch {
		case p.Name != "" && strings.EqualFold(p.Name, q):
			return true
		case abbreviated:
			return start != "" && end != "" && len(start)+len(end) < len(p.PeerID) &&
				strings.HasPrefix(p.PeerID, start) && strings.HasSuffix(p.PeerID, end)
		case len(q) >= minIDPart && (strings.HasPrefix(p.PeerID, q) || strings.HasSuffix(p.PeerID, q)):
			return true
		case fpPrefix != "" && !p.Fingerprint.IsZero():
			return strings.HasPrefix(p.Fingerprint.String(), fpPrefix)
		}
		return false
	}
}

// shortFingerprint reports whether q looks like a fingerprint prefix that
// is too short: 8 to 15 hex digits, alone or after "name~".
func shortFingerprint(q string) bool {
	if i := strings.LastIndexByte(q, '~'); i >= 0 {
		q = q[i+1:]
	}
	return len(q) >= 8 && len(q) < MinFingerprintPrefix && isHex(strings.ToLower(q))
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
