package p2p

import (
	"crypto/rand"
	"errors"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/securechat/securechat/e2e"
)

// The owner's side of offline delivery keeps, sealed in the store under
// the mailbox record "owner": the capability granted to each contact, the
// one-time prekeys handed out (with the contact that got them), the
// last-resort prekeys, and the IDs of the envelopes already opened. It is
// loaded once at start and rewritten on every change.

const (
	// prekeyBatch is how many one-time prekeys a contact gets in each
	// MAILBOX; the owner keeps two batches per contact, so that envelopes
	// sealed to the previous batch still open after a new one went out.
	prekeyBatch = 8
	keptPerPeer = 2 * prekeyBatch
	// maxSeenEnvelopes bounds the opened envelope IDs kept: a one-time
	// prekey is deleted after its envelope opens, so the list only has to
	// catch replays of last-resort envelopes, fetched in one mailbox TTL.
	maxSeenEnvelopes = 4096
	// lastResortKeep is how long a last-resort private key is kept after
	// it was made: the sender may seal to it for 14 days, the envelope may
	// then wait 30 days in the mailbox (e2e/PROTOCOL.md).
	lastResortKeep = 14*24*time.Hour + 30*24*time.Hour
)

// ownerRecord is the store name of the owner's state.
const ownerRecord = "owner"

// givenPrekey is a one-time prekey and the contact it was handed to.
type givenPrekey struct {
	peer string
	key  *e2e.PrivatePrekey
}

// ownerState is the owner's mailbox state; the node guards it with
// mailboxState.mu.
type ownerState struct {
	caps       map[string][capabilityLen]byte // contact peer ID -> capability
	oneTime    []givenPrekey                  // in the order handed out
	lastResort []*e2e.PrivatePrekey           // newest last, at least one
	seen       []e2e.EnvelopeID               // opened, newest last
	revoke     [][capabilityLen]byte          // still to revoke on the mailboxes
}

var errOwnerRecord = errors.New("p2p: damaged mailbox owner record")

// encode is the record: u8 version 1, u32 n caps × (vec8 peer ID, cap),
// u32 n × (vec8 peer ID, vec16 private prekey), u8 n × vec16 last-resort
// private prekey, u16 n × envelope ID, u32 n × capability to revoke.
// (u32 counts: thousands of contacts hold more than 65535 prekeys.)
func (o *ownerState) encode() []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	peers := make([]string, 0, len(o.caps))
	for p := range o.caps {
		peers = append(peers, p)
	}
	slices.Sort(peers)
	b.AddUint32(uint32(len(peers)))
	for _, p := range peers {
		c := o.caps[p]
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		b.AddBytes(c[:])
	}
	b.AddUint32(uint32(len(o.oneTime)))
	for _, g := range o.oneTime {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(g.peer)) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(g.key.Encode()) })
	}
	b.AddUint8(uint8(len(o.lastResort)))
	for _, k := range o.lastResort {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(k.Encode()) })
	}
	b.AddUint16(uint16(len(o.seen)))
	for _, id := range o.seen {
		b.AddBytes(id[:])
	}
	b.AddUint32(uint32(len(o.revoke)))
	for _, c := range o.revoke {
		b.AddBytes(c[:])
	}
	return b.BytesOrPanic()
}

// decodeOwner parses what encode wrote; the private prekeys must be the
// owner's (e2e.ParsePrivatePrekey checks key and signature).
func decodeOwner(raw []byte, id *e2e.Identity) (*ownerState, error) {
	s := cryptobyte.String(raw)
	o := &ownerState{caps: map[string][capabilityLen]byte{}}
	var version uint8
	var n16 uint16
	var n32 uint32
	if !s.ReadUint8(&version) || version != 1 || !s.ReadUint32(&n32) {
		return nil, errOwnerRecord
	}
	for range n32 {
		var p, c []byte
		if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&p)) || !s.ReadBytes(&c, capabilityLen) {
			return nil, errOwnerRecord
		}
		o.caps[string(p)] = [capabilityLen]byte(c)
	}
	if !s.ReadUint32(&n32) {
		return nil, errOwnerRecord
	}
	for range n32 {
		var p, k []byte
		if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&p)) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&k)) {
			return nil, errOwnerRecord
		}
		key, err := e2e.ParsePrivatePrekey(k, id)
		if err != nil || key.Public().LastResort() {
			return nil, errOwnerRecord
		}
		o.oneTime = append(o.oneTime, givenPrekey{peer: string(p), key: key})
	}
	var n8 uint8
	if !s.ReadUint8(&n8) {
		return nil, errOwnerRecord
	}
	for range n8 {
		var k []byte
		if !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&k)) {
			return nil, errOwnerRecord
		}
		key, err := e2e.ParsePrivatePrekey(k, id)
		if err != nil || !key.Public().LastResort() {
			return nil, errOwnerRecord
		}
		o.lastResort = append(o.lastResort, key)
	}
	if !s.ReadUint16(&n16) {
		return nil, errOwnerRecord
	}
	for range n16 {
		var e []byte
		if !s.ReadBytes(&e, len(e2e.EnvelopeID{})) {
			return nil, errOwnerRecord
		}
		o.seen = append(o.seen, e2e.EnvelopeID(e))
	}
	if !s.ReadUint32(&n32) {
		return nil, errOwnerRecord
	}
	for range n32 {
		var c []byte
		if !s.ReadBytes(&c, capabilityLen) {
			return nil, errOwnerRecord
		}
		o.revoke = append(o.revoke, [capabilityLen]byte(c))
	}
	if !s.Empty() {
		return nil, errOwnerRecord
	}
	return o, nil
}

// rotate makes a new last-resort prekey when the newest is older than
// e2e.LastResortRotation (or there is none), and forgets the ones no
// envelope can still need. It reports whether anything changed.
func (o *ownerState) rotate(id *e2e.Identity, now time.Time) (bool, error) {
	changed := false
	if len(o.lastResort) == 0 || now.Sub(o.lastResort[len(o.lastResort)-1].Public().Created()) >= e2e.LastResortRotation {
		k, err := e2e.GenerateLastResortPrekey(id, now)
		if err != nil {
			return false, err
		}
		o.lastResort = append(o.lastResort, k)
		changed = true
	}
	// The newest always stays; older ones until no envelope can need them.
	for len(o.lastResort) > 1 && now.Sub(o.lastResort[0].Public().Created()) > lastResortKeep {
		o.lastResort = o.lastResort[1:]
		changed = true
	}
	return changed, nil
}

// capability returns the capability of contact p, making one if it has
// none (created true).
func (o *ownerState) capability(p string) (c [capabilityLen]byte, created bool) {
	if c, ok := o.caps[p]; ok {
		return c, false
	}
	_, _ = rand.Read(c[:]) // crypto/rand.Read never fails (Go 1.24+)
	o.caps[p] = c
	return c, true
}

// issue makes a batch of one-time prekeys for contact p, and forgets p's
// oldest ones beyond keptPerPeer: a sender that still seals to those
// gets its message through the outbox instead.
func (o *ownerState) issue(id *e2e.Identity, p string, now time.Time) (*e2e.PrekeyBundle, error) {
	keys, err := e2e.GeneratePrekeys(id, prekeyBatch, now)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		o.oneTime = append(o.oneTime, givenPrekey{peer: p, key: k})
	}
	held := 0
	for i := len(o.oneTime) - 1; i >= 0; i-- {
		if o.oneTime[i].peer != p {
			continue
		}
		if held++; held > keptPerPeer {
			o.oneTime = slices.Delete(o.oneTime, i, i+1)
		}
	}
	pub := make([]*e2e.Prekey, len(keys))
	for i, k := range keys {
		pub[i] = k.Public()
	}
	return e2e.NewPrekeyBundle(id.Public(), pub, o.lastResort[len(o.lastResort)-1].Public())
}

// lookup finds the private prekey with the given ID, and the contact a
// one-time one was handed to ("" for a last-resort one).
func (o *ownerState) lookup(kid e2e.PrekeyID) (*e2e.PrivatePrekey, string) {
	for _, g := range o.oneTime {
		if g.key.ID() == kid {
			return g.key, g.peer
		}
	}
	for _, k := range o.lastResort {
		if k.ID() == kid {
			return k, ""
		}
	}
	return nil, ""
}

// opened records that envelope eid, sealed to prekey kid, was opened: a
// one-time prekey is deleted (forward secrecy, and no replay opens), and
// the envelope ID is kept to refuse a replay of a last-resort one.
func (o *ownerState) opened(eid e2e.EnvelopeID, kid e2e.PrekeyID) {
	o.oneTime = slices.DeleteFunc(o.oneTime, func(g givenPrekey) bool { return g.key.ID() == kid })
	o.seen = append(o.seen, eid)
	if len(o.seen) > maxSeenEnvelopes {
		o.seen = slices.Delete(o.seen, 0, len(o.seen)-maxSeenEnvelopes)
	}
}

// wasOpened reports whether envelope eid was opened before.
func (o *ownerState) wasOpened(eid e2e.EnvelopeID) bool {
	return slices.Contains(o.seen, eid)
}

// drop forgets contact p's capability (to be revoked on the mailboxes)
// and the one-time prekeys it holds: on block and forget.
func (o *ownerState) drop(p string) bool {
	c, ok := o.caps[p]
	if ok {
		delete(o.caps, p)
		o.revoke = append(o.revoke, c)
	}
	before := len(o.oneTime)
	o.oneTime = slices.DeleteFunc(o.oneTime, func(g givenPrekey) bool { return g.peer == p })
	return ok || len(o.oneTime) != before
}
