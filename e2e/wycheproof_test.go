package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The Wycheproof vectors in testdata/wycheproof_*.txt are small subsets of
// the files of github.com/C2SP/wycheproof (testvectors_v1/), named with
// their commit in each file's header. Each vector goes through the wrapper
// our protocol uses, not through the standard library directly: unwrap for
// OAEP, verifyPSS for PSS, ratchetDH for X25519, newRecordAEAD and
// openRecord for AES-GCM. Where Wycheproof calls a result "acceptable", our
// policy decides and the test says which way.

// wpVector is one vector: its "key: value" lines.
type wpVector map[string]string

// hex decodes field k, failing the test on bad hex.
func (v wpVector) hex(t *testing.T, k string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v[k])
	if err != nil {
		t.Fatalf("tcId %s: %s: %v", v["tcId"], k, err)
	}
	return b
}

// loadWycheproof reads a vector file: "#" comments, then blocks of
// "key: value" lines separated by blank lines. A block without tcId holds
// the file's shared parameters (a key).
func loadWycheproof(t *testing.T, name string) (params wpVector, vectors []wpVector) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	params = wpVector{}
	cur := wpVector{}
	flush := func() {
		switch {
		case len(cur) == 0:
		case cur["tcId"] == "":
			for k, v := range cur {
				params[k] = v
			}
		default:
			vectors = append(vectors, cur)
		}
		cur = wpVector{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s: bad line %q", name, line)
			}
			cur[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	if len(vectors) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return params, vectors
}

// TestWycheproofOAEP: valid ciphertexts unwrap to their message (with the
// label as our wrapper's label); every invalid padding or ciphertext fails
// with the one unwrap error.
func TestWycheproofOAEP(t *testing.T) {
	params, vectors := loadWycheproof(t, "wycheproof_oaep.txt")
	k, err := x509.ParsePKCS8PrivateKey(params.hex(t, "privateKeyPkcs8"))
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{enc: k.(*rsa.PrivateKey)}
	for _, v := range vectors {
		t.Run("tcId_"+v["tcId"], func(t *testing.T) {
			msg, ct, label := v.hex(t, "msg"), v.hex(t, "ct"), v.hex(t, "label")
			pt, err := id.unwrap(string(label), ct, len(msg))
			switch v["result"] {
			case "valid":
				if err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("unwrap = %x, %v; want %x", pt, err, msg)
				}
				// Our wrapper also refuses a secret of the wrong length.
				if _, err := id.unwrap(string(label), ct, len(msg)+1); err != errUnwrap {
					t.Fatalf("unwrap with the wrong length = %v, want errUnwrap", err)
				}
			default:
				if err != errUnwrap || pt != nil {
					t.Fatalf("unwrap = %x, %v; want errUnwrap", pt, err)
				}
			}
		})
	}
}

// TestWycheproofPSS: our verifier (SHA-256, MGF1-SHA-256, salt exactly 32)
// accepts the valid signatures and refuses every modified one, including
// signatures that are valid PSS under another salt length. The vector key
// also passes our peer key policy, so it could reach verifyPSS in a bundle.
func TestWycheproofPSS(t *testing.T) {
	params, vectors := loadWycheproof(t, "wycheproof_pss.txt")
	der := params.hex(t, "publicKeyDer")
	pub, err := parseRSAPublic(der)
	if err != nil {
		t.Fatalf("vector key refused by our policy: %v", err)
	}
	for _, v := range vectors {
		t.Run("tcId_"+v["tcId"], func(t *testing.T) {
			digest := sha256.Sum256(v.hex(t, "msg"))
			sig := v.hex(t, "sig")
			err := verifyPSS(pub, digest[:], sig)
			if want := v["result"] == "valid"; (err == nil) != want {
				t.Fatalf("verifyPSS = %v, want valid=%v (%s)", err, want, v["comment"])
			}
			if err != nil && err != errSignature {
				t.Fatalf("error %v is not the one errSignature", err)
			}
			if err == nil {
				// One bit anywhere breaks it; a truncated signature is
				// refused before any arithmetic.
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 0x10
				if verifyPSS(pub, digest[:], bad) != errSignature || verifyPSS(pub, digest[:], sig[1:]) != errSignature {
					t.Fatal("tampered signature accepted")
				}
			}
		})
	}
}

// TestWycheproofX25519: ratchetDH computes the vectors' shared secrets and
// refuses every low-order public key (all-zero output), which Wycheproof
// leaves "acceptable" but our protocol must refuse.
func TestWycheproofX25519(t *testing.T) {
	_, vectors := loadWycheproof(t, "wycheproof_x25519.txt")
	lowOrder := 0
	for _, v := range vectors {
		t.Run("tcId_"+v["tcId"], func(t *testing.T) {
			priv, err := ecdh.X25519().NewPrivateKey(v.hex(t, "private"))
			if err != nil {
				t.Fatal(err)
			}
			pub := [32]byte(v.hex(t, "public"))
			shared := v.hex(t, "shared")
			out, err := ratchetDH(priv, &pub)
			if bytes.Equal(shared, make([]byte, 32)) {
				lowOrder++
				if err != errRatchet || out != nil {
					t.Fatalf("low-order point: ratchetDH = %x, %v; want errRatchet", out, err)
				}
				return
			}
			if err != nil || !bytes.Equal(out, shared) {
				t.Fatalf("ratchetDH = %x, %v; want %x", out, err, shared)
			}
		})
	}
	if lowOrder < 10 {
		t.Fatalf("only %d low-order vectors", lowOrder)
	}
}

// TestWycheproofAESGCM: the record AEAD (AES-256-GCM, 12-byte nonce, 16-byte
// tag) matches the vectors, and every ModifiedTag vector is refused. The
// same tag modifications, applied to a real record sealed with the vector's
// key and nonce, make openRecord refuse it.
func TestWycheproofAESGCM(t *testing.T) {
	_, vectors := loadWycheproof(t, "wycheproof_aesgcm.txt")
	var sid [32]byte
	for _, v := range vectors {
		t.Run("tcId_"+v["tcId"], func(t *testing.T) {
			key := [aeadKeySize]byte(v.hex(t, "key"))
			nonce := [aeadNonceSize]byte(v.hex(t, "iv"))
			aad, msg := v.hex(t, "aad"), v.hex(t, "msg")
			ctTag := append(v.hex(t, "ct"), v.hex(t, "tag")...)
			aead := newRecordAEAD(&key)
			pt, err := aead.Open(nil, nonce[:], ctTag, aad)
			valid := v["result"] == "valid"
			if (err == nil) != valid || (valid && !bytes.Equal(pt, msg)) {
				t.Fatalf("Open = %x, %v; want valid=%v", pt, err, valid)
			}
			if valid {
				if got := aead.Seal(nil, nonce[:], msg, aad); !bytes.Equal(got, ctTag) {
					t.Fatalf("Seal = %x, want %x", got, ctTag)
				}
				return
			}
			// The vector's tag differs from the honest one by some bits:
			// flip the same bits in a record's tag.
			honest := aead.Seal(nil, nonce[:], msg, aad)
			diff := make([]byte, recordTagSize)
			for i := range diff {
				diff[i] = honest[len(honest)-recordTagSize+i] ^ ctTag[len(ctTag)-recordTagSize+i]
			}
			h := recordHeader{typ: RecordData, n: 7}
			rec := sealRecord(&h, &sid, dirInitiatorToResponder, &key, &nonce, msg)
			if _, _, ok := parseRecord(rec); !ok {
				t.Fatal("sealed record does not parse")
			}
			for i, d := range diff {
				rec[len(rec)-recordTagSize+i] ^= d
			}
			if pt, ok := openRecord(rec, rec[recordHeaderSize:], &sid, dirInitiatorToResponder, &key, &nonce); ok {
				t.Fatalf("openRecord accepted a record with a modified tag: %x", pt)
			}
		})
	}
}
