package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Tests of the exporter and of file keys. Chunks are in filechunk_test.go,
// records in filerecord_test.go.

// handshakeSessions runs a real in-memory handshake and returns both ends.
func handshakeSessions(t testing.TB) (si, sr *Session) {
	t.Helper()
	rec := recordHandshake(t, newTestPeerWith(t, 0, nil), newTestPeerWith(t, 1, nil))
	si, err := rec.ini.Session()
	if err != nil {
		t.Fatal(err)
	}
	sr, err = rec.resp.Session()
	if err != nil {
		t.Fatal(err)
	}
	if rec.ini.keys.exporter != ([32]byte{}) || rec.resp.keys.exporter != ([32]byte{}) {
		t.Fatal("the handshake kept the exporter secret after handing it to the session")
	}
	return si, sr
}

// exporterSessions returns a session pair built without a handshake but
// sharing a random exporter secret, for tests that need file keys only.
func exporterSessions(t testing.TB) (si, sr *Session) {
	t.Helper()
	si, sr = newTestSessionPair(t)
	var secret [32]byte
	if _, err := io.ReadFull(rand.Reader, secret[:]); err != nil {
		t.Fatal(err)
	}
	si.exp, sr.exp = newExporter(&secret), newExporter(&secret)
	return si, sr
}

func testOffer(t testing.TB, size uint64) *FileOffer {
	t.Helper()
	o, err := NewFileOffer("report.pdf", size, sha256.Sum256(nil))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustFileKey(t testing.TB, f func(*FileOffer) (*FileKey, error), o *FileOffer) *FileKey {
	t.Helper()
	k, err := f(o)
	if err != nil {
		t.Fatalf("file key: %v", err)
	}
	if k.key == ([32]byte{}) || k.ID() != o.ID || k.Size() != o.Size {
		t.Fatal("file key is zero or not for its offer")
	}
	return k
}

func TestExportFileKeyFromHandshake(t *testing.T) {
	si, sr := handshakeSessions(t)
	o := testOffer(t, 12345)

	// The initiator sends: both sides derive the same key.
	iSend := mustFileKey(t, si.SendFileKey, o)
	rRecv := mustFileKey(t, sr.RecvFileKey, o)
	if iSend.key != rRecv.key {
		t.Fatal("sender and receiver derived different keys for one file")
	}
	// The responder sends the same offer: another key, also shared.
	rSend := mustFileKey(t, sr.SendFileKey, o)
	iRecv := mustFileKey(t, si.RecvFileKey, o)
	if rSend.key != iRecv.key {
		t.Fatal("keys of the other direction differ between the sides")
	}
	if rSend.key == iSend.key {
		t.Fatal("both directions share a key")
	}

	// Another ID, another secret, another session: another key each.
	o2 := *o
	o2.ID[0] ^= 1
	o3 := *o
	o3.secret[31] ^= 1
	si2, _ := handshakeSessions(t)
	others := map[string]*FileKey{
		"file ID":      mustFileKey(t, si.SendFileKey, &o2),
		"offer secret": mustFileKey(t, si.SendFileKey, &o3),
		"session":      mustFileKey(t, si2.SendFileKey, o),
	}
	seen := map[[32]byte]string{iSend.key: "original", rSend.key: "other direction"}
	for name, k := range others {
		if prev, dup := seen[k.key]; dup {
			t.Errorf("changing the %s gives the key of %s", name, prev)
		}
		seen[k.key] = name
	}
	if _, err := si.SendFileKey(nil); err == nil {
		t.Error("SendFileKey(nil) succeeded")
	}
}

// The file key is the formula of PROTOCOL.md over the exporter secret of
// the key schedule, recomputed with HMAC alone.
func TestFileKeyFormula(t *testing.T) {
	si, sr := exporterSessions(t)
	o := testOffer(t, 1)
	for _, c := range []struct {
		name string
		s    *Session
		dir  byte
		f    func(*FileOffer) (*FileKey, error)
	}{
		{"initiator sends", si, 0, si.SendFileKey},
		{"responder sends", sr, 1, sr.SendFileKey},
		{"initiator receives", si, 1, si.RecvFileKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := mustFileKey(t, c.f, o)
			if want := specFileKey(c.s.exp.secret[:], c.dir, o.ID[:], o.secret[:]); string(want) != string(k.key[:]) {
				t.Fatal("file key differs from the formula")
			}
		})
	}
}

func TestExportRefusedOnDeadOrClosedSession(t *testing.T) {
	o := testOffer(t, 1)
	t.Run("failed", func(t *testing.T) {
		si, sr := exporterSessions(t)
		rec := mustSeal(t, si, []byte("hi"))
		if _, _, err := sr.Open(flipBit(rec, 8*len(rec)-1)); !errors.Is(err, ErrAuth) {
			t.Fatalf("tampered record opened: %v", err)
		}
		if _, err := sr.RecvFileKey(o); !errors.Is(err, ErrAuth) {
			t.Fatalf("file key from a failed session: %v", err)
		}
		if sr.exp.secret != ([32]byte{}) {
			t.Fatal("a failed session kept its exporter secret")
		}
	})
	t.Run("closed both ways", func(t *testing.T) {
		si, sr := exporterSessions(t)
		mustOpen(t, sr, mustSealClose(t, si))
		if _, err := si.SendFileKey(o); err != nil {
			t.Fatalf("file key after closing one way: %v", err)
		}
		mustOpen(t, si, mustSealClose(t, sr))
		for _, s := range []*Session{si, sr} {
			if _, err := s.SendFileKey(o); err == nil || s.exp.secret != ([32]byte{}) {
				t.Fatalf("%v still exports after both CLOSEs (%v)", s, err)
			}
		}
	})
	t.Run("no handshake", func(t *testing.T) {
		si, _ := newTestSessionPair(t)
		if _, err := si.SendFileKey(o); !errors.Is(err, errNoExporter) {
			t.Fatalf("file key without an exporter secret: %v", err)
		}
	})
}

func mustSealClose(t testing.TB, s *Session) []byte {
	t.Helper()
	rec, err := s.SealClose()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestFileSecretsNeverPrinted(t *testing.T) {
	si, _ := exporterSessions(t)
	o := testOffer(t, 7)
	k := mustFileKey(t, si.SendFileKey, o)
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%v %+v %#v", o, o, o),
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v", k, k, k)} {
		for _, secret := range [][]byte{o.secret[:], k.key[:]} {
			if strings.Contains(s, fmt.Sprintf("%x", secret[:8])) || strings.Contains(s, fmt.Sprint(secret[:8])) {
				t.Fatalf("secret printed: %s", s)
			}
		}
	}
	k.Wipe()
	if k.key != ([32]byte{}) {
		t.Fatal("Wipe left the key")
	}
}
