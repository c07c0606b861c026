package e2e

import (
	"bytes"
	"testing"
)

// FuzzOpenEnvelope feeds arbitrary bytes to the owner of the vector
// envelope, holding the vector's one-time prekey. Whatever the input,
// OpenEnvelope must not panic, and it may accept only the vector envelope
// itself: AES-GCM and the sender's signature leave no other input that
// opens, so anything else accepted would be a forgery.
func FuzzOpenEnvelope(f *testing.F) {
	v := loadEnvelopeVector(f)
	owner, k := v.owner(f)
	env := v.hex(f, "envelope")
	f.Add(env)
	f.Add(env[:envelopeHeaderSize])
	f.Add(env[:len(env)-1])
	f.Add(append(bytes.Clone(env), 0))
	f.Add(make([]byte, MinEnvelopeSize))
	lookup := func(id PrekeyID) *PrivatePrekey {
		if id == k.ID() {
			return k
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := OpenEnvelope(owner, lookup, b)
		if err != nil {
			if err != ErrEnvelope {
				t.Fatalf("error %v is not ErrEnvelope", err)
			}
			return
		}
		if !bytes.Equal(b, env) || !bytes.Equal(got.Plaintext, v.hex(t, "plaintext")) {
			t.Fatal("opened an envelope that is not the vector's")
		}
	})
}

// FuzzParsePrekeyBundle: parsing never panics, and whatever parses for the
// vector's owner is canonical: kept byte for byte, rebuilt identically from
// its prekeys, and each prekey parses alone.
func FuzzParsePrekeyBundle(f *testing.F) {
	v := loadEnvelopeVector(f)
	owner, _ := v.owner(f)
	b := v.hex(f, "prekey bundle")
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add(append(bytes.Clone(b), 0))
	f.Add(b[:1+32+1])
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParsePrekeyBundle(in, owner.Public())
		if err != nil {
			if err != ErrPrekey {
				t.Fatalf("error %v is not ErrPrekey", err)
			}
			return
		}
		again, err := NewPrekeyBundle(owner.Public(), got.OneTime(), got.LastResort())
		if err != nil || !bytes.Equal(got.Bytes(), in) || !bytes.Equal(again.Bytes(), in) {
			t.Fatalf("accepted bundle is not canonical: %v", err)
		}
		for _, p := range append(got.OneTime(), got.LastResort()) {
			if _, err := ParsePrekey(p.Bytes(), owner.Public()); err != nil {
				t.Fatalf("bundle prekey %v does not parse alone: %v", p, err)
			}
		}
	})
}
