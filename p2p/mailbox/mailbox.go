package mailbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// ProtocolID is the libp2p protocol of the mailbox. The bytes on its
// streams are in e2e/PROTOCOL.md, section "Mailbox protocol".
const ProtocolID = "/securechat/mailbox/1.0.0"

// A Capability is a random bearer token an owner issues to one contact
// (inside their end-to-end session) and grants at its mailbox: whoever
// presents it may deposit envelopes for that owner, within the
// capability's quota, until the owner revokes it. It is a secret: it never
// prints itself, and the mailbox keeps only its [Tag].
type Capability [32]byte

// NewCapability draws a fresh capability from crypto/rand.
func NewCapability() (Capability, error) {
	var c Capability
	_, err := rand.Read(c[:])
	return c, err
}

// Tag returns SHA-256 of the capability: what the mailbox stores and
// returns with each envelope, so the owner can tell under which grant
// (that is, from which contact's capability) an envelope came, while a
// copy of the mailbox's disk does not let anyone deposit.
func (c Capability) Tag() Tag { return Tag(sha256.Sum256(c[:])) }

// String hides the capability: it shows its tag's first bytes only.
func (c Capability) String() string { return "capability:" + c.Tag().String() }

// GoString hides the capability as String does, for %#v.
func (c Capability) GoString() string { return c.String() }

// Format hides the capability as String does, for every fmt verb (%d or
// %x would otherwise print its bytes).
func (c Capability) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// A Tag is SHA-256 of a [Capability]: the name under which the mailbox
// knows a grant. It reveals nothing of the capability.
type Tag [32]byte

// String returns the first 8 bytes of the tag in hex, enough to tell
// grants apart in logs.
func (t Tag) String() string { return hex.EncodeToString(t[:8]) }

// Stored is one envelope as the owner fetches it.
type Stored struct {
	// Key is the mailbox's own random name for the envelope, which
	// [Client.Delete] takes. It is not the envelope ID.
	Key [16]byte
	// Tag is the tag of the capability the envelope was deposited under.
	Tag Tag
	// Data is the envelope, as the sender sealed it (e2e.OpenEnvelope).
	Data []byte
	// Received is when the mailbox stored it (millisecond precision).
	Received time.Time
}

// Status is an owner's queue at its mailbox.
type Status struct {
	// Waiting is the number of envelopes waiting for the owner.
	Waiting int
	// Bytes is their total size.
	Bytes int64
	// QuotaBytes is the mailbox's total quota ([ServerConfig.TotalBytes]),
	// which all its owners share.
	QuotaBytes int64
	// FreeBytes is what is left of QuotaBytes now, over all owners.
	FreeBytes int64
}

// Errors a mailbox answers with. They are distinct so that a node can tell
// its user "mailbox full" from "not your mailbox"; errors of the stream
// itself (unreachable mailbox, reset, deadline) are returned wrapped as
// they are.
var (
	// ErrNotOwner: the request needs an owner, and the authenticated
	// peer of the stream is not one of the mailbox's owners.
	ErrNotOwner = errors.New("mailbox: not an owner of this mailbox")
	// ErrCapability: the capability was never granted, was revoked, was
	// granted by an owner the mailbox no longer serves, or (on grant)
	// belongs to another owner.
	ErrCapability = errors.New("mailbox: capability not granted")
	// ErrQuota: the capability's or the mailbox's quota is full.
	ErrQuota = errors.New("mailbox: mailbox full")
	// ErrTooLarge: an envelope larger than e2e.MaxEnvelopeSize.
	ErrTooLarge = errors.New("mailbox: envelope too large")
	// ErrProtocol: a malformed request or answer, or an envelope that is
	// not a valid e2e envelope size or version.
	ErrProtocol = errors.New("mailbox: protocol error")
	// ErrUnavailable: the mailbox is busy (too many streams or requests
	// from this peer), closing, or failed to store; try again later.
	ErrUnavailable = errors.New("mailbox: unavailable, try again later")
)
