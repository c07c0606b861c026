package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"testing"
	"testing/cryptotest"
	"time"
)

// The envelope vector: an owner's prekey bundle and one envelope sealed to
// its one-time prekey, with every input fixed. Regenerate with
// go test ./e2e -run 'TestEnvelopeVector$' -update (and review the diff).

const envelopeVectorPath = "testdata/envelope.txt"

const envelopeVectorHeader = `# securechat-v1 mailbox envelope test vector (e2e/PROTOCOL.md, section
# "Mailbox envelopes and prekeys").
#
# Made by: go test ./e2e -run 'TestEnvelopeVector$' -update
# Identities: Identity.Encode (uint16 length + PKCS #8 DER, twice), hex, in the
# files named below; the owner is b, the sender a.
# Randomness: the one-time prekey draws ID (8 bytes) then X25519 private key
# (32) from SHAKE128("securechat-v1 envelope vector one-time"), the
# last-resort prekey the same from SHAKE128("securechat-v1 envelope vector
# last-resort"); the envelope draws envelope ID (16) then ephemeral X25519
# private key (32) from SHAKE128("securechat-v1 envelope vector envelope").
# RSA-PSS salts (prekey signatures, then the sender's signature) come from
# testing/cryptotest.SetGlobalRandom(t, 1): the bundle, private prekeys and
# envelope follow Go's crypto/rsa and may need -update after a Go upgrade.
# The key schedule lines (dh, context, aead key, aead nonce) and the
# plaintext depend on nothing but the formulas.
`

// envelopeVectorTime is the clock of the vector: 2026-01-01T00:00:00Z.
var envelopeVectorTime = time.Unix(1767225600, 0)

func TestEnvelopeVector(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	owner, sender := testIdentity(t, 1), testIdentity(t, 0)
	oneTime, err := generatePrekey(shakeReader("securechat-v1 envelope vector one-time"), owner, prekeyOneTime, envelopeVectorTime)
	if err != nil {
		t.Fatal(err)
	}
	last, err := generatePrekey(shakeReader("securechat-v1 envelope vector last-resort"), owner, prekeyLastResort, envelopeVectorTime)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := NewPrekeyBundle(owner.Public(), []*Prekey{oneTime.Public()}, last.Public())
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("securechat-v1 envelope test vector: hello, offline owner")
	envRand := shakeReader("securechat-v1 envelope vector envelope")
	env, err := sealEnvelope(envRand, sender, owner.Public(), oneTime.Public(), pt, envelopeVectorTime)
	if err != nil {
		t.Fatal(err)
	}
	var draw [envelopeIDSize + 32]byte
	shakeReader("securechat-v1 envelope vector envelope").Read(draw[:])
	eph, _ := ecdh.X25519().NewPrivateKey(draw[envelopeIDSize:])
	dh, err := eph.ECDH(oneTime.priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ctx := envelopeContext(env[:envelopeHeaderSize], owner.Fingerprint(), &oneTime.pub.pub)
	key, nonce := envelopeKeys(dh, ctx)

	ownerFP, senderFP := owner.Fingerprint(), sender.Fingerprint()
	var out []kv
	add := func(k string, v []byte) { out = append(out, kv{k, hex.EncodeToString(v)}) }
	out = append(out, kv{"owner identity file", testIdentityPath("b")})
	add("owner fingerprint", ownerFP[:])
	out = append(out, kv{"sender identity file", testIdentityPath("a")})
	add("sender fingerprint", senderFP[:])
	out = append(out, kv{"time", strconv.FormatInt(envelopeVectorTime.Unix(), 10)})
	out = append(out, kv{"one-time prekey id", oneTime.ID().String()})
	add("one-time prekey", oneTime.Encode())
	out = append(out, kv{"last-resort prekey id", last.ID().String()})
	add("last-resort prekey", last.Encode())
	add("prekey bundle", bundle.Bytes())
	add("plaintext", pt)
	add("envelope id", draw[:envelopeIDSize])
	add("ephemeral private", draw[envelopeIDSize:])
	add("dh", dh)
	add("context", ctx)
	add("aead key", key[:])
	add("aead nonce", nonce[:])
	add("envelope", env)
	checkOrWriteKV(t, envelopeVectorPath, envelopeVectorHeader, out)
}

// envelopeVector is the vector file as a map of its lines.
type envelopeVector map[string]string

func loadEnvelopeVector(tb testing.TB) envelopeVector {
	tb.Helper()
	return readKVMap(tb, envelopeVectorPath)
}

func (v envelopeVector) hex(tb testing.TB, key string) []byte {
	tb.Helper()
	s, ok := v[key]
	if !ok {
		tb.Fatalf("vector lacks %q", key)
	}
	return mustHex(tb, s)
}

// owner returns the vector's owner identity and its one-time private prekey.
func (v envelopeVector) owner(tb testing.TB) (*Identity, *PrivatePrekey) {
	tb.Helper()
	owner := testIdentity(tb, 1)
	if fp := owner.Fingerprint(); !bytes.Equal(fp[:], v.hex(tb, "owner fingerprint")) {
		tb.Fatal("owner identity differs from the vector's")
	}
	k, err := ParsePrivatePrekey(v.hex(tb, "one-time prekey"), owner)
	if err != nil {
		tb.Fatalf("one-time prekey of the vector: %v", err)
	}
	return owner, k
}

// TestEnvelopeVectorOpens checks the stored vector as a known answer: the
// stored bundle parses for the owner, and the stored envelope opens with the
// stored prekey to the stored plaintext, ID, sender and time.
func TestEnvelopeVectorOpens(t *testing.T) {
	v := loadEnvelopeVector(t)
	owner, k := v.owner(t)
	b, err := ParsePrekeyBundle(v.hex(t, "prekey bundle"), owner.Public())
	if err != nil || len(b.OneTime()) != 1 || b.OneTime()[0].ID() != k.ID() || b.LastResort().ID().String() != v["last-resort prekey id"] {
		t.Fatalf("vector bundle: %v", err)
	}
	got, err := OpenEnvelope(owner, func(id PrekeyID) *PrivatePrekey {
		if id == k.ID() {
			return k
		}
		return nil
	}, v.hex(t, "envelope"))
	if err != nil {
		t.Fatalf("vector envelope: %v", err)
	}
	fp := got.Sender.Fingerprint()
	if !bytes.Equal(got.Plaintext, v.hex(t, "plaintext")) || !bytes.Equal(got.ID[:], v.hex(t, "envelope id")) ||
		!bytes.Equal(fp[:], v.hex(t, "sender fingerprint")) || strconv.FormatInt(got.Created.Unix(), 10) != v["time"] ||
		got.Prekey.String() != v["one-time prekey id"] {
		t.Fatal("vector envelope opens to something else")
	}
}

// TestEnvelopeVectorFromSpec recomputes the vector's key schedule from
// PROTOCOL.md with the standard library alone (HKDF written out from RFC
// 5869) and opens the envelope with plain AES-GCM.
func TestEnvelopeVectorFromSpec(t *testing.T) {
	v := loadEnvelopeVector(t)
	_, k := v.owner(t)
	env := v.hex(t, "envelope")
	eph, err := ecdh.X25519().NewPrivateKey(v.hex(t, "ephemeral private"))
	if err != nil {
		t.Fatal(err)
	}
	dh, err := eph.ECDH(k.priv.PublicKey())
	if err != nil || !bytes.Equal(dh, v.hex(t, "dh")) {
		t.Fatalf("dh differs: %v", err)
	}
	var ctx []byte
	ctx = binary.BigEndian.AppendUint16(ctx, uint16(len("securechat-v1 envelope")))
	ctx = append(ctx, "securechat-v1 envelope"...)
	ctx = append(ctx, env[:57]...) // version, envelope ID, prekey ID, ephemeral public key
	ctx = append(ctx, v.hex(t, "owner fingerprint")...)
	ctx = append(ctx, k.Public().pub[:]...)
	if !bytes.Equal(ctx, v.hex(t, "context")) || env[0] != 1 || !bytes.Equal(env[1:17], v.hex(t, "envelope id")) ||
		!bytes.Equal(env[25:57], eph.PublicKey().Bytes()) {
		t.Fatal("context or header differs from the spec")
	}
	// HKDF-SHA256 with a 44-byte output: two blocks of RFC 5869's Expand.
	salt := sha256.Sum256(ctx)
	m := hmac.New(sha256.New, salt[:])
	m.Write(dh)
	prk := m.Sum(nil)
	var okm, prev []byte
	for i := byte(1); len(okm) < 44; i++ {
		m = hmac.New(sha256.New, prk)
		m.Write(prev)
		m.Write([]byte("securechat-v1 envelope key"))
		m.Write([]byte{i})
		prev = m.Sum(nil)
		okm = append(okm, prev...)
	}
	if !bytes.Equal(okm[:32], v.hex(t, "aead key")) || !bytes.Equal(okm[32:44], v.hex(t, "aead nonce")) {
		t.Fatal("AEAD key or nonce differs from the spec")
	}
	block, _ := aes.NewCipher(okm[:32])
	gcm, _ := cipher.NewGCM(block)
	inner, err := gcm.Open(nil, okm[32:44], env[57:], env[:57])
	if err != nil {
		t.Fatal("AES-GCM does not open the vector envelope")
	}
	sender := testIdentity(t, 0).Public()
	want := appendVec16(appendVec16(nil, sender.SigningKeyDER()), sender.WrapKeyDER())
	want = binary.BigEndian.AppendUint64(want, uint64(envelopeVectorTime.Unix()))
	pt := v.hex(t, "plaintext")
	want = binary.BigEndian.AppendUint32(want, uint32(len(pt)))
	want = append(want, pt...)
	if !bytes.HasPrefix(inner, want) || len(env) != 2048 {
		t.Fatal("inside differs from the spec")
	}
	s := inner[len(want):]
	sigLen := int(binary.BigEndian.Uint16(s))
	if sigLen != 384 || bytes.Count(s[2+sigLen:], []byte{0}) != len(s)-2-sigLen {
		t.Fatal("signature length or padding differs from the spec")
	}
	if sender.verify("securechat-v1 envelope sender", append(ctx, want...), s[2:2+sigLen]) != nil {
		t.Fatal("sender signature does not verify over context || inside")
	}
}
