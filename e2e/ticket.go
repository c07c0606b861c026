package e2e

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds resumption tickets (PROTOCOL.md, section "Resumption"). A
// live session issues one to its peer: the issuer sends the ticket ID and
// expiry in a TICKET chat payload, and both sides derive the ticket's
// secret from the session's exporter secret. The secret itself never
// travels. The holder later presents the ticket ID to the issuer to resume
// (resume.go); the issuer keeps its own record of the ticket so that it can
// check it and use it once.

// TicketLifetime is how long a ticket is valid after it was issued. An
// issuer never sets a later expiry, and a holder refuses one.
const TicketLifetime = 7 * 24 * time.Hour

// TicketIDSize is the size of a ticket ID: 32 random bytes.
const TicketIDSize = 32

// TicketOfferSize is the size of the TICKET payload body that
// [Session.IssueTicket] returns: the ticket ID, then the expiry as a u64
// of Unix seconds.
const TicketOfferSize = TicketIDSize + 8

// kdfLabelResumption is the exporter label of ticket secrets.
const kdfLabelResumption = "securechat-v1 resumption"

// ticketClockSkew is how far in the future beyond TicketLifetime a holder
// accepts an expiry: the two clocks need not agree to the second.
const ticketClockSkew = 5 * time.Minute

// ticketVersion is the first byte of a marshalled [Ticket].
const ticketVersion = 1

// Roles of a ticket: the side that issued it (and answers a resumption as
// responder) or the side that holds it (and resumes as initiator).
const (
	ticketIssuer byte = 1
	ticketHolder byte = 2
)

// ErrTicket is returned for a ticket that cannot be issued, accepted, parsed
// or used: expired, made for other peers or other keys, malformed. A caller
// that holds such a ticket drops it and runs the full handshake.
var ErrTicket = errors.New("e2e: unusable resumption ticket")

// A Ticket is one side's record of a resumption ticket: the holder's, to
// resume with, or the issuer's, to check and use up a resumption. It holds a
// secret: keep it sealed ([Ticket.Marshal] is for a sealed store) and
// [Ticket.Wipe] it once used.
type Ticket struct {
	role    byte
	id      [TicketIDSize]byte
	secret  [32]byte
	expires int64 // Unix seconds
	// Peer IDs and fingerprints as the side that keeps the ticket sees
	// them: local is its own.
	localPeerID, remotePeerID []byte
	localFP, remoteFP         Fingerprint
	// peerBundle is the peer's bundle as the session that made the ticket
	// verified it; a resumed session presents it as its peer's.
	peerBundle []byte
}

// IssueTicket makes a ticket for the peer of this session: it returns the
// TICKET payload body (offer) for the peer and the issuer's record, which
// the caller stores before it sends the offer. The ticket expires
// [TicketLifetime] after now. It fails once the session has failed or
// closed, or if it was not made by a handshake.
func (s *Session) IssueTicket(now time.Time) (offer []byte, t *Ticket, err error) {
	if s.local == nil || s.peer == nil {
		return nil, nil, ErrTicket
	}
	t = &Ticket{role: ticketIssuer, expires: now.Add(TicketLifetime).Unix()}
	if _, err := io.ReadFull(s.rand, t.id[:]); err != nil {
		return nil, nil, err
	}
	if err := s.deriveTicket(t); err != nil {
		return nil, nil, err
	}
	offer = append(t.id[:0:0], t.id[:]...)
	offer = binary.BigEndian.AppendUint64(offer, uint64(t.expires))
	return offer, t, nil
}

// AcceptTicket turns the peer's TICKET payload body into the holder's
// ticket. The offer must be exactly [TicketOfferSize] bytes, and its expiry
// after now and no more than [TicketLifetime] (and a few minutes of clock
// skew) ahead of it; otherwise it is [ErrTicket].
func (s *Session) AcceptTicket(offer []byte, now time.Time) (*Ticket, error) {
	if s.local == nil || s.peer == nil || len(offer) != TicketOfferSize {
		return nil, ErrTicket
	}
	exp := binary.BigEndian.Uint64(offer[TicketIDSize:])
	if exp > 1<<62 || int64(exp) <= now.Unix() || int64(exp) > now.Add(TicketLifetime+ticketClockSkew).Unix() {
		return nil, ErrTicket
	}
	t := &Ticket{role: ticketHolder, expires: int64(exp)}
	copy(t.id[:], offer)
	if err := s.deriveTicket(t); err != nil {
		return nil, err
	}
	return t, nil
}

// deriveTicket fills in the names and the secret of t, whose role, ID and
// expiry are set:
//
//	secret = Export("securechat-v1 resumption", ticket ID || u64 expiry ||
//	         vec16(issuer peer ID) || vec16(holder peer ID) ||
//	         issuer fingerprint || holder fingerprint, 32)
func (s *Session) deriveTicket(t *Ticket) error {
	t.localPeerID = bytes.Clone(s.local.PeerID())
	t.remotePeerID = bytes.Clone(s.peer.PeerID())
	t.localFP = s.local.Identity().Fingerprint()
	t.remoteFP = s.peer.Identity().Fingerprint()
	t.peerBundle = bytes.Clone(s.peer.Bytes())
	issuerID, holderID, issuerFP, holderFP := t.localPeerID, t.remotePeerID, t.localFP, t.remoteFP
	if t.role == ticketHolder {
		issuerID, holderID, issuerFP, holderFP = holderID, issuerID, holderFP, issuerFP
	}
	ctx := append([]byte(nil), t.id[:]...)
	ctx = binary.BigEndian.AppendUint64(ctx, uint64(t.expires))
	ctx = appendVec16(ctx, issuerID)
	ctx = appendVec16(ctx, holderID)
	ctx = append(ctx, issuerFP[:]...)
	ctx = append(ctx, holderFP[:]...)
	secret, err := s.export(kdfLabelResumption, ctx, len(t.secret))
	if err != nil {
		return ErrTicket
	}
	copy(t.secret[:], secret)
	clear(secret)
	return nil
}

// ID returns the ticket ID.
func (t *Ticket) ID() [TicketIDSize]byte { return t.id }

// Expires returns when the ticket stops being valid.
func (t *Ticket) Expires() time.Time { return time.Unix(t.expires, 0) }

// PeerFingerprint returns the fingerprint of the peer the ticket was made
// with: a caller drops the ticket if its pin for the peer is another.
func (t *Ticket) PeerFingerprint() Fingerprint { return t.remoteFP }

// Issued reports whether this is the issuer's record (else the holder's).
func (t *Ticket) Issued() bool { return t.role == ticketIssuer }

// Wipe forgets the ticket's secret.
func (t *Ticket) Wipe() { clear(t.secret[:]) }

// String names the ticket by a prefix of its ID, never its secret.
func (t *Ticket) String() string { return "e2e.Ticket(" + Fingerprint(t.id).Short() + ")" }

// GoString keeps %#v from printing the secret.
func (t *Ticket) GoString() string { return t.String() }

// fits reports whether t may serve a resumption in role on a connection
// between localID and remoteID (as our side sees it) now, under our
// identity fp: a ticket made before a key change of ours does not fit.
func (t *Ticket) fits(role byte, localID, remoteID []byte, fp Fingerprint, now time.Time) bool {
	return t.role == role &&
		subtle.ConstantTimeCompare(t.localPeerID, localID) == 1 &&
		subtle.ConstantTimeCompare(t.remotePeerID, remoteID) == 1 &&
		t.localFP.Equal(fp) &&
		now.Unix() < t.expires
}

// Marshal encodes the ticket, secret included, for a sealed store:
//
//	u8 version=1 | u8 role (1 issuer, 2 holder) | ID [32] | secret [32] |
//	u64 expiry | vec16 local peer ID | vec16 remote peer ID |
//	local fingerprint [32] | remote fingerprint [32] | vec16 peer bundle
func (t *Ticket) Marshal() []byte {
	b := []byte{ticketVersion, t.role}
	b = append(b, t.id[:]...)
	b = append(b, t.secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.expires))
	b = appendVec16(b, t.localPeerID)
	b = appendVec16(b, t.remotePeerID)
	b = append(b, t.localFP[:]...)
	b = append(b, t.remoteFP[:]...)
	return appendVec16(b, t.peerBundle)
}

// ParseTicket decodes what [Ticket.Marshal] made. It is strict (one
// encoding per ticket) and checks that the peer bundle is well formed and
// names the ticket's remote peer ID and fingerprint; it does no RSA
// operation. Every failure is [ErrTicket].
func ParseTicket(b []byte) (*Ticket, error) {
	s := cryptobyte.String(b)
	var t Ticket
	var ver uint8
	var exp uint64
	var local, remote, bundle []byte
	if !s.ReadUint8(&ver) || ver != ticketVersion || !s.ReadUint8(&t.role) ||
		(t.role != ticketIssuer && t.role != ticketHolder) ||
		!s.CopyBytes(t.id[:]) || !s.CopyBytes(t.secret[:]) || !s.ReadUint64(&exp) || exp > 1<<62 ||
		!readVec16(&s, &local) || !readVec16(&s, &remote) ||
		!s.CopyBytes(t.localFP[:]) || !s.CopyBytes(t.remoteFP[:]) ||
		!readVec16(&s, &bundle) || !s.Empty() ||
		len(local) == 0 || len(local) > maxPeerIDLen || len(remote) == 0 || len(remote) > maxPeerIDLen {
		return nil, ErrTicket
	}
	t.expires = int64(exp)
	t.localPeerID, t.remotePeerID, t.peerBundle = bytes.Clone(local), bytes.Clone(remote), bytes.Clone(bundle)
	pb, err := parseKnownBundle(t.peerBundle)
	if err != nil || !bytes.Equal(pb.PeerID(), t.remotePeerID) || !pb.Identity().Fingerprint().Equal(t.remoteFP) {
		return nil, ErrTicket
	}
	return &t, nil
}

// parseKnownBundle decodes a bundle that a handshake verified before (kept
// in a ticket, in a sealed store) without checking its signatures again:
// the layout and the key policy are checked as in [ParseBundle], the RSA
// and host signatures are not, so a resumption does no RSA operation.
func parseKnownBundle(b []byte) (*Bundle, error) {
	f, err := decodeBundleParts(b)
	if err != nil {
		return nil, err
	}
	return f.bundle(b), nil
}
