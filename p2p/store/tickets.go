package store

import "fmt"

// This file keeps resumption tickets (e2e/PROTOCOL.md, "Resumption") in two
// buckets, added in this round and created by Open in existing stores:
//
//	tickets   HMAC(peer ID) -> sealed e2e.Ticket the peer issued to us (to
//	          resume when we dial it): at most one per peer
//	issued    HMAC(peer ID) -> sealed e2e.Ticket we issued to the peer (our
//	          record, to check its resumption and use the ticket once)
//
// Values are the e2e.Ticket encoding, secret included, sealed like every
// record and bound to their place; keys are HMACs, so the file does not
// name the peers. The store does not parse tickets: p2p does.

var (
	bucketTickets = []byte("tickets")
	bucketIssued  = []byte("issued")
)

// TicketKind says which of a peer's two tickets a call means.
type TicketKind uint8

// The two kinds of tickets a node keeps per peer.
const (
	// TicketHeld is the ticket the peer issued to us.
	TicketHeld TicketKind = iota
	// TicketIssued is our record of the ticket we issued to the peer.
	TicketIssued
)

func ticketBucket(kind TicketKind) []byte {
	if kind == TicketIssued {
		return bucketIssued
	}
	return bucketTickets
}

// PutTicket stores ticket as peerID's ticket of the given kind, replacing
// the one before.
func (s *sealedStore) PutTicket(kind TicketKind, peerID string, ticket []byte) error {
	if err := s.putNamed(ticketBucket(kind), peerID, ticket); err != nil {
		return fmt.Errorf("store ticket: %w", err)
	}
	return nil
}

// TakeTicket removes peerID's ticket of the given kind and returns it, in
// one transaction: a ticket is handed out once. ok is false if there was
// none. A record that does not open is removed all the same and reported
// as [ErrCorrupt].
func (s *sealedStore) TakeTicket(kind TicketKind, peerID string) (ticket []byte, ok bool, err error) {
	b := ticketBucket(kind)
	var openErr error
	err = s.update(func(tx sealedTx) error {
		key := s.s.recordKey(b, peerID)
		pt, found, gerr := tx.getSealed(b, key)
		if derr := tx.delete(b, key); derr != nil {
			return derr
		}
		// A record that does not open is deleted, and reported: the
		// update still commits.
		ticket, ok, openErr = pt, found, gerr
		return nil
	})
	if err == nil {
		err = openErr
	}
	if err != nil {
		return nil, false, fmt.Errorf("take ticket: %w", err)
	}
	return ticket, ok, nil
}

// DeleteTickets removes both of peerID's tickets.
func (s *sealedStore) DeleteTickets(peerID string) error {
	err := s.update(func(tx sealedTx) error { return deleteTickets(tx, peerID) })
	if err != nil {
		return fmt.Errorf("delete tickets: %w", err)
	}
	return nil
}

func deleteTickets(tx sealedTx, peerID string) error {
	for _, b := range [][]byte{bucketTickets, bucketIssued} {
		if err := tx.delete(b, tx.s.recordKey(b, peerID)); err != nil {
			return err
		}
	}
	return nil
}

// ClearTickets removes every ticket, held and issued.
func (s *sealedStore) ClearTickets() error {
	err := s.update(func(tx sealedTx) error {
		for _, b := range [][]byte{bucketTickets, bucketIssued} {
			var keys [][]byte
			if err := tx.forEach(b, func(k, _ []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			}); err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.delete(b, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear tickets: %w", err)
	}
	return nil
}
