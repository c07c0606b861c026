package e2e

import (
	"encoding/binary"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the wire format of the resumption messages (PROTOCOL.md,
// section "Resumption"). Their type bytes follow the full handshake's, so
// the responder tells the two apart by the first message's first byte. The
// parsers are strict, as the full handshake's are: one encoding per message.

// Message type bytes of the resumption handshake.
const (
	msgTypeResume1 byte = 5 // initiator: ticket ID and fresh ephemeral
	msgTypeResume2 byte = 6 // responder: ephemeral and finished
	msgTypeResume3 byte = 7 // initiator finished
	msgTypeRetry   byte = 8 // responder: ticket refused, run the full handshake
)

// resume1 is the initiator's resumption hello:
//
//	type=5 | versions | ticket ID [32] | e_I [32]
type resume1 struct {
	versions []uint16
	ticketID [TicketIDSize]byte
	eph      [ephemeralSize]byte
}

func (m *resume1) marshal() []byte {
	b := []byte{msgTypeResume1}
	b = appendVersions(b, m.versions)
	b = append(b, m.ticketID[:]...)
	return append(b, m.eph[:]...)
}

func parseResume1(b []byte) (*resume1, bool) {
	s := cryptobyte.String(b)
	var typ uint8
	var m resume1
	var ok bool
	if !s.ReadUint8(&typ) || typ != msgTypeResume1 {
		return nil, false
	}
	if m.versions, ok = readVersions(&s); !ok {
		return nil, false
	}
	if !s.CopyBytes(m.ticketID[:]) || !s.CopyBytes(m.eph[:]) || !s.Empty() {
		return nil, false
	}
	return &m, true
}

// resume2 is the responder's answer when it accepts the ticket. Its body is
// everything before the finished MAC:
//
//	type=6 | chosen version u16 | versions | e_R [32] | finished_R [32]
type resume2 struct {
	version  uint16
	versions []uint16
	eph      [ephemeralSize]byte
	finished [finishedSize]byte
}

func (m *resume2) marshalBody() []byte {
	b := []byte{msgTypeResume2}
	b = binary.BigEndian.AppendUint16(b, m.version)
	b = appendVersions(b, m.versions)
	return append(b, m.eph[:]...)
}

// parseResume2 also returns the body, the transcript element before the
// finished MAC.
func parseResume2(b []byte) (m *resume2, body []byte, ok bool) {
	s := cryptobyte.String(b)
	var typ uint8
	m = &resume2{}
	if !s.ReadUint8(&typ) || typ != msgTypeResume2 || !s.ReadUint16(&m.version) {
		return nil, nil, false
	}
	if m.versions, ok = readVersions(&s); !ok {
		return nil, nil, false
	}
	if !s.CopyBytes(m.eph[:]) {
		return nil, nil, false
	}
	bodyLen := len(b) - len(s)
	if !s.CopyBytes(m.finished[:]) || !s.Empty() {
		return nil, nil, false
	}
	return m, b[:bodyLen], true
}
