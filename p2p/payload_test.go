package p2p

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	id := [messageIDLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	at := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name string
		enc  []byte
		want payload
	}{
		{"hello", encodeHello("alice"), payload{typ: payloadHello, name: "alice"}},
		{"hello empty", encodeHello(""), payload{typ: payloadHello}},
		{"name", encodeName("bobby"), payload{typ: payloadName, name: "bobby"}},
		{"chat", encodeChat(id, at, "hi\nthere"), payload{typ: payloadChat, id: id, sentAt: at, text: "hi\nthere"}},
		{"chat empty", encodeChat(id, at, ""), payload{typ: payloadChat, id: id, sentAt: at}},
		{"chat max", encodeChat(id, at, strings.Repeat("x", MaxMessageText)), payload{typ: payloadChat, id: id, sentAt: at, text: strings.Repeat("x", MaxMessageText)}},
		{"receipt", encodeReceipt(id), payload{typ: payloadReceipt, id: id}},
	}
	offer := bytes.Repeat([]byte{0xab}, e2e.TicketOfferSize)
	if p, err := parsePayload(encodeTicket(offer)); err != nil || p.typ != payloadTicket || !bytes.Equal(p.ticket, offer) {
		t.Fatalf("ticket: %+v, %v", p, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePayload(tt.enc)
			if err != nil {
				t.Fatalf("parsePayload: %v", err)
			}
			if got.typ != tt.want.typ || got.name != tt.want.name || got.id != tt.want.id ||
				!got.sentAt.Equal(tt.want.sentAt) || got.text != tt.want.text {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHelloNameTruncated(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 100) // 200 bytes
	p, err := parsePayload(encodeHello(long))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.name) > maxNameBytes || !strings.HasPrefix(long, p.name) {
		t.Fatalf("name %q not a valid truncation", p.name)
	}
}

func TestPayloadMalformed(t *testing.T) {
	t.Parallel()
	id := [messageIDLen]byte{}
	chat := encodeChat(id, time.UnixMilli(5), "ok")
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{9, 0}},
		{"ticket short", encodeTicket(make([]byte, e2e.TicketOfferSize-1))},
		{"ticket trailing", encodeTicket(make([]byte, e2e.TicketOfferSize+1))},
		{"type zero", []byte{0}},
		{"hello no length", []byte{payloadHello}},
		{"hello short", []byte{payloadHello, 5, 'a'}},
		{"hello trailing", []byte{payloadHello, 1, 'a', 'b'}},
		{"hello too long", append([]byte{payloadHello, 200}, bytes.Repeat([]byte{'a'}, 200)...)},
		{"hello bad utf8", []byte{payloadHello, 1, 0xff}},
		{"name trailing", []byte{payloadName, 1, 'a', 'b'}},
		{"name bad utf8", []byte{payloadName, 1, 0xff}},
		{"chat short", chat[:1+messageIDLen+7]},
		{"chat bad utf8", append(bytes.Clone(chat), 0xff)},
		{"chat negative time", append(append([]byte{payloadChat}, id[:]...), 0x80, 0, 0, 0, 0, 0, 0, 0)},
		{"chat too long", encodeChat(id, time.UnixMilli(5), strings.Repeat("x", MaxMessageText+1))},
		{"receipt short", encodeReceipt(id)[:messageIDLen]},
		{"receipt trailing", append(encodeReceipt(id), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parsePayload(tt.in); err != errPayload {
				t.Fatalf("parsePayload(%x) = %v, want errPayload", tt.in, err)
			}
		})
	}
}

func FuzzParsePayload(f *testing.F) {
	id := [messageIDLen]byte{7}
	f.Add(encodeHello("bob"))
	f.Add(encodeName("bobby"))
	f.Add(encodeChat(id, time.UnixMilli(1), "hello"))
	f.Add(encodeReceipt(id))
	f.Add(encodeAddrs(sampleAddrs(f)))
	f.Add(encodeTicket(make([]byte, e2e.TicketOfferSize)))
	f.Add([]byte{})
	bundle := sampleBundle(f)
	f.Add(encodeMailbox(sampleMailboxAddrs(f), [capabilityLen]byte{9}, bundle))
	f.Add(encodePrekeys(bundle))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePayload(b)
		if err != nil {
			return
		}
		// Strict: whatever parses re-encodes to the same bytes.
		var again []byte
		switch p.typ {
		case payloadHello:
			again = encodeHello(p.name)
		case payloadName:
			again = encodeName(p.name)
		case payloadChat:
			again = encodeChat(p.id, p.sentAt, p.text)
		case payloadReceipt:
			again = encodeReceipt(p.id)
		case payloadAddrs:
			again = encodeAddrs(p.addrs)
		case payloadMailbox:
			again = encodeMailbox(p.mailboxes, p.capability, p.bundle)
		case payloadPrekeys:
			again = encodePrekeys(p.bundle)
		case payloadTicket:
			again = encodeTicket(p.ticket)
		default:
			t.Fatalf("parsed unknown type %d", p.typ)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}
