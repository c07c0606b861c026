package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
)

// envelopeFixture is an owner (identity 1) with prekeys, a sender
// (identity 0) and a third identity (2) that is neither.
type envelopeFixture struct {
	owner, sender, other *Identity
	oneTime              []*PrivatePrekey
	last                 *PrivatePrekey
	keys                 map[PrekeyID]*PrivatePrekey
}

func newEnvelopeFixture(t *testing.T, n int) *envelopeFixture {
	t.Helper()
	f := &envelopeFixture{owner: testIdentity(t, 1), sender: testIdentity(t, 0), other: testIdentity(t, 2)}
	f.oneTime, f.last, _ = testPrekeys(t, f.owner, n)
	f.keys = map[PrekeyID]*PrivatePrekey{f.last.ID(): f.last}
	for _, k := range f.oneTime {
		f.keys[k.ID()] = k
	}
	return f
}

func (f *envelopeFixture) lookup(id PrekeyID) *PrivatePrekey { return f.keys[id] }

func (f *envelopeFixture) seal(t *testing.T, prekey *Prekey, pt []byte) []byte {
	t.Helper()
	env, err := SealEnvelope(f.sender, f.owner.Public(), prekey, pt, testNow)
	if err != nil {
		t.Fatalf("SealEnvelope(%d bytes): %v", len(pt), err)
	}
	return env
}

// envelopeOverhead is what an envelope from sender adds to the plaintext
// before padding, computed from PROTOCOL.md.
func envelopeOverhead(sender *Identity) int {
	p := sender.Public()
	return envelopeHeaderSize + envelopeTagSize + 2 + len(p.SigningKeyDER()) + 2 + len(p.WrapKeyDER()) +
		8 + 4 + 2 + p.sig.Size()
}

func TestEnvelopeRoundTrip(t *testing.T) {
	f := newEnvelopeFixture(t, 1)
	over := envelopeOverhead(f.sender)
	sizes := []int{1, MaxEnvelopePlaintext}
	for b := 2 * MinEnvelopeSize; b <= MaxEnvelopeSize; b *= 2 {
		if p := b - over; p >= 1 && p < MaxEnvelopePlaintext {
			sizes = append(sizes, p, p+1)
		}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := make([]byte, n)
			rand.Read(pt)
			env := f.seal(t, f.last.Public(), pt)
			if want := envelopeBucket(over + n); len(env) != want || want == 0 {
				t.Fatalf("%d-byte plaintext gives %d bytes, want bucket %d", n, len(env), want)
			}
			got, err := OpenEnvelope(f.owner, f.lookup, env)
			if err != nil {
				t.Fatalf("OpenEnvelope: %v", err)
			}
			id, pid, _ := EnvelopeHeader(env)
			if !bytes.Equal(got.Plaintext, pt) || !got.Sender.Equal(f.sender.Public()) ||
				!got.Created.Equal(testNow) || got.ID != id || got.Prekey != f.last.ID() || pid != got.Prekey {
				t.Fatal("opened envelope differs from what was sealed")
			}
		})
	}
	for _, n := range []int{0, MaxEnvelopePlaintext + 1} {
		if _, err := SealEnvelope(f.sender, f.owner.Public(), f.last.Public(), make([]byte, n), testNow); err == nil {
			t.Errorf("sealed a %d-byte plaintext", n)
		}
	}
}

// TestEnvelopePadding: every plaintext size within a bucket gives the same
// envelope size, and the first size past it the next bucket.
func TestEnvelopePadding(t *testing.T) {
	f := newEnvelopeFixture(t, 0)
	over := envelopeOverhead(f.sender)
	edge := 2*MinEnvelopeSize - over // the largest plaintext of the 2 KiB bucket
	for _, c := range []struct {
		sizes []int
		want  int
	}{
		{[]int{1, 100, edge}, 2 * MinEnvelopeSize},
		{[]int{edge + 1, 2000, 4*MinEnvelopeSize - over}, 4 * MinEnvelopeSize},
	} {
		for _, n := range c.sizes {
			if env := f.seal(t, f.last.Public(), make([]byte, n)); len(env) != c.want {
				t.Errorf("%d bytes: envelope of %d, want %d", n, len(env), c.want)
			}
		}
	}
	for n, want := range map[int]int{0: 1024, 1024: 1024, 1025: 2048, 70000: 128 << 10, 128<<10 + 1: 0} {
		if got := envelopeBucket(n); got != want {
			t.Errorf("envelopeBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestEnvelopeTamper: every flipped bit position of every byte, a cut and an
// extension all give the one error.
func TestEnvelopeTamper(t *testing.T) {
	f := newEnvelopeFixture(t, 0)
	env := f.seal(t, f.last.Public(), []byte("meet at noon"))
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 1 << (i % 8)
		if _, err := OpenEnvelope(f.owner, f.lookup, bad); err != ErrEnvelope {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, bad := range [][]byte{env[:len(env)-1], env[:len(env)/2], env[:envelopeHeaderSize],
		append(bytes.Clone(env), 0), append(bytes.Clone(env), env...), nil} {
		if _, err := OpenEnvelope(f.owner, f.lookup, bad); err != ErrEnvelope {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
}

func TestEnvelopeRefused(t *testing.T) {
	f := newEnvelopeFixture(t, 2)
	_, otherLast, _ := testPrekeys(t, f.other, 0)
	pt := []byte("hello")
	env := f.seal(t, f.oneTime[0].Public(), pt)

	// The same bytes under another owner: sealed to identity 2's prekey.
	toOther, err := SealEnvelope(f.sender, f.other.Public(), otherLast.Public(), pt, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// Its prekey ID rewritten to one the owner holds: the key and the
	// context differ.
	renamed := bytes.Clone(env)
	binary.BigEndian.PutUint64(renamed[1+envelopeIDSize:], uint64(f.oneTime[1].ID()))

	cases := []struct {
		name   string
		owner  *Identity
		lookup func(PrekeyID) *PrivatePrekey
		env    []byte
	}{
		{"opened by another owner", f.other, func(PrekeyID) *PrivatePrekey { return otherLast }, env},
		{"sealed to another owner", f.owner, f.lookup, toOther},
		{"another owner's prekey under the right ID", f.owner, func(PrekeyID) *PrivatePrekey { return otherLast }, toOther},
		{"unknown prekey", f.owner, func(PrekeyID) *PrivatePrekey { return nil }, env},
		{"another prekey of the owner", f.owner, func(PrekeyID) *PrivatePrekey { return f.oneTime[1] }, env},
		{"prekey ID rewritten", f.owner, f.lookup, renamed},
		{"no lookup", f.owner, nil, env},
		{"no owner", nil, f.lookup, env},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := OpenEnvelope(c.owner, c.lookup, c.env); err != ErrEnvelope {
				t.Fatalf("got %v, want ErrEnvelope", err)
			}
		})
	}
	if _, err := SealEnvelope(f.sender, f.owner.Public(), otherLast.Public(), pt, testNow); err == nil {
		t.Error("sealed to an owner under another identity's prekey")
	}
}

// TestEnvelopeReplay: OpenEnvelope is pure, so a replay opens again; the
// ID, which the owner records, is what gives it away.
func TestEnvelopeReplay(t *testing.T) {
	f := newEnvelopeFixture(t, 0)
	env := f.seal(t, f.last.Public(), []byte("once"))
	a, errA := OpenEnvelope(f.owner, f.lookup, env)
	b, errB := OpenEnvelope(f.owner, f.lookup, env)
	if errA != nil || errB != nil || a.ID != b.ID {
		t.Fatalf("replay: %v, %v, IDs %v and %v", errA, errB, a.ID, b.ID)
	}
	again := f.seal(t, f.last.Public(), []byte("once"))
	c, err := OpenEnvelope(f.owner, f.lookup, again)
	if err != nil || c.ID == a.ID || bytes.Equal(env, again) {
		t.Fatalf("a second envelope with the same text shares its ID or bytes: %v", err)
	}
}

func TestEnvelopeLastResortAge(t *testing.T) {
	f := newEnvelopeFixture(t, 1)
	for _, c := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"fresh", testNow, nil},
		{"at the limit", testNow.Add(MaxLastResortAge), nil},
		{"too old", testNow.Add(MaxLastResortAge + time.Second), ErrPrekeyExpired},
		{"from the future", testNow.Add(-PrekeyClockSkew - time.Second), ErrPrekeyExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := SealEnvelope(f.sender, f.owner.Public(), f.last.Public(), []byte("x"), c.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// One-time prekeys do not age.
	if _, err := SealEnvelope(f.sender, f.owner.Public(), f.oneTime[0].Public(), []byte("x"), testNow.Add(100*24*time.Hour)); err != nil {
		t.Errorf("old one-time prekey: %v", err)
	}
}

// sealCustom builds an envelope to f.last around an inside made by inner,
// which gets the signed context; the padding is added here. It lets the
// tests write insides SealEnvelope never would.
func (f *envelopeFixture) sealCustom(t *testing.T, inner func(ctx []byte) []byte) []byte {
	t.Helper()
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	header := []byte{envelopeVersion}
	header = append(header, make([]byte, envelopeIDSize)...)
	rand.Read(header[1 : 1+envelopeIDSize])
	header = binary.BigEndian.AppendUint64(header, uint64(f.last.ID()))
	header = append(header, eph.PublicKey().Bytes()...)
	dh, err := eph.ECDH(f.last.priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ctx := envelopeContext(header, f.owner.Fingerprint(), &f.last.pub.pub)
	in := inner(ctx)
	size := envelopeBucket(envelopeHeaderSize + envelopeTagSize + len(in))
	in = append(in, make([]byte, size-envelopeHeaderSize-envelopeTagSize-len(in))...)
	key, nonce := envelopeKeys(dh, ctx)
	return newRecordAEAD(&key).Seal(header, nonce[:], in, header)
}

// signedInner is a well-formed inside: keys of claimed, signed by signer.
func signedInner(t *testing.T, claimedSig, claimedEnc []byte, signer func(msg []byte) []byte, ctx, pt []byte) []byte {
	t.Helper()
	in := appendVec16(nil, claimedSig)
	in = appendVec16(in, claimedEnc)
	in = binary.BigEndian.AppendUint64(in, uint64(testNow.Unix()))
	in = binary.BigEndian.AppendUint32(in, uint32(len(pt)))
	in = append(in, pt...)
	return appendVec16(in, signer(append(bytes.Clone(ctx), in...)))
}

// TestEnvelopeInsideRefused: a holder of the prekey (any contact) can make
// an envelope that decrypts; its inside is still checked strictly.
func TestEnvelopeInsideRefused(t *testing.T) {
	f := newEnvelopeFixture(t, 0)
	pt := []byte("forged?")
	signBy := func(id *Identity) func([]byte) []byte {
		return func(msg []byte) []byte {
			sig, err := id.sign(envelopeSigLabel, msg)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
	sp, op := f.sender.Public(), f.other.Public()

	// A sender key outside the policy, with a valid signature by it.
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	signSmall := func(msg []byte) []byte {
		sig, err := rsa.SignPSS(rand.Reader, small, crypto.SHA256, signDigest(envelopeSigLabel, msg), pssOptions)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}

	cases := []struct {
		name  string
		inner func(ctx []byte) []byte
	}{
		{"control: honest", func(ctx []byte) []byte {
			return signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, pt)
		}},
		{"sender's keys, another's signature", func(ctx []byte) []byte {
			return signedInner(t, sp.sigDER, sp.encDER, signBy(f.other), ctx, pt)
		}},
		{"signature over another context", func(ctx []byte) []byte {
			other := bytes.Clone(ctx)
			other[len(other)-1] ^= 1
			in := signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), other, pt)
			return in
		}},
		{"signature under the wrong label", func(ctx []byte) []byte {
			return signedInner(t, sp.sigDER, sp.encDER, func(msg []byte) []byte {
				sig, _ := f.sender.sign(prekeyLabelOneTime, msg)
				return sig
			}, ctx, pt)
		}},
		{"another's wrap key under the sender's signature", func(ctx []byte) []byte {
			in := signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, pt)
			return bytes.Replace(in, sp.encDER, op.encDER, 1)
		}},
		{"sender key outside the policy", func(ctx []byte) []byte {
			return signedInner(t, smallDER, sp.encDER, signSmall, ctx, pt)
		}},
		{"non-zero padding", func(ctx []byte) []byte {
			return append(signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, pt), 1)
		}},
		{"empty plaintext", func(ctx []byte) []byte {
			return signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, nil)
		}},
		{"plaintext length past the end", func(ctx []byte) []byte {
			in := signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, pt)
			binary.BigEndian.PutUint32(in[4+len(sp.sigDER)+len(sp.encDER)+8:], 1<<20)
			return in
		}},
		{"no signature", func(ctx []byte) []byte {
			in := signedInner(t, sp.sigDER, sp.encDER, signBy(f.sender), ctx, pt)
			return in[:len(in)-2-sp.sig.Size()]
		}},
		{"empty inside", func([]byte) []byte { return nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := OpenEnvelope(f.owner, f.lookup, f.sealCustom(t, c.inner))
			if c.name == "control: honest" {
				if err != nil || !bytes.Equal(got.Plaintext, pt) {
					t.Fatalf("honest custom envelope: %v", err)
				}
				return
			}
			if err != ErrEnvelope {
				t.Fatalf("got %v, want ErrEnvelope", err)
			}
		})
	}
}

func TestEnvelopeHeader(t *testing.T) {
	f := newEnvelopeFixture(t, 0)
	env := f.seal(t, f.last.Public(), []byte("x"))
	id, pid, err := EnvelopeHeader(env)
	if err != nil || pid != f.last.ID() || !bytes.Equal(id[:], env[1:1+envelopeIDSize]) {
		t.Fatalf("EnvelopeHeader: %v %v %v", id, pid, err)
	}
	if len(id.String()) != 32 {
		t.Errorf("ID string %q", id)
	}
	for _, bad := range [][]byte{env[:MinEnvelopeSize-1], make([]byte, 3*MinEnvelopeSize), append([]byte{2}, env[1:]...)} {
		if _, _, err := EnvelopeHeader(bad); err != ErrEnvelope {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
}

// TestEnvelopeSizesInSpec holds the sizes PROTOCOL.md quotes for RSA-3072
// identities.
func TestEnvelopeSizesInSpec(t *testing.T) {
	f := newEnvelopeFixture(t, 1)
	_, _, big := testPrekeys(t, f.owner, MaxOneTimePrekeys)
	over := envelopeOverhead(f.sender)
	for name, c := range map[string][2]int{
		"envelope overhead":           {over, 1319},
		"prekey":                      {len(f.last.Public().Bytes()), 435},
		"bundle with 32 prekeys":      {len(big.Bytes()), 14455},
		"MaxPrekeyBundleSize":         {MaxPrekeyBundleSize, 18679},
		"largest plaintext, envelope": {over + MaxEnvelopePlaintext, 67367},
	} {
		if c[0] != c[1] {
			t.Errorf("%s is %d, PROTOCOL.md says %d", name, c[0], c[1])
		}
	}
	for bucket, maxPT := range map[int]int{2 << 10: 729, 4 << 10: 2777, 8 << 10: 6873, 16 << 10: 15065,
		32 << 10: 31449, 64 << 10: 64217} {
		if envelopeBucket(over+maxPT) != bucket || envelopeBucket(over+maxPT+1) != 2*bucket {
			t.Errorf("bucket %d does not end at %d bytes of plaintext", bucket, maxPT)
		}
	}
}
