package p2p

import (
	"bytes"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
)

// sampleBundle is a real prekey bundle (one one-time prekey) of a fixture
// identity.
func sampleBundle(tb testing.TB) []byte {
	tb.Helper()
	id := mustFixtureIdentity(tb, "bob")
	now := time.Unix(1_800_000_000, 0)
	ot, err := e2e.GeneratePrekeys(id, 1, now)
	if err != nil {
		tb.Fatal(err)
	}
	lr, err := e2e.GenerateLastResortPrekey(id, now)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := e2e.NewPrekeyBundle(id.Public(), []*e2e.Prekey{ot[0].Public()}, lr.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func sampleMailboxAddrs(tb testing.TB) []multiaddr.Multiaddr {
	tb.Helper()
	return []multiaddr.Multiaddr{
		multiaddr.StringCast("/ip4/203.0.113.5/tcp/4002/p2p/12D3KooWQ9F8sDpqdhRnc3DJrqy4hc6XnZXjNhVzgvBzkYDTLf8p"),
		multiaddr.StringCast("/ip4/203.0.113.5/udp/4002/quic-v1/p2p/12D3KooWQ9F8sDpqdhRnc3DJrqy4hc6XnZXjNhVzgvBzkYDTLf8p"),
	}
}

// TestMailboxPayloadStrict: MAILBOX and PREKEYS round-trip, and every
// malformed variant is refused.
func TestMailboxPayloadStrict(t *testing.T) {
	addrs := sampleMailboxAddrs(t)
	bundle := []byte{1, 2, 3}
	capab := [capabilityLen]byte{1}
	good := encodeMailbox(addrs, capab, bundle)
	p, err := parsePayload(good)
	if err != nil || p.typ != payloadMailbox || len(p.mailboxes) != 2 || p.capability != capab || !bytes.Equal(p.bundle, bundle) {
		t.Fatalf("parse MAILBOX: %v %+v", err, p)
	}
	if p, err := parsePayload(encodePrekeys(bundle)); err != nil || !bytes.Equal(p.bundle, bundle) {
		t.Fatalf("parse PREKEYS: %v", err)
	}
	noID := multiaddr.StringCast("/ip4/203.0.113.5/tcp/4002")
	five := []multiaddr.Multiaddr{addrs[0], addrs[1], addrs[0], addrs[1], addrs[0]}
	for name, b := range map[string][]byte{
		"no mailbox":       encodeMailbox(nil, capab, bundle),
		"five mailboxes":   encodeMailbox(five, capab, bundle),
		"repeated":         encodeMailbox([]multiaddr.Multiaddr{addrs[0], addrs[0]}, capab, bundle),
		"no peer ID":       encodeMailbox([]multiaddr.Multiaddr{noID}, capab, bundle),
		"no bundle":        encodeMailbox(addrs, capab, nil),
		"short capability": good[:len(good)-len(bundle)-1],
		"huge bundle":      encodeMailbox(addrs, capab, make([]byte, e2e.MaxPrekeyBundleSize+1)),
		"empty PREKEYS":    encodePrekeys(nil),
		"huge PREKEYS":     encodePrekeys(make([]byte, e2e.MaxPrekeyBundleSize+1)),
	} {
		if _, err := parsePayload(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestMailParse: the plaintext of an envelope is a CHAT with a seq or a
// RECEIPT without one, nothing else.
func TestMailParse(t *testing.T) {
	id := [messageIDLen]byte{3}
	chat := encodeChat(id, time.UnixMilli(5), "hi")
	if seq, p, ok := parseMail(encodeMail(7, chat)); !ok || seq != 7 || p.text != "hi" {
		t.Fatalf("chat: %v %d %+v", ok, seq, p)
	}
	if _, p, ok := parseMail(encodeMail(0, encodeReceipt(id))); !ok || p.id != id {
		t.Fatalf("receipt: %v", ok)
	}
	for name, b := range map[string][]byte{
		"chat without seq": encodeMail(0, chat),
		"receipt with seq": encodeMail(1, encodeReceipt(id)),
		"hello":            encodeMail(1, encodeHello("x")),
		"short":            {0, 0, 0},
		"seq only":         encodeMail(1, nil),
	} {
		if _, _, ok := parseMail(b); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParseMail(f *testing.F) {
	id := [messageIDLen]byte{7}
	f.Add(encodeMail(1, encodeChat(id, time.UnixMilli(1), "hello")))
	f.Add(encodeMail(0, encodeReceipt(id)))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, p, ok := parseMail(b)
		if !ok {
			return
		}
		var again []byte
		switch p.typ {
		case payloadChat:
			again = encodeMail(seq, encodeChat(p.id, p.sentAt, p.text))
		case payloadReceipt:
			again = encodeMail(seq, encodeReceipt(p.id))
		default:
			t.Fatalf("mail of type %d", p.typ)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}

// encodePrekeys is the PREKEYS payload: the prekey bundle. This node never
// sends one (a new MAILBOX refills the prekeys), but a peer may.
func encodePrekeys(bundle []byte) []byte {
	return append([]byte{payloadPrekeys}, bundle...)
}
