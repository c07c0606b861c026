package relay

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

// Status is what a [Keeper] knows of one relay, for diagnostics: whether a
// reservation holds there now, with the limits the relay announced for
// the connections it carries, and how the last attempt went.
type Status struct {
	// Relay is the relay's peer ID.
	Relay string
	// Connected reports a live connection to the relay now.
	Connected bool
	// Reserved reports a reservation held now.
	Reserved bool
	// Expires is when the reservation ends unless refreshed (zero
	// without one).
	Expires time.Time
	// LimitDuration and LimitData are the relay's caps on one relayed
	// connection, as its last reservation announced them (0: none, or
	// not known).
	LimitDuration time.Duration
	LimitData     uint64
	// LastAttempt is when a reservation was last asked for (zero before
	// the first attempt ended).
	LastAttempt time.Time
	// LastError is why the last attempt failed, or "" if it succeeded.
	LastError string
}

// record notes the outcome of one reservation attempt on relay id.
func (k *Keeper) record(id peer.ID, rsvp *client.Reservation, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.status[id]
	if st == nil {
		return
	}
	st.LastAttempt = time.Now()
	if err != nil {
		st.LastError = err.Error()
		st.Expires = time.Time{}
		return
	}
	st.LastError = ""
	st.Expires = rsvp.Expiration
	st.LimitDuration, st.LimitData = rsvp.LimitDuration, rsvp.LimitData
}

// Status returns the state of each relay, in the order the keeper was
// given them.
func (k *Keeper) Status() []Status {
	k.mu.Lock()
	out := make([]Status, 0, len(k.relays))
	for _, r := range k.relays {
		st := *k.status[r.ID]
		st.Reserved = len(k.held[r.ID]) > 0
		if !st.Reserved {
			st.Expires = time.Time{}
		}
		out = append(out, st)
	}
	k.mu.Unlock()
	for i, r := range k.relays {
		out[i].Connected = k.h.Network().Connectedness(r.ID) == network.Connected
	}
	return out
}
