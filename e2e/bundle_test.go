package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// bundleFields is a decoded bundle, so tests can re-encode it with one field
// swapped.
type bundleFields struct {
	version                                          byte
	peerID, sigDER, encDER, hostKey, sigSig, hostSig []byte
}

func splitBundle(t *testing.T, raw []byte) bundleFields {
	t.Helper()
	s := cryptobyte.String(raw)
	var f bundleFields
	if !s.ReadUint8(&f.version) || !readVec16(&s, &f.peerID) || !readVec16(&s, &f.sigDER) ||
		!readVec16(&s, &f.encDER) || !readVec16(&s, &f.hostKey) || !readVec16(&s, &f.sigSig) ||
		!readVec16(&s, &f.hostSig) || !s.Empty() {
		t.Fatal("cannot split bundle")
	}
	return f
}

func (f bundleFields) encode() []byte {
	b := []byte{f.version}
	for _, v := range [][]byte{f.peerID, f.sigDER, f.encDER, f.hostKey, f.sigSig, f.hostSig} {
		b = appendVec16(b, v)
	}
	return b
}

func isBundleError(err error) bool {
	return errors.Is(err, ErrBundle) || errors.Is(err, ErrKeyPolicy)
}

func TestBundleRoundTrip(t *testing.T) {
	p := newTestPeerWith(t, 0, bytes.Repeat([]byte{1}, 32))
	got, err := ParseBundle(p.bundle.Bytes(), testVerifyHost)
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	if !bytes.Equal(got.PeerID(), p.peerID) || !got.Identity().Equal(p.id.Public()) ||
		!bytes.Equal(got.Bytes(), p.bundle.Bytes()) {
		t.Fatal("parsed bundle differs")
	}
	if !bytes.Equal(p.bundle.PeerID(), p.peerID) || p.bundle.Identity() != p.id.Public() {
		t.Fatal("NewBundle accessors")
	}
	// The parsed bundle owns its bytes.
	raw := bytes.Clone(p.bundle.Bytes())
	got2, _ := ParseBundle(raw, testVerifyHost)
	raw[5] ^= 0xff
	if !bytes.Equal(got2.Bytes(), p.bundle.Bytes()) {
		t.Fatal("parsed bundle aliases its input")
	}
}

func TestBundleEveryByteFlipped(t *testing.T) {
	p := newTestPeerWith(t, 0, nil)
	raw := p.bundle.Bytes()
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := ParseBundle(bad, testVerifyHost); !isBundleError(err) {
			t.Fatalf("byte %d flipped: got %v", i, err)
		}
	}
}

func TestBundleTruncatedAndExtended(t *testing.T) {
	raw := newTestPeerWith(t, 0, nil).bundle.Bytes()
	for n := range len(raw) {
		if _, err := ParseBundle(raw[:n], testVerifyHost); !isBundleError(err) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := ParseBundle(append(bytes.Clone(raw), 0), testVerifyHost); !errors.Is(err, ErrBundle) {
		t.Fatalf("trailing byte: got %v", err)
	}
}

// otherHostSigner claims one host key but signs with another.
type otherHostSigner struct{ claimed, signer *testHost }

func (o otherHostSigner) PublicKey() []byte               { return o.claimed.PublicKey() }
func (o otherHostSigner) Sign(msg []byte) ([]byte, error) { return o.signer.Sign(msg) }

func TestBundleForgeries(t *testing.T) {
	a := newTestPeerWith(t, 0, nil)
	b := newTestPeerWith(t, 1, nil)
	af := splitBundle(t, a.bundle.Bytes())
	bf := splitBundle(t, b.bundle.Bytes())

	mustNew := func(id *Identity, peerID []byte, h HostSigner) []byte {
		bu, err := NewBundle(id, peerID, h)
		if err != nil {
			t.Fatal(err)
		}
		return bu.Bytes()
	}
	tests := map[string][]byte{
		// The host signature is made by another key than the one named.
		"wrong host signature": mustNew(a.id, a.peerID, otherHostSigner{claimed: a.host, signer: b.host}),
		// A's identity claims B's peer ID, host-signed by A's host key.
		"another peer ID": mustNew(a.id, b.peerID, a.host),
		// A's identity claims B's peer ID and B's host key, but B's host
		// never signed it (A cannot).
		"another host key": mustNew(a.id, b.peerID, otherHostSigner{claimed: b.host, signer: a.host}),
	}
	// B's host cross-signs A's identity without A's consent: A's identity
	// signature covers A's peer ID and host key, so the splice fails.
	splice := af
	splice.peerID, splice.hostKey = b.peerID, b.host.PublicKey()
	tbs := bundleTBS(splice.peerID, splice.sigDER, splice.encDER, splice.hostKey)
	splice.hostSig, _ = b.host.Sign(hostSignedBytes(tbs))
	tests["A's identity under B's peer ID and host"] = splice.encode()
	// B's keys with A's signatures, and the other way round.
	mixed := af
	mixed.sigDER, mixed.encDER = bf.sigDER, bf.encDER
	tests["B's keys, A's signatures"] = mixed.encode()
	wrap := af
	wrap.encDER = bf.encDER
	tests["B's wrap key under A's signing key"] = wrap.encode()
	sigs := af
	sigs.sigSig = bf.sigSig
	tests["B's identity signature"] = sigs.encode()
	v2 := af
	v2.version = 2
	tests["version 2"] = v2.encode()
	empty := af
	empty.peerID = nil
	tests["empty peer ID"] = empty.encode()
	long := af
	long.hostKey = make([]byte, maxHostKeyLen+1)
	tests["host key too long"] = long.encode()

	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseBundle(raw, testVerifyHost); !errors.Is(err, ErrBundle) {
				t.Fatalf("got %v, want ErrBundle", err)
			}
		})
	}
	if _, err := ParseBundle(a.bundle.Bytes(), nil); !errors.Is(err, ErrBundle) {
		t.Fatalf("nil verifier: got %v", err)
	}
	if _, err := ParseBundle(splitBundle(t, a.bundle.Bytes()).encode(), testVerifyHost); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestBundleKeyPolicy(t *testing.T) {
	f := splitBundle(t, newTestPeerWith(t, 0, nil).bundle.Bytes())
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	f.sigDER, _ = x509.MarshalPKIXPublicKey(&small.PublicKey)
	if _, err := ParseBundle(f.encode(), testVerifyHost); !errors.Is(err, ErrKeyPolicy) {
		t.Fatalf("1024-bit key: got %v, want ErrKeyPolicy", err)
	}
	f.sigDER = craftRSAPublicDER(t, 16384, 65537)
	if _, err := ParseBundle(f.encode(), testVerifyHost); !errors.Is(err, ErrKeyPolicy) {
		t.Fatalf("16384-bit key: got %v, want ErrKeyPolicy", err)
	}
}

func TestNewBundleRefuses(t *testing.T) {
	id := testIdentity(t, 0)
	h := newTestHost(t, nil)
	for name, peerID := range map[string][]byte{"empty": nil, "too long": make([]byte, maxPeerIDLen+1)} {
		if _, err := NewBundle(id, peerID, h); err == nil {
			t.Errorf("%s peer ID accepted", name)
		}
	}
	if _, err := NewBundle(id, h.peerID(), failingHost{h}); err == nil {
		t.Error("host signing failure ignored")
	}
}

type failingHost struct{ *testHost }

func (failingHost) Sign([]byte) ([]byte, error) { return nil, errors.New("no") }

func FuzzParseBundle(f *testing.F) {
	f.Add(newTestPeerWith(f, 0, bytes.Repeat([]byte{1}, 32)).bundle.Bytes())
	f.Add(newTestPeerWith(f, 1, bytes.Repeat([]byte{2}, 32)).bundle.Bytes())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ParseBundle(raw, testVerifyHost)
		if err != nil {
			if !isBundleError(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(b.Bytes(), raw) {
			t.Fatal("Bytes differ from the parsed input")
		}
		if !bytes.Equal(b.PeerID(), testPeerIDOf(splitBundle(t, raw).hostKey)) {
			t.Fatal("accepted a bundle whose peer ID is not its host key's")
		}
	})
}
