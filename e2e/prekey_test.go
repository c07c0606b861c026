package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of the prekey and envelope tests.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testPrekeys makes n one-time prekeys and a last-resort prekey for owner,
// created at testNow, and their bundle.
func testPrekeys(tb testing.TB, owner *Identity, n int) ([]*PrivatePrekey, *PrivatePrekey, *PrekeyBundle) {
	tb.Helper()
	var oneTime []*PrivatePrekey
	if n > 0 {
		var err error
		if oneTime, err = GeneratePrekeys(owner, n, testNow); err != nil {
			tb.Fatalf("GeneratePrekeys: %v", err)
		}
	}
	last, err := GenerateLastResortPrekey(owner, testNow)
	if err != nil {
		tb.Fatalf("GenerateLastResortPrekey: %v", err)
	}
	pubs := make([]*Prekey, len(oneTime))
	for i, k := range oneTime {
		pubs[i] = k.Public()
	}
	b, err := NewPrekeyBundle(owner.Public(), pubs, last.Public())
	if err != nil {
		tb.Fatalf("NewPrekeyBundle: %v", err)
	}
	return oneTime, last, b
}

func TestPrekeyGenerate(t *testing.T) {
	owner := testIdentity(t, 1)
	keys, last, _ := testPrekeys(t, owner, 3)
	seen := map[PrekeyID]bool{}
	for _, k := range append(keys, last) {
		p := k.Public()
		if seen[p.ID()] {
			t.Fatalf("duplicate ID %v", p.ID())
		}
		seen[p.ID()] = true
		if p.LastResort() != (k == last) || !p.Created().Equal(testNow) || p.Owner() != owner.Fingerprint() {
			t.Errorf("%v: kind, time or owner wrong", p)
		}
		if _, err := ParsePrekey(p.Bytes(), owner.Public()); err != nil {
			t.Errorf("ParsePrekey(own prekey): %v", err)
		}
	}
	for _, n := range []int{0, -1, MaxOneTimePrekeys + 1} {
		if _, err := GeneratePrekeys(owner, n, testNow); err == nil {
			t.Errorf("GeneratePrekeys(%d) succeeded", n)
		}
	}
	if _, err := GenerateLastResortPrekey(owner, time.Unix(0, 0)); err == nil {
		t.Error("a prekey created at the epoch was made")
	}
}

func TestPrekeyPrivateEncode(t *testing.T) {
	owner, other := testIdentity(t, 1), testIdentity(t, 2)
	keys, last, _ := testPrekeys(t, owner, 1)
	for _, k := range []*PrivatePrekey{keys[0], last} {
		enc := k.Encode()
		got, err := ParsePrivatePrekey(enc, owner)
		if err != nil {
			t.Fatalf("ParsePrivatePrekey: %v", err)
		}
		if !bytes.Equal(got.Encode(), enc) || got.ID() != k.ID() || got.Public().LastResort() != k.Public().LastResort() {
			t.Fatal("private prekey does not round trip")
		}
		if _, err := ParsePrivatePrekey(enc, other); err == nil {
			t.Error("another identity's private prekey parsed")
		}
		for _, bad := range [][]byte{enc[:len(enc)-1], append(bytes.Clone(enc), 0), nil} {
			if _, err := ParsePrivatePrekey(bad, owner); err == nil {
				t.Errorf("malformed private prekey (%d bytes) parsed", len(bad))
			}
		}
		// A private key that does not match the signed public key.
		swapped := bytes.Clone(enc)
		swapped[1] ^= 0x40
		if _, err := ParsePrivatePrekey(swapped, owner); err == nil {
			t.Error("private prekey with a foreign private key parsed")
		}
	}
}

// TestPrekeyNeverPrints: no fmt verb shows a private prekey's key bytes.
func TestPrekeyNeverPrints(t *testing.T) {
	keys, _, _ := testPrekeys(t, testIdentity(t, 1), 1)
	k := keys[0]
	secret := k.priv.Bytes()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out := fmt.Sprintf(verb, k)
		if !strings.Contains(out, k.ID().String()) {
			t.Errorf("%s gives %q, without the ID", verb, out)
		}
		for _, leak := range []string{fmt.Sprintf("%x", secret), fmt.Sprint(secret[:4])} {
			if strings.Contains(out, leak) {
				t.Errorf("%s prints the private key", verb)
			}
		}
	}
	if s := fmt.Sprint([]*PrivatePrekey{k}); !strings.Contains(s, "e2e.PrivatePrekey(one-time ") {
		t.Errorf("in a slice: %q", s)
	}
}

func TestPrekeyBundleRoundTrip(t *testing.T) {
	owner := testIdentity(t, 1)
	for _, n := range []int{0, 1, 4} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			keys, last, b := testPrekeys(t, owner, n)
			got, err := ParsePrekeyBundle(b.Bytes(), owner.Public())
			if err != nil {
				t.Fatalf("ParsePrekeyBundle: %v", err)
			}
			if !bytes.Equal(got.Bytes(), b.Bytes()) || len(got.OneTime()) != n ||
				got.LastResort().ID() != last.ID() || got.Owner() != owner.Fingerprint() {
				t.Fatal("bundle does not round trip")
			}
			for i, p := range got.OneTime() {
				if p.ID() != keys[i].ID() || p.LastResort() {
					t.Errorf("one-time prekey %d differs", i)
				}
			}
		})
	}
}

func TestPrekeyBundleRefused(t *testing.T) {
	owner, other := testIdentity(t, 1), testIdentity(t, 2)
	keys, last, b := testPrekeys(t, owner, 2)
	_, otherLast, otherBundle := testPrekeys(t, other, 0)
	raw := b.Bytes()

	flipSig := bytes.Clone(raw)
	flipSig[len(flipSig)-1] ^= 1 // last byte of the last-resort signature
	flipKey := bytes.Clone(raw)
	flipKey[1+32+1+2+prekeyBodySize-1] ^= 1 // first prekey's public key
	fp := owner.Fingerprint()
	manyHeader := append([]byte{prekeyBundleVersion}, fp[:]...)
	manyHeader = append(manyHeader, MaxOneTimePrekeys+1)

	cases := []struct {
		name string
		b    []byte
		who  *Identity
	}{
		{"bad signature", flipSig, owner},
		{"bad public key", flipKey, owner},
		{"another identity's bundle", otherBundle.Bytes(), owner},
		{"bundle checked against another identity", raw, other},
		{"truncated", raw[:len(raw)-1], owner},
		{"extended", append(bytes.Clone(raw), 0), owner},
		{"empty", nil, owner},
		{"version 2", append([]byte{2}, raw[1:]...), owner},
		{"too many one-time prekeys", manyHeader, owner},
		{"oversized", make([]byte, MaxPrekeyBundleSize+1), owner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParsePrekeyBundle(c.b, c.who.Public()); !errors.Is(err, ErrPrekey) {
				t.Fatalf("got %v, want ErrPrekey", err)
			}
		})
	}

	t.Run("construction", func(t *testing.T) {
		op := owner.Public()
		bad := []struct {
			name       string
			oneTime    []*Prekey
			lastResort *Prekey
		}{
			{"no last-resort", []*Prekey{keys[0].Public()}, nil},
			{"one-time as last-resort", nil, keys[0].Public()},
			{"last-resort as one-time", []*Prekey{last.Public()}, last.Public()},
			{"duplicate", []*Prekey{keys[0].Public(), keys[0].Public()}, last.Public()},
			{"another owner's", nil, otherLast.Public()},
			{"nil one-time", []*Prekey{nil}, last.Public()},
		}
		for _, c := range bad {
			if _, err := NewPrekeyBundle(op, c.oneTime, c.lastResort); err == nil {
				t.Errorf("%s: NewPrekeyBundle succeeded", c.name)
			}
		}
	})
}

func TestPrekeyAge(t *testing.T) {
	p := &Prekey{kind: prekeyLastResort, created: testNow.Unix()}
	cases := []struct {
		now time.Time
		ok  bool
	}{
		{testNow, true},
		{testNow.Add(MaxLastResortAge), true},
		{testNow.Add(MaxLastResortAge + time.Second), false},
		{testNow.Add(-PrekeyClockSkew), true},
		{testNow.Add(-PrekeyClockSkew - time.Second), false},
	}
	for _, c := range cases {
		if err := p.checkAge(c.now); (err == nil) != c.ok {
			t.Errorf("created %v, now %v: %v", testNow, c.now, err)
		}
	}
	p.kind = prekeyOneTime
	if p.checkAge(testNow.Add(365*24*time.Hour)) != nil {
		t.Error("a one-time prekey expired")
	}
}
