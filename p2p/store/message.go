package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
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
	StateDelivered MessageState = "delivered" // the peer's receipt arrived (or, incoming, we have it)
)

var stateCodes = map[MessageState]byte{StateQueued: 1, StateSent: 2, StateDelivered: 3}

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

// messageEncodingV1 is the first byte of every encoded message.
const messageEncodingV1 = 1

const flagFromMe = 1 << 0

// encodeMessage returns the version 1 encoding of m:
//
//	u8     version (1)
//	vec16  peer ID
//	[16]   message ID
//	u8     flags (bit 0: from me)
//	u8     state (1 queued, 2 sent, 3 delivered)
//	u64    seq
//	i64 u32  sent at: Unix seconds, nanoseconds
//	u32    text length, then the text
func encodeMessage(m Message) ([]byte, error) {
	state, ok := stateCodes[m.State]
	switch {
	case m.PeerID == "" || len(m.PeerID) > maxField:
		return nil, fmt.Errorf("%w: peer ID", ErrInvalidMessage)
	case !ok:
		return nil, fmt.Errorf("%w: unknown state %q", ErrInvalidMessage, m.State)
	case len(m.Text) > maxText:
		return nil, fmt.Errorf("%w: text too long", ErrInvalidMessage)
	}
	var flags byte
	if m.FromMe {
		flags |= flagFromMe
	}
	b := make([]byte, 0, 48+len(m.PeerID)+len(m.Text))
	b = append(b, messageEncodingV1)
	b = appendVec16(b, m.PeerID)
	b = append(b, m.ID[:]...)
	b = append(b, flags, state)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = appendTime(b, m.SentAt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Text)))
	return append(b, m.Text...), nil
}

// decodeMessage parses what encodeMessage produced, strictly.
func decodeMessage(b []byte) (Message, error) {
	r := decoder{b: b}
	if r.u8() != messageEncodingV1 {
		return Message{}, errMalformed
	}
	var m Message
	m.PeerID = r.vec16()
	copy(m.ID[:], r.bytes(MessageIDLen))
	flags := r.u8()
	m.FromMe = flags&flagFromMe != 0
	state, ok := stateFromCode(r.u8())
	m.State = state
	m.Seq = r.u64()
	m.SentAt = r.time()
	n := r.u32()
	if n > math.MaxInt32 || int(n) != len(r.b) {
		r.fail()
	}
	m.Text = string(r.bytes(int(n)))
	if r.err || len(r.b) != 0 || !ok || flags&^flagFromMe != 0 || m.PeerID == "" {
		return Message{}, errMalformed
	}
	return m, nil
}

// idEntry is the value of an ids record: which history record a message ID
// of a conversation belongs to. It is both the receiver's persisted dedupe
// set and the sender's index from a receipt's ID to its history record.
type idEntry struct {
	fromMe bool
	seq    uint64
}

func encodeIDEntry(e idEntry) []byte {
	b := []byte{1, 0}
	if e.fromMe {
		b[1] = flagFromMe
	}
	return binary.BigEndian.AppendUint64(b, e.seq)
}

func decodeIDEntry(b []byte) (idEntry, error) {
	if len(b) != 10 || b[0] != 1 || b[1]&^flagFromMe != 0 {
		return idEntry{}, errMalformed
	}
	return idEntry{fromMe: b[1] != 0, seq: binary.BigEndian.Uint64(b[2:])}, nil
}
