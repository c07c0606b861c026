package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Multiaddrs in libp2p's binary form, written out by hand: e2e treats them
// as opaque bytes, and p2p's tests check that these decode to the text in
// the comments.
var (
	// /ip4/198.51.100.7/tcp/4001
	maIP4TCP = hexBytes("04c633640706" + "0fa1")
	// /ip4/198.51.100.7/udp/4001/quic-v1
	maIP4QUIC = hexBytes("04c63364079102" + "0fa1" + "cd03")
	// /ip6/2001:db8::7/tcp/4001
	maIP6TCP = hexBytes("29" + "20010db8000000000000000000000007" + "06" + "0fa1")
	// /ip4/192.168.1.7/tcp/4001
	maPrivate = hexBytes("04c0a8010706" + "0fa1")
)

// maCircuit is /ip4/203.0.113.9/tcp/4001/p2p/<relay>/p2p-circuit: a relay
// circuit address (0x01a5 = p2p, 0x0122 = p2p-circuit, as varints).
func maCircuit(relay []byte) []byte {
	b := hexBytes("04cb00710906" + "0fa1" + "a503")
	b = append(b, byte(len(relay)))
	b = append(b, relay...)
	return append(b, 0xa2, 0x02)
}

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testIdentity4096 is an identity with a 4096-bit signing key, the largest
// the policy accepts, kept in testdata like the handshake identities.
var testIdentity4096 = sync.OnceValues(func() (*Identity, error) {
	return loadOrMakeIdentity("testdata/invite_identity_4096.hex", func() (*Identity, error) {
		sig, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			return nil, err
		}
		enc, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return newIdentity(sig, enc)
	})
})

func identity4096(tb testing.TB) *Identity {
	tb.Helper()
	id, err := testIdentity4096()
	if err != nil {
		tb.Fatalf("4096-bit identity: %v", err)
	}
	if id.Public().SigningKeyBits() != 4096 {
		tb.Fatalf("signing key has %d bits", id.Public().SigningKeyBits())
	}
	return id
}

// typicalAddrs is what a node behind a NAT with one relay reservation
// advertises.
func typicalAddrs(relay []byte) [][]byte {
	return [][]byte{maIP4TCP, maIP4QUIC, maIP6TCP, maCircuit(relay), maPrivate}
}

// craftInvite encodes an invite from raw fields without NewInvite's checks,
// signed by signer under label.
func craftInvite(t *testing.T, version byte, peerID, sigDER []byte, name []byte, addrs [][]byte, signer *Identity, label string) string {
	t.Helper()
	tbs := []byte{version}
	tbs = appendVec16(tbs, peerID)
	tbs = appendVec16(tbs, sigDER)
	tbs = appendVec16(tbs, name)
	tbs = append(tbs, byte(len(addrs)))
	for _, a := range addrs {
		tbs = appendVec16(tbs, a)
	}
	sig, err := signer.sign(label, tbs)
	if err != nil {
		t.Fatal(err)
	}
	return InvitePrefix + inviteEncoding.EncodeToString(appendVec16(tbs, sig))
}

func mustInvite(t *testing.T, id *Identity, peerID []byte, name string, addrs [][]byte) *Invite {
	t.Helper()
	inv, err := NewInvite(id, peerID, name, addrs)
	if err != nil {
		t.Fatalf("NewInvite: %v", err)
	}
	return inv
}

func mustRefuse(t *testing.T, what, s string) {
	t.Helper()
	if inv, err := ParseInvite(s); err != ErrInvite || inv != nil {
		t.Fatalf("%s: ParseInvite = %v, %v; want nil, ErrInvite", what, inv, err)
	}
}

func TestInviteRoundTrip(t *testing.T) {
	host := newTestHost(t, nil)
	relay := newTestHost(t, nil).peerID()
	long := strings.Repeat("é", MaxInviteName/2)
	tests := []struct {
		name  string
		id    func(testing.TB) *Identity
		nick  string
		addrs [][]byte
	}{
		{"3072 no addrs", func(tb testing.TB) *Identity { return testIdentity(tb, 0) }, "", nil},
		{"3072 typical", func(tb testing.TB) *Identity { return testIdentity(tb, 1) }, "bob", typicalAddrs(relay)},
		{"4096 typical longest name", identity4096, long, typicalAddrs(relay)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.id(t)
			inv := mustInvite(t, id, host.peerID(), tt.nick, tt.addrs)
			s := inv.Encode()
			if !strings.HasPrefix(s, InvitePrefix) || len(s) > MaxInviteLen {
				t.Fatalf("invite of %d characters, prefix %q", len(s), s[:min(len(s), 11)])
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x21 || s[i] > 0x7e {
					t.Fatalf("character %d is %#x, not printable ASCII", i, s[i])
				}
			}
			if len(inv.Addrs()) != len(tt.addrs) {
				t.Fatalf("kept %d of %d addresses", len(inv.Addrs()), len(tt.addrs))
			}
			got, err := ParseInvite(s)
			if err != nil {
				t.Fatalf("ParseInvite: %v", err)
			}
			if got.Encode() != s || !bytes.Equal(got.PeerID(), host.peerID()) || got.Name() != tt.nick ||
				got.Fingerprint() != id.Fingerprint() || !bytes.Equal(got.SigningKeyDER(), id.Public().SigningKeyDER()) {
				t.Fatalf("parsed invite differs: %+v", got)
			}
			if len(got.Addrs()) != len(tt.addrs) {
				t.Fatalf("parsed %d addresses, want %d", len(got.Addrs()), len(tt.addrs))
			}
			for i, a := range got.Addrs() {
				if !bytes.Equal(a, tt.addrs[i]) {
					t.Fatalf("address %d = %x, want %x", i, a, tt.addrs[i])
				}
			}
			t.Logf("%d-bit key, %d addresses: %d characters", id.Public().SigningKeyBits(), len(tt.addrs), len(s))
		})
	}
}

// TestInviteDropsWhatDoesNotFit: with the largest key and name, addresses
// are kept in the caller's order while they fit; one that does not fit is
// skipped, never one before it.
func TestInviteDropsWhatDoesNotFit(t *testing.T) {
	id := identity4096(t)
	peerID := newTestHost(t, nil).peerID()
	name := strings.Repeat("n", MaxInviteName)
	var addrs [][]byte
	for range 12 {
		addrs = append(addrs, maCircuit(newTestHost(t, nil).peerID()))
	}
	huge := bytes.Repeat([]byte{4}, maxInviteAddrLen+1)
	addrs = append([][]byte{maIP4TCP, huge}, addrs...)
	inv := mustInvite(t, id, peerID, name, addrs)
	kept := inv.Addrs()
	if len(kept) < 4 || len(kept) >= len(addrs)-1 {
		t.Fatalf("kept %d of %d addresses", len(kept), len(addrs))
	}
	if !bytes.Equal(kept[0], maIP4TCP) {
		t.Fatal("first address dropped")
	}
	for i, a := range kept[1:] {
		if !bytes.Equal(a, addrs[2+i]) {
			t.Fatalf("kept address %d is not the next in order", i+1)
		}
	}
	if len(inv.Encode()) > MaxInviteLen {
		t.Fatalf("invite of %d characters", len(inv.Encode()))
	}
	// A small address still fits after the circuits that did not.
	inv = mustInvite(t, id, peerID, name, append(addrs, maIP4QUIC))
	if k := inv.Addrs(); !bytes.Equal(k[len(k)-1], maIP4QUIC) {
		t.Fatal("a small last address was dropped although it fits")
	}
	// The count is capped too.
	many := make([][]byte, 3*MaxInviteAddrs)
	for i := range many {
		many[i] = maIP4TCP
	}
	if k := mustInvite(t, testIdentity(t, 0), peerID, "", many).Addrs(); len(k) != MaxInviteAddrs {
		t.Fatalf("kept %d addresses, want %d", len(k), MaxInviteAddrs)
	}
}

func TestNewInviteRefuses(t *testing.T) {
	id := testIdentity(t, 0)
	peerID := newTestHost(t, nil).peerID()
	tests := map[string]func() (*Invite, error){
		"empty peer ID":    func() (*Invite, error) { return NewInvite(id, nil, "a", nil) },
		"long peer ID":     func() (*Invite, error) { return NewInvite(id, make([]byte, maxPeerIDLen+1), "a", nil) },
		"long name":        func() (*Invite, error) { return NewInvite(id, peerID, strings.Repeat("a", MaxInviteName+1), nil) },
		"name not UTF-8":   func() (*Invite, error) { return NewInvite(id, peerID, "a\xff", nil) },
		"an empty address": func() (*Invite, error) { return NewInvite(id, peerID, "a", [][]byte{maIP4TCP, {}}) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if inv, err := f(); err == nil {
				t.Fatalf("NewInvite made %v", inv.Encode())
			}
		})
	}
}

// TestInviteTampering: every character replaced, every byte of the body
// flipped, every truncation and anything appended is ErrInvite.
func TestInviteTampering(t *testing.T) {
	relay := newTestHost(t, nil).peerID()
	s := mustInvite(t, testIdentity(t, 0), newTestHost(t, nil).peerID(), "alice", typicalAddrs(relay)).Encode()
	if _, err := ParseInvite(s); err != nil {
		t.Fatalf("control: %v", err)
	}
	t.Run("every character replaced", func(t *testing.T) {
		for i := range len(s) {
			// One substitute that is still base64url (another body) and
			// one that is not; every bit of the body is flipped below.
			for _, c := range []byte{swapBase64URL(s[i]), '\n'} {
				if c != s[i] {
					mustRefuse(t, fmt.Sprintf("character %d = %#x", i, c), s[:i]+string([]byte{c})+s[i+1:])
				}
			}
		}
	})
	t.Run("every byte of the body flipped", func(t *testing.T) {
		body, err := inviteEncoding.DecodeString(strings.TrimPrefix(s, InvitePrefix))
		if err != nil {
			t.Fatal(err)
		}
		// One bit per byte, a different one each time (every bit of a
		// body costs 8 RSA verifications per byte).
		for i := range len(body) {
			b := bytes.Clone(body)
			b[i] ^= 1 << (i % 8)
			mustRefuse(t, "bit flip", InvitePrefix+inviteEncoding.EncodeToString(b))
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for i := range len(s) {
			mustRefuse(t, "truncated", s[:i])
		}
	})
	t.Run("trailing or leading bytes", func(t *testing.T) {
		for _, x := range []string{s + "A", s + "=", s + "==", s + "\n", s + "\r\n", s + " ", " " + s, "\n" + s, s + s[len(InvitePrefix):]} {
			mustRefuse(t, "extra bytes", x)
		}
		body, _ := inviteEncoding.DecodeString(strings.TrimPrefix(s, InvitePrefix))
		mustRefuse(t, "a byte after the signature", InvitePrefix+inviteEncoding.EncodeToString(append(body, 0)))
	})
	t.Run("non-printable or non-ASCII inside", func(t *testing.T) {
		mid := len(s) / 2
		for _, x := range []string{"\x00", "\t", "\r\n", "\n", "\x7f", "é", "\u200b", "+", "/"} {
			mustRefuse(t, "inserted", s[:mid]+x+s[mid:])
		}
	})
	t.Run("prefix", func(t *testing.T) {
		rest := s[len(InvitePrefix):]
		for _, p := range []string{"", "SecureChat:", "securechat", "securechat::", "securechat-", "xsecurechat:"} {
			mustRefuse(t, "prefix", p+rest)
		}
	})
}

// TestInviteOtherIdentity: the fingerprint is the signer's, and a key and a
// signature from two identities never make an invite.
func TestInviteOtherIdentity(t *testing.T) {
	a, b := testIdentity(t, 0), testIdentity(t, 1)
	peerID := newTestHost(t, nil).peerID()
	addrs := [][]byte{maIP4TCP}
	inv, err := ParseInvite(mustInvite(t, b, peerID, "alice", addrs).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Fingerprint().Equal(a.Fingerprint()) || !inv.Fingerprint().Equal(b.Fingerprint()) {
		t.Fatal("an invite signed by b does not carry b's fingerprint")
	}
	t.Run("control", func(t *testing.T) {
		if _, err := ParseInvite(craftInvite(t, 1, peerID, a.pub.sigDER, []byte("alice"), addrs, a, inviteLabel)); err != nil {
			t.Fatal(err)
		}
	})
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallID := &Identity{sig: small, pub: &PublicIdentity{}}
	tests := map[string]string{
		"a's key, b's signature":   craftInvite(t, 1, peerID, a.pub.sigDER, []byte("alice"), addrs, b, inviteLabel),
		"a's wrap key as the key":  craftInvite(t, 1, peerID, a.pub.encDER, []byte("alice"), addrs, a, inviteLabel),
		"bundle label":             craftInvite(t, 1, peerID, a.pub.sigDER, []byte("alice"), addrs, a, bundleLabel),
		"handshake label":          craftInvite(t, 1, peerID, a.pub.sigDER, []byte("alice"), addrs, a, sigLabelInitiator),
		"1024-bit key, signed":     craftInvite(t, 1, peerID, mustPKIX(t, &small.PublicKey), []byte("alice"), addrs, smallID, inviteLabel),
		"version 2":                craftInvite(t, 2, peerID, a.pub.sigDER, []byte("alice"), addrs, a, inviteLabel),
		"empty peer ID":            craftInvite(t, 1, nil, a.pub.sigDER, []byte("alice"), addrs, a, inviteLabel),
		"long peer ID":             craftInvite(t, 1, make([]byte, maxPeerIDLen+1), a.pub.sigDER, nil, nil, a, inviteLabel),
		"long name":                craftInvite(t, 1, peerID, a.pub.sigDER, bytes.Repeat([]byte("n"), MaxInviteName+1), nil, a, inviteLabel),
		"name not UTF-8":           craftInvite(t, 1, peerID, a.pub.sigDER, []byte("al\xffce"), addrs, a, inviteLabel),
		"empty address":            craftInvite(t, 1, peerID, a.pub.sigDER, nil, [][]byte{maIP4TCP, {}}, a, inviteLabel),
		"long address":             craftInvite(t, 1, peerID, a.pub.sigDER, nil, [][]byte{make([]byte, maxInviteAddrLen+1)}, a, inviteLabel),
		"too many addresses":       craftInvite(t, 1, peerID, a.pub.sigDER, nil, make17(), a, inviteLabel),
		"over 2000 characters":     craftInvite(t, 1, peerID, a.pub.sigDER, nil, bigAddrs(5), a, inviteLabel),
		"2001 characters of noise": InvitePrefix + strings.Repeat("A", MaxInviteLen+1-len(InvitePrefix)),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) { mustRefuse(t, name, s) })
	}
}

// swapBase64URL returns another base64url character: the same letter in the
// other case, or the next digit or symbol.
func swapBase64URL(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return c ^ 0x20
	case c == '9':
		return '0'
	case '0' <= c && c <= '8':
		return c + 1
	case c == '-':
		return '_'
	case c == '_':
		return '-'
	}
	return 'A' // the prefix: any change refuses it
}

func make17() [][]byte {
	out := make([][]byte, MaxInviteAddrs+1)
	for i := range out {
		out[i] = maIP4TCP
	}
	return out
}

// bigAddrs returns n addresses of the largest size.
func bigAddrs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i + 1)}, maxInviteAddrLen)
	}
	return out
}

func mustPKIX(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestInviteSizeLimit: a body of exactly the largest size is accepted, one
// byte more is refused before it is decoded.
func TestInviteSizeLimit(t *testing.T) {
	a := testIdentity(t, 0)
	peerID := newTestHost(t, nil).peerID()
	fixed := 1 + 2 + len(peerID) + 2 + len(a.pub.sigDER) + 2 + 1 + 2 + a.sig.Size()
	room := maxInviteBody - fixed
	var addrs [][]byte
	for room > 0 {
		n := min(maxInviteAddrLen, room-2)
		addrs = append(addrs, bytes.Repeat([]byte{7}, n))
		room -= 2 + n
	}
	if room != 0 {
		t.Fatalf("cannot fill the body exactly (%d left)", room)
	}
	s := craftInvite(t, 1, peerID, a.pub.sigDER, nil, addrs, a, inviteLabel)
	if len(s) > MaxInviteLen {
		t.Fatalf("largest body makes %d characters", len(s))
	}
	if _, err := ParseInvite(s); err != nil {
		t.Fatalf("largest invite refused: %v", err)
	}
	addrs[len(addrs)-1] = append(addrs[len(addrs)-1], 7)
	mustRefuse(t, "one byte over", craftInvite(t, 1, peerID, a.pub.sigDER, nil, addrs, a, inviteLabel))
}
