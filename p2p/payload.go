package p2p

import (
	"encoding/binary"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
)

// Chat payloads travel inside DATA records of an end-to-end session (see the
// "chat payloads" section of e2e/PROTOCOL.md). The record layer already
// authenticates them; the codec only has to be strict, so that one payload
// has one encoding and nothing a peer sends can make us allocate or accept
// more than these limits.

// Payload types: the first byte of every chat payload.
const (
	payloadHello   byte = 1 // name: the first DATA record of each side
	payloadChat    byte = 2 // a message: id, sent_at, text
	payloadReceipt byte = 3 // "delivered": the id of a received message
	payloadAddrs   byte = 4 // the sender's dialable addresses (peeraddrs.go)
	// payloadTicket hands the peer a resumption ticket (resume.go): its
	// ID and expiry, e2e.TicketOfferSize bytes.
	payloadTicket byte = 7
	// payloadName announces a new name inside a live session (nick.go).
	// It takes the highest type below 16, apart from the types that
	// count up from 4.
	payloadName byte = 15
)

// messageIDLen is the length of a message ID: 16 random bytes.
const messageIDLen = 16

// maxNameBytes bounds a HELLO name. Names are 1-32 printable characters;
// 128 bytes leaves room for any 32 UTF-8 characters.
const maxNameBytes = 128

// errPayload is the one error for every malformed chat payload.
var errPayload = errors.New("p2p: malformed chat payload")

// payload is one decoded chat payload. Only the fields of its type are set.
type payload struct {
	typ    byte
	name   string                // hello, name
	id     [messageIDLen]byte    // chat, receipt
	sentAt time.Time             // chat, millisecond precision
	text   string                // chat
	addrs  []multiaddr.Multiaddr // addrs

	mailboxes  []multiaddr.Multiaddr // mailbox (mailbox_payload.go)
	capability [capabilityLen]byte   // mailbox
	bundle     []byte                // mailbox, prekeys: a prekey bundle
	ticket     []byte                // ticket: the e2e ticket offer
}

func encodeHello(name string) []byte { return encodeNamed(payloadHello, name) }

// encodeName is the NAME payload: HELLO's layout under its own type.
func encodeName(name string) []byte { return encodeNamed(payloadName, name) }

func encodeNamed(typ byte, name string) []byte {
	if len(name) > maxNameBytes {
		name = name[:maxNameBytes]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	b := make([]byte, 0, 2+len(name))
	b = append(b, typ, byte(len(name)))
	return append(b, name...)
}

func encodeChat(id [messageIDLen]byte, sentAt time.Time, text string) []byte {
	b := make([]byte, 0, 1+messageIDLen+8+len(text))
	b = append(b, payloadChat)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(sentAt.UnixMilli()))
	return append(b, text...)
}

func encodeReceipt(id [messageIDLen]byte) []byte {
	b := make([]byte, 0, 1+messageIDLen)
	b = append(b, payloadReceipt)
	return append(b, id[:]...)
}

// encodeTicket is the TICKET payload: an e2e ticket offer.
func encodeTicket(offer []byte) []byte { return append([]byte{payloadTicket}, offer...) }

// parsePayload decodes one chat payload. It refuses unknown types, short or
// trailing bytes, invalid UTF-8, texts over [MaxMessageText], negative
// timestamps and address lists that break parseAddrsBody's rules, all with
// errPayload.
func parsePayload(b []byte) (payload, error) {
	if len(b) == 0 {
		return payload{}, errPayload
	}
	p := payload{typ: b[0]}
	b = b[1:]
	switch p.typ {
	case payloadHello, payloadName:
		if len(b) < 1 || int(b[0]) > maxNameBytes || len(b) != 1+int(b[0]) {
			return payload{}, errPayload
		}
		name := b[1:]
		if !utf8.Valid(name) {
			return payload{}, errPayload
		}
		p.name = string(name)
	case payloadChat:
		if len(b) < messageIDLen+8 {
			return payload{}, errPayload
		}
		copy(p.id[:], b)
		ms := binary.BigEndian.Uint64(b[messageIDLen:])
		text := b[messageIDLen+8:]
		if ms > 1<<62 || len(text) > MaxMessageText || !utf8.Valid(text) {
			return payload{}, errPayload
		}
		p.sentAt = time.UnixMilli(int64(ms))
		p.text = string(text)
	case payloadReceipt:
		if len(b) != messageIDLen {
			return payload{}, errPayload
		}
		copy(p.id[:], b)
	case payloadTicket:
		if len(b) != e2e.TicketOfferSize {
			return payload{}, errPayload
		}
		p.ticket = append([]byte(nil), b...)
	case payloadAddrs:
		addrs, ok := parseAddrsBody(b)
		if !ok {
			return payload{}, errPayload
		}
		p.addrs = addrs
	case payloadMailbox:
		if !parseMailboxBody(b, &p) {
			return payload{}, errPayload
		}
	case payloadPrekeys:
		if !parseBundleBody(b, &p) {
			return payload{}, errPayload
		}
	default:
		return payload{}, errPayload
	}
	return p, nil
}
