package p2p

import (
	"bufio"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// This file holds session resumption (e2e/PROTOCOL.md, "Resumption"). Once
// a session with a contact is up, each side issues the other one ticket in a
// TICKET payload and keeps its own record of it; both are sealed in the
// store, one per peer and kind (store/tickets.go). The next dial to the
// contact presents the held ticket: one round trip and no RSA operation. The
// responder answers RETRY when it cannot use the ticket (none, used,
// expired, for another key), and the full handshake follows on the same
// stream, so a stale ticket costs one round trip and no error. A ticket is
// taken out of the store when it is used, on both sides, so it serves once.
// Strangers get no tickets, and a key change, a block, forget and a
// passphrase change remove them.

// contactFor reports whether p is a contact that may resume under the
// fingerprint fp: known, pinned to fp, not blocked, no key change pending.
func (n *Node) contactFor(p peer.ID, fp e2e.Fingerprint) bool {
	c, ok, err := n.store.Contact(p.String())
	return err == nil && ok && !c.Blocked && c.PendingFingerprint.IsZero() && c.Fingerprint.Equal(fp)
}

// takeTicket removes p's ticket of kind from the store and returns it if it
// parses and the peer may still resume under the ticket's key; nil otherwise.
func (n *Node) takeTicket(kind store.TicketKind, p peer.ID) *e2e.Ticket {
	// A read first: a peer that is no contact (a stranger presenting
	// anything) costs no store write.
	if c, known, err := n.store.Contact(p.String()); err != nil || !known || c.Blocked {
		return nil
	}
	b, ok, err := n.store.TakeTicket(kind, p.String())
	if err != nil {
		n.log.Debug("resumption ticket", "err", err)
	}
	if !ok {
		return nil
	}
	t, err := e2e.ParseTicket(b)
	clear(b)
	if err != nil || t.Issued() != (kind == store.TicketIssued) || !n.contactFor(p, t.PeerFingerprint()) {
		if t != nil {
			t.Wipe()
		}
		return nil
	}
	return t
}

// runHandshake runs the e2e handshake on st as initiator or responder, with
// resumption when a ticket allows, and reports whether the session was
// resumed. The stream's deadline is set; r reads st.
func (n *Node) runHandshake(st network.Stream, r *bufio.Reader, cfg e2e.HandshakeConfig, initiator bool) (*e2e.Session, bool, error) {
	remote := st.Conn().RemotePeer()
	if initiator {
		return e2e.RunInitiator(r, st, cfg, n.takeTicket(store.TicketHeld, remote), time.Now())
	}
	take := func([e2e.TicketIDSize]byte) *e2e.Ticket { return n.takeTicket(store.TicketIssued, remote) }
	return e2e.RunResponder(r, st, cfg, take, time.Now())
}

// issueTicket gives the peer of a live session with a contact a ticket:
// our record is stored first, then the offer goes out in a TICKET payload.
// It runs once per session, after the peer's HELLO.
func (n *Node) issueTicket(ss *session) {
	if ss.stranger.Load() || !n.isCurrent(ss) || !n.contactFor(ss.peer, ss.fp) {
		return
	}
	offer, t, err := ss.sec.IssueTicket(time.Now())
	if err != nil {
		return
	}
	rec := t.Marshal()
	t.Wipe()
	err = n.store.PutTicket(store.TicketIssued, ss.pid, rec)
	clear(rec)
	if err != nil {
		n.log.Error("store resumption ticket", "err", err)
		return
	}
	b := recordBatch{ss: ss}
	err = b.add(func() ([]byte, error) { return ss.sec.Seal(encodeTicket(offer)) })
	if werr := b.write(); err == nil {
		err = werr
	}
	if err != nil {
		n.log.Debug("send resumption ticket", "peer_id", ss.pid, "err", err)
	}
}

// onTicket keeps the ticket the peer of a live session with a contact
// issued to us, replacing the one before. A stranger's is dropped.
func (n *Node) onTicket(ss *session, offer []byte) {
	if ss.stranger.Load() || !n.isCurrent(ss) || !n.contactFor(ss.peer, ss.fp) {
		return
	}
	t, err := ss.sec.AcceptTicket(offer, time.Now())
	if err != nil {
		n.logRemote(slog.LevelDebug, "resumption ticket refused", "peer_id", ss.pid)
		return
	}
	rec := t.Marshal()
	t.Wipe()
	if err := n.store.PutTicket(store.TicketHeld, ss.pid, rec); err != nil {
		n.log.Error("store resumption ticket", "err", err)
	}
	clear(rec)
}

// dropTickets removes both of a peer's tickets: its key changed, it was
// blocked.
func (n *Node) dropTickets(pid string) {
	if err := n.store.DeleteTickets(pid); err != nil {
		n.log.Error("delete resumption tickets", "err", err)
	}
}
