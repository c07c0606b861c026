// Package store keeps a node's contacts, outbox and history
// at rest, sealed under a 32-byte storage key that lives in the key file.
//
// Two backends sit behind one [Store] interface: [Open] uses an embedded
// bbolt file, [OpenMemory] a map for --ephemeral runs. Both share one sealing
// layer, so what the tests prove about one holds for the other.
//
// What is protected: every record value is AES-256-GCM sealed with its bucket
// and record key as associated data, so a flipped bit or a record moved to
// another key or bucket fails with [ErrCorrupt]. Record keys are HMACs of the
// peer ID, so the file does not show whom the user talks to. The trust
// records (contacts: pins, trust levels, blocks) are also bound to each
// other by a sealed digest (trust.go), so a single one removed or rolled
// back to an older copy stops Open with [ErrTrustChanged]. What is not
// protected: the number of records, their sizes, the bucket names and when
// the file last changed; and a rollback of the whole file (or of the whole
// trust set with its digest) to an older copy goes unnoticed, since nothing
// outside the file remembers its state.
//
// Durability with bbolt (every commit an fsync): a queued or received
// message is on disk when Queue or Receive returns. Concurrent writers of
// the message path share one commit (groupcommit.go), and marking a
// message sent or delivered waits for the next commit, 100 ms at most
// (lazy.go): a crash then only sends the message again, which the peer's
// dedupe absorbs.
package store

import (
	"errors"
	"time"

	"github.com/securechat/securechat/e2e"
	"golang.org/x/crypto/cryptobyte"
)

// Trust is how far the user trusts a contact's RSA identity.
type Trust string

// Trust levels, from least to most trusted.
const (
	TrustNew      Trust = "new"      // first seen in this session: pinned now, never verified
	TrustPinned   Trust = "pinned"   // seen before with the same fingerprint (TOFU)
	TrustVerified Trust = "verified" // the user compared the fingerprint out of band
)

// A Contact is what the node remembers about one peer: its pinned identity
// (the TOFU pin), how far it is trusted, and where it was last reached.
type Contact struct {
	// PeerID is the libp2p peer ID in its string form. It is the record's
	// identity: [Store.PutContact] replaces any contact with the same PeerID.
	PeerID string
	// Fingerprint is the pinned fingerprint of the peer's signing key.
	Fingerprint e2e.Fingerprint
	// Identity is the peer's public identity ([EncodePublicIdentity]),
	// kept so that the safety number can be computed while the peer is
	// offline. It is empty (nil) until a session with the pinned key came
	// up. The node stores it only when its fingerprint is Fingerprint, and
	// checks that again before using it: the store does not.
	Identity []byte
	// Name is the nickname the peer gave (its HELLO or a later NAME).
	Name string
	// Label is the user's own name for the contact, shown instead of Name
	// on the user's screens; empty means none. Peers never see it.
	Label string
	// Trust is one of [TrustNew], [TrustPinned] or [TrustVerified].
	Trust Trust
	// Addrs are multiaddrs the peer was reached at, most useful first.
	Addrs []string
	// PendingFingerprint is zero unless the peer presented a different key
	// that awaits the user's explicit acceptance; until then sending is
	// blocked.
	PendingFingerprint e2e.Fingerprint
	// Blocked contacts are refused at the handshake.
	Blocked bool
	// FirstSeen and LastSeen are stored to the nanosecond and come back in
	// UTC, without a monotonic clock reading.
	FirstSeen, LastSeen time.Time
}

// A Store keeps contacts, the outbox and the history. Implementations are safe for concurrent use, and
// every write is atomic: after a crash a record is either old or new, never
// half written.
type Store interface {
	// Contact returns the contact with the given peer ID. The bool is false
	// if there is none. A record that fails authentication gives an error
	// matching [ErrCorrupt].
	Contact(peerID string) (Contact, bool, error)
	// PutContact adds c, or replaces the contact with the same PeerID.
	PutContact(c Contact) error
	// Contacts returns every contact, sorted by PeerID. If some records fail
	// authentication, the error matches [ErrCorrupt] and the slice still
	// holds every record that opened, so one damaged record does not hide
	// the others.
	Contacts() ([]Contact, error)
	// DeleteContact removes the contact with the given peer ID. Deleting a
	// contact that does not exist is not an error.
	DeleteContact(peerID string) error
	// Forget removes everything kept about peerID in one transaction: its
	// conversation (history, delivery states, the received index and the
	// outbox), its resumption tickets and its contact, or, when keep is not nil, puts keep in the
	// contact's place (keep.PeerID must be peerID). Forgetting a peer that
	// is not known is not an error.
	Forget(peerID string, keep *Contact) error

	// PutTicket stores peerID's resumption ticket of the given kind
	// (tickets.go), replacing the one before.
	PutTicket(kind TicketKind, peerID string, ticket []byte) error
	// TakeTicket removes peerID's ticket of the given kind and returns it
	// (ok false if there was none), in one transaction.
	TakeTicket(kind TicketKind, peerID string) (ticket []byte, ok bool, err error)
	// DeleteTickets removes both of peerID's tickets.
	DeleteTickets(peerID string) error
	// ClearTickets removes every ticket.
	ClearTickets() error

	// OwnName returns the node's own nickname as last saved by
	// SetOwnName; ok is false if none was saved.
	OwnName() (name string, ok bool, err error)
	// SetOwnName saves the node's own nickname.
	SetOwnName(name string) error

	// Queue stores an outgoing message in the outbox and in the history
	// (state queued) in one transaction, and returns it with its Seq. When
	// Queue returns nil the message is on disk (committed and synced).
	Queue(m Message) (Message, error)
	// Outbox returns peerID's messages that await a receipt, with Seq >=
	// from, in Seq order.
	Outbox(peerID string, from uint64) ([]Message, error)
	// OutboxPeers lists the peers with messages in the outbox, sorted.
	OutboxPeers() ([]string, error)
	// MarkSent moves the given outgoing messages from queued to sent in
	// the history.
	MarkSent(peerID string, ids [][MessageIDLen]byte) error
	// MarkDeposited moves the given outgoing messages from queued or sent
	// to deposited: sealed in the peer's mailbox, still awaiting a receipt.
	// It returns the IDs it changed.
	MarkDeposited(peerID string, ids [][MessageIDLen]byte) ([][MessageIDLen]byte, error)
	// Delivered handles peerID's receipt for message id: it leaves the
	// outbox and is marked delivered in the history, in one transaction.
	// The bool reports whether it was still in the outbox.
	Delivered(peerID string, id [MessageIDLen]byte) (bool, error)
	// Receive stores an incoming message in the history, unless peerID
	// sent a message with this ID before (the dedupe set is kept with the
	// history, so it survives restarts). It returns the message as stored
	// and whether it is new. The dedupe set holds the IDs of the last 4096
	// messages received from each peer: storing one more drops the oldest
	// ID from it, never a history record (see maxReceivedPerPeer for why
	// dedupe holds).
	Receive(m Message) (Message, bool, error)
	// ReceiveAll is Receive for messages that arrived together, in order,
	// in one transaction (one fsync for all): it returns them as stored
	// and which are new.
	ReceiveAll(ms []Message) ([]Message, []bool, error)
	// History returns the last limit messages of the conversation with
	// peerID (all of them if limit <= 0), oldest first.
	History(peerID string, limit int) ([]Message, error)
	// HistoryBefore is History for the messages whose Seq is below
	// before: the page that precedes one already read.
	HistoryBefore(peerID string, before uint64, limit int) ([]Message, error)

	// MailboxRecord, PutMailboxRecord and DeleteMailboxRecord keep the
	// node's offline-delivery state (mailbox.go): opaque values under
	// names the node chooses, sealed, keyed by HMAC of the name.
	MailboxRecord(name string) (value []byte, ok bool, err error)
	PutMailboxRecord(name string, value []byte) error
	DeleteMailboxRecord(name string) error

	// Close releases the store. Later calls fail with [ErrClosed]; a second
	// Close returns nil.
	Close() error
}

// Errors callers may branch on.
var (
	// ErrCorrupt means a stored record did not authenticate under the
	// storage key, or authenticated but did not decode. It is the one error
	// for every kind of damage, so that it says nothing about the bytes.
	ErrCorrupt = errors.New("store: record failed authentication")
	// ErrWrongKey means the store's meta record did not open: either the
	// storage key is not the one the store was created with, or the meta
	// record was damaged. The two cannot be told apart.
	ErrWrongKey = errors.New("store: wrong storage key or damaged store")
	// ErrSchemaTooNew means the store was written by a newer securechat
	// whose record layout this one does not know. Opening it anyway could
	// lose data, so it is refused.
	ErrSchemaTooNew = errors.New("store: written by a newer securechat; upgrade to open it")
	// ErrInUse means another process holds the store file open.
	ErrInUse = errors.New("store: in use by another process")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidContact is returned by PutContact for a contact that cannot
	// be stored: empty PeerID, unknown Trust, or a field too long to encode.
	ErrInvalidContact = errors.New("store: invalid contact")
	// ErrTrustChanged means the trust records (contacts: pins, trust
	// levels, blocks) are not the ones the store last wrote: one was
	// removed, rolled back to an older copy, added, moved or damaged
	// outside securechat. Open refuses such a store, since using it could
	// silently forget a block or a pin; see README.md for the recovery.
	ErrTrustChanged = errors.New("store: trust records were removed or rolled back")
	// ErrInvalidMessage is returned for a message that cannot be stored:
	// empty PeerID, unknown state, over-long text, or a reused ID.
	ErrInvalidMessage = errors.New("store: invalid message")
)

// EncodePublicIdentity returns pub in the form [Contact.Identity] keeps it:
// the signing key, then the wrap key, each as PKIX DER after a big-endian
// u16 length.
func EncodePublicIdentity(pub *e2e.PublicIdentity) []byte {
	sig, enc := pub.SigningKeyDER(), pub.WrapKeyDER()
	b := make([]byte, 0, 4+len(sig)+len(enc))
	b, err1 := appendVec16(b, sig)
	b, err2 := appendVec16(b, enc)
	if err1 != nil || err2 != nil {
		// e2e's key policy caps RSA at 4096 bits: a key's DER is under
		// 600 bytes.
		panic("store: public key DER over 64 KiB")
	}
	return b
}

// ParsePublicIdentity decodes what [EncodePublicIdentity] produced, strictly,
// and applies e2e's peer key policy ([e2e.ParsePublicIdentity]). It does not
// compare the identity's fingerprint with anything: a caller that reads
// [Contact.Identity] must check it against the contact's Fingerprint.
func ParsePublicIdentity(b []byte) (*e2e.PublicIdentity, error) {
	s := cryptobyte.String(b)
	var sig, enc cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&sig) || !s.ReadUint16LengthPrefixed(&enc) || !s.Empty() {
		return nil, errMalformed
	}
	return e2e.ParsePublicIdentity(sig, enc)
}
