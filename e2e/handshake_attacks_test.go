package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"testing"
)

// Active attacks on the handshake: each one must end in ErrHandshake on the
// side that is attacked, and in a handshake that stays failed.

// rewriteMsg1 parses msg, lets f change it and encodes it again.
func rewriteMsg1(t testing.TB, msg []byte, f func(*msg1)) []byte {
	t.Helper()
	m, ok := parseMsg1(msg)
	if !ok {
		t.Fatal("parseMsg1 failed on a valid message")
	}
	f(m)
	return m.marshal()
}

// rewriteMsg2 is rewriteMsg1 for message 2; the signature is kept as it was.
func rewriteMsg2(t testing.TB, msg []byte, f func(*msg2)) []byte {
	t.Helper()
	m, _, ok := parseMsg2(msg)
	if !ok {
		t.Fatal("parseMsg2 failed on a valid message")
	}
	f(m)
	return m.marshal()
}

// signWith returns an identity that holds id's wrap key and public keys but
// signs with other's key: a party that can open secrets meant for id but
// cannot sign as id.
func signWith(id, other *Identity) *Identity {
	return &Identity{sig: other.sig, enc: id.enc, pub: id.pub}
}

func TestHandshakeWrongSigner(t *testing.T) {
	a, b, c := testPeers(t)
	t.Run("responder signs with another key", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		hr.cfg.Identity = signWith(b.id, c.id)
		mustRead(t, hr, mustWrite(t, hi))
		checkFailed(t, hi, hi.ReadMessage(mustWrite(t, hr)), nil)
	})
	t.Run("initiator signs with another key", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		hi.cfg.Identity = signWith(a.id, c.id)
		mustRead(t, hr, mustWrite(t, hi))
		mustRead(t, hi, mustWrite(t, hr))
		checkFailed(t, hr, hr.ReadMessage(mustWrite(t, hi)), nil)
	})
	t.Run("bundle signed by another identity", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		forged := craftBundle(t, a, a.id.pub.sigDER, a.id.pub.encDER, func(tbs []byte) []byte {
			sig, err := c.id.sign(bundleLabel, tbs)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}, 0)
		m1 := rewriteMsg1(t, mustWrite(t, hi), func(m *msg1) { m.bundle = forged })
		checkFailed(t, hr, hr.ReadMessage(m1), nil)
	})
}

func TestHandshakeBundlePeerID(t *testing.T) {
	a, b, m := testPeers(t)
	t.Run("valid bundle of another peer", func(t *testing.T) {
		// m connects to b and presents a's bundle, which is valid but
		// names a, not the peer on b's connection.
		cfgI, _ := hsConfigs(a, b)
		_, cfgR := hsConfigs(m, b)
		hi, hr := mustHandshakes(t, cfgI, cfgR)
		checkFailed(t, hr, hr.ReadMessage(mustWrite(t, hi)), nil)
	})
	t.Run("bundle claims the remote peer ID under another host key", func(t *testing.T) {
		forged, err := NewBundle(a.id, m.peerID, a.host)
		if err != nil {
			t.Fatal(err)
		}
		mm := &testPeer{id: a.id, host: a.host, peerID: m.peerID, bundle: forged}
		hi, hr := newPair(t, mm, b)
		checkFailed(t, hr, hr.ReadMessage(mustWrite(t, hi)), nil)
	})
	t.Run("responder presents a bundle of another peer", func(t *testing.T) {
		cfgI, _ := hsConfigs(a, m)
		_, cfgR := hsConfigs(a, b)
		hi, hr := mustHandshakes(t, cfgI, cfgR)
		mustRead(t, hr, mustWrite(t, hi))
		checkFailed(t, hi, hi.ReadMessage(mustWrite(t, hr)), nil)
	})
}

// TestHandshakeRelayed has a middle party m relay bytes between a, who
// dialled m, and b, whom m dialled. Each end sees m as its remote peer, so
// the bundle it receives names the wrong peer, and the transcripts' peer IDs
// differ as well.
func TestHandshakeRelayed(t *testing.T) {
	a, b, m := testPeers(t)
	aCfg, _ := hsConfigs(a, m) // a's view: a -> m
	_, bCfg := hsConfigs(m, b) // b's view: m -> b
	t.Run("initiator's hello relayed to responder", func(t *testing.T) {
		hi, hr := mustHandshakes(t, aCfg, bCfg)
		checkFailed(t, hr, hr.ReadMessage(mustWrite(t, hi)), nil)
	})
	t.Run("responder's hello relayed to initiator", func(t *testing.T) {
		// m runs its own honest handshake with b and relays b's answer.
		mCfg, _ := hsConfigs(m, b)
		hm, hr := mustHandshakes(t, mCfg, bCfg)
		hi, err := NewInitiator(aCfg)
		if err != nil {
			t.Fatal(err)
		}
		m1 := mustWrite(t, hi)
		mustWrite(t, hm)
		mustRead(t, hr, rewriteMsg1(t, m1, func(x *msg1) { x.bundle = m.bundle.Bytes() }))
		checkFailed(t, hi, hi.ReadMessage(mustWrite(t, hr)), nil)
	})
	t.Run("prologues differ", func(t *testing.T) {
		ta, tb := newTranscript(a.peerID, m.peerID), newTranscript(m.peerID, b.peerID)
		if ta.sum() == tb.sum() {
			t.Fatal("relayed transcripts hash alike")
		}
	})
}

func TestHandshakeReflection(t *testing.T) {
	a, b, c := testPeers(t)
	rec := recordHandshake(t, a, b)
	tests := []struct {
		name string
		to   func() *Handshake
		msg  []byte
	}{
		{"initiator's message 1 back to it", func() *Handshake { return rec.receiver(1) }, rec.msgs[0]},
		{"initiator's message 3 back to it", func() *Handshake { return rec.receiver(3) }, rec.msgs[2]},
		{"responder's message 2 to another responder", func() *Handshake {
			_, hr := newPair(t, a, c)
			return hr
		}, rec.msgs[1]},
		{"responder's message 2 to a responder awaiting message 3", func() *Handshake { return rec.receiver(2) }, rec.msgs[1]},
		{"responder's message 4 to a responder", func() *Handshake { return rec.receiver(2) }, rec.msgs[3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.to()
			checkFailed(t, h, h.ReadMessage(tt.msg), nil)
		})
	}
}

func TestHandshakeReplay(t *testing.T) {
	a, b, _ := testPeers(t)
	old := recordHandshake(t, a, b)
	t.Run("message 2 from an older handshake", func(t *testing.T) {
		hi, _ := newPair(t, a, b)
		mustWrite(t, hi)
		checkFailed(t, hi, hi.ReadMessage(old.msgs[1]), nil)
	})
	t.Run("messages 1 and 3 from an older handshake", func(t *testing.T) {
		// Message 1 is not yet authenticated when it arrives, so the
		// replay is accepted; the old message 3 signs the old transcript,
		// whose responder half differs, and is refused.
		_, hr := newPair(t, a, b)
		mustRead(t, hr, old.msgs[0])
		mustWrite(t, hr)
		checkFailed(t, hr, hr.ReadMessage(old.msgs[2]), nil)
	})
	t.Run("message 4 from an older handshake", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		mustRead(t, hr, mustWrite(t, hi))
		mustRead(t, hi, mustWrite(t, hr))
		mustRead(t, hr, mustWrite(t, hi))
		checkFailed(t, hi, hi.ReadMessage(old.msgs[3]), nil)
	})
}

func TestHandshakeVersions(t *testing.T) {
	a, b, _ := testPeers(t)
	v1, v12, v2 := []uint16{1}, []uint16{1, 2}, []uint16{2}
	tests := []struct {
		name      string
		vi, vr    []uint16
		attack1   func(*msg1) // rewrites message 1 in transit
		attack2   func(*msg2) // rewrites message 2 in transit
		pickLower bool        // responder chooses 1 although 2 is common
		want      uint16      // negotiated version, 0 if it must fail
		respFails bool        // the responder, not the initiator, refuses
	}{
		{name: "both offer 1 and 2", vi: v12, vr: v12, want: 2},
		{name: "initiator offers only 1", vi: v1, vr: v12, want: 1},
		{name: "responder offers only 1", vi: v12, vr: v1, want: 1},
		{name: "nothing in common", vi: v2, vr: v1, respFails: true},
		{name: "version 2 stripped from message 1", vi: v12, vr: v12,
			attack1: func(m *msg1) { m.versions = v1 }},
		{name: "version 2 stripped from both lists", vi: v12, vr: v12,
			attack1: func(m *msg1) { m.versions = v1 },
			attack2: func(m *msg2) { m.versions = v1 }},
		{name: "chosen version lowered in message 2", vi: v12, vr: v12,
			attack2: func(m *msg2) { m.version = 1 }},
		{name: "responder picks a lower version", vi: v12, vr: v12, pickLower: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hi, hr := newPair(t, a, b)
			hi.versions, hr.versions = tt.vi, tt.vr
			m1 := mustWrite(t, hi)
			if tt.attack1 != nil {
				m1 = rewriteMsg1(t, m1, tt.attack1)
			}
			if tt.respFails {
				checkFailed(t, hr, hr.ReadMessage(m1), nil)
				return
			}
			mustRead(t, hr, m1)
			if tt.pickLower {
				hr.version = 1
			}
			m2 := mustWrite(t, hr)
			if tt.attack2 != nil {
				m2 = rewriteMsg2(t, m2, tt.attack2)
			}
			if tt.want == 0 {
				checkFailed(t, hi, hi.ReadMessage(m2), nil)
				return
			}
			mustRead(t, hi, m2)
			mustRead(t, hr, mustWrite(t, hi))
			mustRead(t, hi, mustWrite(t, hr))
			if !hi.Done() || hi.version != tt.want || hr.version != tt.want {
				t.Fatalf("negotiated %d and %d, want %d", hi.version, hr.version, tt.want)
			}
		})
	}
}

// craftBundle builds a bundle for p's peer ID and host key around arbitrary
// public key DER, with a valid host signature and the identity signature
// sign returns, so that only the keys themselves can cause a refusal.
// pad bytes are appended to the host signature, for a verifier that allows
// them (lenientVerifyHost).
func craftBundle(t testing.TB, p *testPeer, sigDER, encDER []byte, sign func(tbs []byte) []byte, pad int) []byte {
	t.Helper()
	hostKey := p.host.PublicKey()
	tbs := bundleTBS(p.peerID, sigDER, encDER, hostKey)
	hostSig, _ := p.host.Sign(hostSignedBytes(tbs))
	hostSig = append(hostSig, make([]byte, pad)...)
	raw := []byte{bundleVersion}
	for _, v := range [][]byte{p.peerID, sigDER, encDER, hostKey, sign(tbs), hostSig} {
		raw = appendVec16(raw, v)
	}
	return raw
}

// oddKeyDER returns the PKIX DER of an RSA public key whose modulus is a
// random odd number of exactly bits bits. It need not be a real modulus:
// the policy must refuse it before any arithmetic.
func oddKeyDER(t testing.TB, bits, e int) []byte {
	t.Helper()
	buf := make([]byte, (bits+7)/8)
	rand.Read(buf)
	n := new(big.Int).SetBytes(buf)
	n.Rsh(n, uint(len(buf)*8-bits))
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: e})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHandshakePeerKeyPolicy(t *testing.T) {
	a, b, _ := testPeers(t)
	junkSig := func([]byte) []byte { s := make([]byte, 384); rand.Read(s); return s }
	realSig := func(tbs []byte) []byte { s, _ := a.id.sign(bundleLabel, tbs); return s }
	good := a.id.pub
	t.Run("control: crafted bundle with valid keys passes", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		raw := craftBundle(t, a, good.sigDER, good.encDER, realSig, 0)
		mustRead(t, hr, rewriteMsg1(t, mustWrite(t, hi), func(m *msg1) { m.bundle = raw }))
	})
	keys := []struct {
		name    string
		bits, e int
	}{
		{"1024 bits", 1024, 65537},
		{"2047 bits", 2047, 65537},
		{"4097 bits", 4097, 65537},
		{"8192 bits", 8192, 65537},
		{"16384 bits", 16384, 65537},
		{"e=3", 3072, 3},
	}
	for _, k := range keys {
		bad := oddKeyDER(t, k.bits, k.e)
		for _, which := range []string{"signing", "wrap"} {
			sigDER, encDER := bad, good.encDER
			if which == "wrap" {
				sigDER, encDER = good.sigDER, bad
			}
			raw := craftBundle(t, a, sigDER, encDER, junkSig, 0)
			t.Run(k.name+" "+which+" key from initiator", func(t *testing.T) {
				hi, hr := newPair(t, a, b)
				m1 := rewriteMsg1(t, mustWrite(t, hi), func(m *msg1) { m.bundle = raw })
				checkFailed(t, hr, hr.ReadMessage(m1), nil)
			})
			t.Run(k.name+" "+which+" key from responder", func(t *testing.T) {
				hi, hr := newPair(t, b, a) // a is the responder now
				mustRead(t, hr, mustWrite(t, hi))
				m2 := rewriteMsg2(t, mustWrite(t, hr), func(m *msg2) { m.bundle = raw })
				checkFailed(t, hi, hi.ReadMessage(m2), nil)
			})
		}
	}
}

// lowOrderPoints are the X25519 public keys that give an all-zero shared
// secret for every private key: the points of order 1, 2, 4 and 8 and their
// non-canonical encodings (RFC 7748 section 6.1; Wycheproof x25519 tests;
// libsodium's blocklist).
var lowOrderPoints = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}

func TestHandshakeLowOrderPoints(t *testing.T) {
	a, b, _ := testPeers(t)
	t.Run("control: a valid point is accepted", func(t *testing.T) {
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		hi, hr := newPair(t, a, b)
		mustRead(t, hr, rewriteMsg1(t, mustWrite(t, hi), func(m *msg1) { copy(m.eph[:], k.PublicKey().Bytes()) }))
	})
	for _, p := range lowOrderPoints {
		point, err := hex.DecodeString(p)
		if err != nil || len(point) != 32 {
			t.Fatalf("bad test point %s", p)
		}
		t.Run("e_I="+p[:8]+p[62:], func(t *testing.T) {
			hi, hr := newPair(t, a, b)
			m1 := rewriteMsg1(t, mustWrite(t, hi), func(m *msg1) { copy(m.eph[:], point) })
			checkFailed(t, hr, hr.ReadMessage(m1), nil)
		})
		t.Run("e_R="+p[:8]+p[62:], func(t *testing.T) {
			// The responder itself sends the point and signs it, so
			// only the initiator's DH check can refuse it.
			hi, hr := newPair(t, a, b)
			mustRead(t, hr, mustWrite(t, hi))
			copy(hr.ephPub[:], point)
			checkFailed(t, hi, hi.ReadMessage(mustWrite(t, hr)), nil)
		})
	}
}

// lenientVerifyHost accepts host signatures with trailing bytes, which lets a
// test build a genuine message 1 of any size.
func lenientVerifyHost(peerID, hostKey, msg, sig []byte) error {
	return testVerifyHost(peerID, hostKey, msg, sig[:min(len(sig), 64)])
}

// TestHandshakeMessageSizeLimit feeds a genuine, valid message 1 of exactly
// MaxHandshakeMessage bytes, which must pass, and one byte longer, which
// must be refused on its size alone.
func TestHandshakeMessageSizeLimit(t *testing.T) {
	a, b, _ := testPeers(t)
	realSig := func(tbs []byte) []byte { s, _ := a.id.sign(bundleLabel, tbs); return s }
	for _, size := range []int{MaxHandshakeMessage, MaxHandshakeMessage + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfgI, cfgR := hsConfigs(a, b)
			cfgR.VerifyHost = lenientVerifyHost
			hi, hr := mustHandshakes(t, cfgI, cfgR)
			m1 := mustWrite(t, hi)
			raw := craftBundle(t, a, a.id.pub.sigDER, a.id.pub.encDER, realSig, size-len(m1))
			m1 = rewriteMsg1(t, m1, func(m *msg1) { m.bundle = raw })
			if len(m1) != size {
				t.Fatalf("built %d bytes, want %d", len(m1), size)
			}
			err := hr.ReadMessage(m1)
			if size <= MaxHandshakeMessage {
				if err != nil {
					t.Fatalf("message of %d bytes refused: %v", size, err)
				}
				return
			}
			checkFailed(t, hr, err, nil)
		})
	}
}

// TestHandshakeMalformedMessages checks the strict parsers on encodings that
// are well-formed enough to reach each check.
func TestHandshakeMalformedMessages(t *testing.T) {
	seq := func(n int) []uint16 {
		vs := make([]uint16, n)
		for i := range vs {
			vs[i] = uint16(i + 1)
		}
		return vs
	}
	m1 := func(vs []uint16, bundle []byte) []byte {
		return (&msg1{versions: vs, bundle: bundle}).marshal()
	}
	m2 := func(vs []uint16, bundle, wrapped, sig []byte) []byte {
		return (&msg2{version: 1, versions: vs, bundle: bundle, wrapped: wrapped, sig: sig}).marshal()
	}
	x := []byte{1}
	tests := []struct {
		name  string
		msg   []byte
		parse func([]byte) bool
		ok    bool
	}{
		{"msg1 control", m1(seq(maxVersions), x), parse1, true},
		{"msg1 no versions", m1(nil, x), parse1, false},
		{"msg1 too many versions", m1(seq(maxVersions+1), x), parse1, false},
		{"msg1 version 0", m1([]uint16{0, 1}, x), parse1, false},
		{"msg1 duplicate version", m1([]uint16{1, 1}, x), parse1, false},
		{"msg1 descending versions", m1([]uint16{2, 1}, x), parse1, false},
		{"msg1 empty bundle", m1(seq(1), nil), parse1, false},
		{"msg2 control", m2(seq(2), x, x, x), parse2, true},
		{"msg2 duplicate version", m2([]uint16{1, 1}, x, x, x), parse2, false},
		{"msg2 empty bundle", m2(seq(1), nil, x, x), parse2, false},
		{"msg2 empty wrapped secret", m2(seq(1), x, nil, x), parse2, false},
		{"msg2 empty signature", m2(seq(1), x, x, nil), parse2, false},
		{"msg3 control", (&msg3{wrapped: x, sig: x}).marshal(), parse3, true},
		{"msg3 empty wrapped secret", (&msg3{sig: x}).marshal(), parse3, false},
		{"msg3 empty signature", (&msg3{wrapped: x}).marshal(), parse3, false},
		{"msg4 control", (&msg4{}).marshal(), parse4, true},
		{"msg4 as msg3", (&msg4{}).marshal(), parse3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.parse(tt.msg); got != tt.ok {
				t.Fatalf("parse = %v, want %v", got, tt.ok)
			}
		})
	}
}

func parse1(b []byte) bool { _, ok := parseMsg1(b); return ok }
func parse2(b []byte) bool { _, _, ok := parseMsg2(b); return ok }
func parse3(b []byte) bool { _, _, ok := parseMsg3(b); return ok }
func parse4(b []byte) bool { _, ok := parseMsg4(b); return ok }
