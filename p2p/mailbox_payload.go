package p2p

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
)

// Offline delivery's chat payloads (e2e/PROTOCOL.md, "Chat payloads",
// MAILBOX and PREKEYS) and the plaintext inside an envelope ("Mail").
const (
	// payloadMailbox: the owner's mailboxes, the capability it granted
	// this contact on them and a fresh prekey bundle.
	payloadMailbox byte = 5
	// payloadPrekeys: a fresh prekey bundle alone, the mailboxes and the
	// capability unchanged.
	payloadPrekeys byte = 6
)

// maxMailboxes bounds the mailboxes an owner names (and --mailbox).
const maxMailboxes = 4

// capabilityLen is the length of a mailbox capability.
const capabilityLen = 32

// encodeMailbox is the MAILBOX payload: u8 count (1-4), count times u8 len
// || binary multiaddr ending in /p2p/<id>, the 32-byte capability, and the
// prekey bundle (the rest).
func encodeMailbox(addrs []multiaddr.Multiaddr, capability [capabilityLen]byte, bundle []byte) []byte {
	b := []byte{payloadMailbox, byte(len(addrs))}
	for _, a := range addrs {
		raw := a.Bytes()
		b = append(b, byte(len(raw)))
		b = append(b, raw...)
	}
	b = append(b, capability[:]...)
	return append(b, bundle...)
}

// parseMailboxBody decodes a MAILBOX body strictly: 1 to maxMailboxes
// addresses, each a multiaddr in its one binary form, printable, ending
// in /p2p/<peer-id>, none repeated; the capability; a bundle of 1 to
// e2e.MaxPrekeyBundleSize bytes, whose signatures the handler checks
// under the session's identity.
func parseMailboxBody(b []byte, p *payload) bool {
	if len(b) < 1 || b[0] == 0 || b[0] > maxMailboxes {
		return false
	}
	count := int(b[0])
	b = b[1:]
	for range count {
		if len(b) < 1 {
			return false
		}
		l := int(b[0])
		if l == 0 || len(b) < 1+l {
			return false
		}
		raw := b[1 : 1+l]
		b = b[1+l:]
		a, err := multiaddr.NewMultiaddrBytes(raw)
		if err != nil || len(a) == 0 || !bytes.Equal(a.Bytes(), raw) ||
			a[len(a)-1].Code() != multiaddr.P_P2P || !printableASCII(a.String()) ||
			slices.ContainsFunc(p.mailboxes, a.Equal) {
			return false
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return false
		}
		p.mailboxes = append(p.mailboxes, a)
	}
	if len(b) < capabilityLen {
		return false
	}
	copy(p.capability[:], b)
	return parseBundleBody(b[capabilityLen:], p)
}

// parseBundleBody takes a PREKEYS body (or MAILBOX's tail): the bundle.
func parseBundleBody(b []byte, p *payload) bool {
	if len(b) == 0 || len(b) > e2e.MaxPrekeyBundleSize {
		return false
	}
	p.bundle = bytes.Clone(b)
	return true
}

// Mail is the plaintext of an envelope: u64 seq || a CHAT or a RECEIPT
// payload. seq is the sender's outbox order of the CHAT (0 for a
// RECEIPT): the owner shows what one fetch brought in that order.
func encodeMail(seq uint64, inner []byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(inner)), seq)
	return append(b, inner...)
}

// parseMail decodes an envelope's plaintext strictly: a CHAT with a seq of
// 1 or more, or a RECEIPT with seq 0.
func parseMail(b []byte) (uint64, payload, bool) {
	if len(b) < 9 {
		return 0, payload{}, false
	}
	seq := binary.BigEndian.Uint64(b)
	p, err := parsePayload(b[8:])
	if err != nil {
		return 0, payload{}, false
	}
	switch {
	case p.typ == payloadChat && seq > 0, p.typ == payloadReceipt && seq == 0:
		return seq, p, true
	}
	return 0, payload{}, false
}
