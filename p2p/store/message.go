package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// MessageIDLen is the length of a message ID: the sender's 16 random bytes.
const MessageIDLen = 16

// maxText bounds a stored message text. The node refuses longer texts
// before they reach the store (64 KiB); the store's own bound only keeps
// a bug from writing records no reader would accept.
const maxText = 1 << 20

// MessageState is how far an outgoing message got. Incoming messages are
// always [StateDelivered].
type MessageState string

// Delivery states, in the order a message goes through them.
const (
	StateQueued    MessageState = "queued"    // accepted, in the outbox, not yet written to a session
	StateSent      MessageState = "sent"      // written to a session, no receipt yet
	StateDeposited MessageState = "deposited" // sealed in the peer's mailbox, no receipt yet
	StateDelivered MessageState = "delivered" // the peer's receipt arrived (or, incoming, we have it)
)

var stateCodes = map[MessageState]byte{StateQueued: 1, StateSent: 2, StateDelivered: 3, StateDeposited: 4}

func stateFromCode(b byte) (MessageState, bool) {
	for s, c := range stateCodes {
		if c == b {
			return s, true
		}
	}
	return "", false
}

// A Message is one message of a conversation, as the outbox and the history
// keep it.
type Message struct {
	// PeerID is the other end of the conversation.
	PeerID string
	// ID is the sender's message ID; a peer's IDs are unique per sender.
	ID [MessageIDLen]byte
	// FromMe is true for messages this node sent.
	FromMe bool
	// Text is the message text (sanitized, for incoming messages).
	Text string
	// SentAt is the sender's clock when the message was sent.
	SentAt time.Time
	// State is the delivery state; see [MessageState].
	State MessageState
	// Seq orders every message of the store: it is assigned when the
	// message is stored and only grows, so it is the order of sending
	// (outgoing) or arrival (incoming) within each conversation.
	Seq uint64
}

// messageEncodingV2 is the first byte of every encoded history record.
// Version 1 (schema 2) also held the delivery state; it is read only by
// [migrateV2].
const messageEncodingV2 = 2

const flagFromMe = 1 << 0

// checkMessage refuses a message no reader would accept, before any
// transaction starts.
func checkMessage(m Message) error {
	switch {
	case m.PeerID == "" || len(m.PeerID) > maxField:
		return fmt.Errorf("%w: peer ID", ErrInvalidMessage)
	case len(m.Text) > maxText:
		return fmt.Errorf("%w: text too long", ErrInvalidMessage)
	}
	return nil
}

// encodedMessageLen is the length of m's encoding.
func encodedMessageLen(m Message) int {
	return 1 + 2 + len(m.PeerID) + MessageIDLen + 1 + 8 + 12 + 4 + len(m.Text)
}

// appendMessage appends the version 2 encoding of m, a history record, to
// b. The caller has checked m with [checkMessage]; a peer ID too long for
// its length is still an error here, never a truncated record.
//
//	u8     version (2)
//	vec16  peer ID
//	[16]   message ID
//	u8     flags (bit 0: from me)
//	u64    seq
//	i64 u32  sent at: Unix seconds, nanoseconds
//	u32    text length, then the text
//
// There is no delivery state: it changes after the message is stored, and
// lives in the message's small ids entry ([idEntry]), so that marking a
// message sent or delivered never rewrites its text.
func appendMessage(b []byte, m Message) ([]byte, error) {
	var flags byte
	if m.FromMe {
		flags |= flagFromMe
	}
	b = append(b, messageEncodingV2)
	b, err := appendVec16(b, m.PeerID)
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %w", ErrInvalidMessage, err)
	}
	b = append(b, m.ID[:]...)
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = appendTime(b, m.SentAt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Text)))
	return append(b, m.Text...), nil
}

// decodeMessage parses what appendMessage produced, strictly. The State of
// the result is empty: it comes from the ids entry.
func decodeMessage(b []byte) (Message, error) {
	s := cryptobyte.String(b)
	var m Message
	var version, flags uint8
	var n uint32
	if !s.ReadUint8(&version) || version != messageEncodingV2 || !readVec16(&s, &m.PeerID) ||
		!s.CopyBytes(m.ID[:]) || !s.ReadUint8(&flags) || !s.ReadUint64(&m.Seq) ||
		!readTime(&s, &m.SentAt) || !s.ReadUint32(&n) ||
		n > maxText || int(n) != len(s) || flags&^flagFromMe != 0 || m.PeerID == "" {
		return Message{}, errMalformed
	}
	m.FromMe = flags&flagFromMe != 0
	m.Text = string(s)
	return m, nil
}

// idEntry is the value of an ids record: which history record a message ID
// of a conversation belongs to, and how far the message got. It is the
// receiver's persisted dedupe set, the sender's index from a receipt's ID
// to its history record, and the one place a message's delivery state is
// kept, so that a state change rewrites these few bytes only.
type idEntry struct {
	fromMe bool
	state  MessageState
	seq    uint64
}

// idEntryEncodingV2 is the first byte of an encoded ids entry. Version 1
// (schema 2) had no state; it is read only by [migrateV2].
const idEntryEncodingV2 = 2

// idEntryLen is the length of an encoded ids entry.
const idEntryLen = 1 + 1 + 1 + 8

// encodeIDEntry returns the version 2 encoding of e:
//
//	u8   version (2)
//	u8   flags (bit 0: from me)
//	u8   state (1 queued, 2 sent, 3 delivered; always 3 if not from me)
//	u64  seq
//
// e.state must be a known state.
func encodeIDEntry(e idEntry) []byte {
	var flags byte
	if e.fromMe {
		flags = flagFromMe
	}
	b := make([]byte, 0, idEntryLen)
	b = append(b, idEntryEncodingV2, flags, stateCodes[e.state])
	return binary.BigEndian.AppendUint64(b, e.seq)
}

// decodeIDEntry parses what encodeIDEntry produced, strictly: an incoming
// message is always delivered.
func decodeIDEntry(b []byte) (idEntry, error) {
	if len(b) != idEntryLen || b[0] != idEntryEncodingV2 || b[1]&^flagFromMe != 0 {
		return idEntry{}, errMalformed
	}
	e := idEntry{fromMe: b[1] != 0, seq: binary.BigEndian.Uint64(b[3:])}
	state, ok := stateFromCode(b[2])
	if !ok || (!e.fromMe && state != StateDelivered) {
		return idEntry{}, errMalformed
	}
	e.state = state
	return e, nil
}

// outboxPointerEncodingV2 is the first byte of an outbox record. Version 1
// (schema 2) was a second full copy of the message, text included; it is
// read only by [migrateV2].
const outboxPointerEncodingV2 = 2

// encodeOutboxPointer returns an outbox record: the message waiting for a
// receipt is the history record at the same seq, and the record names its
// conversation and message ID, so that [Store.OutboxPeers] need not open
// history records and a pointer to the wrong message is detected:
//
//	u8     version (2)
//	vec16  peer ID
//	[16]   message ID
func encodeOutboxPointer(peerID string, id [MessageIDLen]byte) ([]byte, error) {
	b := make([]byte, 0, 1+2+len(peerID)+MessageIDLen)
	b = append(b, outboxPointerEncodingV2)
	b, err := appendVec16(b, peerID)
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %w", ErrInvalidMessage, err)
	}
	return append(b, id[:]...), nil
}

// decodeOutboxPointer parses what encodeOutboxPointer produced, strictly.
func decodeOutboxPointer(b []byte) (peerID string, id [MessageIDLen]byte, err error) {
	s := cryptobyte.String(b)
	var version uint8
	if !s.ReadUint8(&version) || version != outboxPointerEncodingV2 || !readVec16(&s, &peerID) ||
		!s.CopyBytes(id[:]) || !s.Empty() || peerID == "" {
		return "", [MessageIDLen]byte{}, errMalformed
	}
	return peerID, id, nil
}
