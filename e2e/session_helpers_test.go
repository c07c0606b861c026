package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// Helpers for the session tests. Sessions are built straight from
// sessionParams, without a handshake, so the ratchet is tested on its own.

// detReader is a deterministic byte stream for test vectors: SHA-256 of a
// seed and a block counter, block after block. It stands in for crypto/rand
// where a test needs to know every "random" byte.
type detReader struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func newDetReader(seed string) *detReader { return &detReader{seed: []byte(seed)} }

func (r *detReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			sum := sha256.Sum256(append(append([]byte(nil), r.seed...), c[:]...))
			r.buf = sum[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return n, nil
}

// failReader fails every read, to check that Seal survives a broken RNG.
type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("rng failure") }

// pairConfig is what both ends of a test session share, plus each end's
// randomness for fresh ratchet keys.
type pairConfig struct {
	id, root     [32]byte
	eI, eR       *ecdh.PrivateKey
	randI, randR io.Reader
}

func testX25519(t testing.TB, r io.Reader) *ecdh.PrivateKey {
	t.Helper()
	k, err := newRatchetKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// randomPairConfig draws a fresh session ID, root key and two ephemerals
// from crypto/rand, as a handshake would.
func randomPairConfig(t testing.TB) pairConfig {
	t.Helper()
	var c pairConfig
	if _, err := io.ReadFull(rand.Reader, c.id[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rand.Reader, c.root[:]); err != nil {
		t.Fatal(err)
	}
	c.eI = testX25519(t, rand.Reader)
	c.eR = testX25519(t, rand.Reader)
	c.randI, c.randR = rand.Reader, rand.Reader
	return c
}

// newSessionPairFrom builds the initiator and responder ends of c.
func newSessionPairFrom(t testing.TB, c pairConfig) (ini, resp *Session) {
	t.Helper()
	ini, err := newSession(sessionParams{
		id: c.id, rootKey: c.root, initiator: true,
		ownRatchet: c.eI, peerRatchet: c.eR.PublicKey(), rand: c.randI,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = newSession(sessionParams{
		id: c.id, rootKey: c.root, initiator: false,
		ownRatchet: c.eR, peerRatchet: c.eI.PublicKey(), rand: c.randR,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ini, resp
}

// newTestSessionPair returns two matching ends of a fresh random session.
func newTestSessionPair(t testing.TB) (ini, resp *Session) {
	t.Helper()
	return newSessionPairFrom(t, randomPairConfig(t))
}

// clone returns an independent copy of s: same state, same randomness
// source, no hooks. Tests use it to leak a state or to try a record without
// killing the original.
func (s *Session) clone() *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Session{id: s.id, initiator: s.initiator, peer: s.peer, rand: s.rand, st: s.st, err: s.err}
}

// stateSnapshot serializes every field of the ratchet state, private key
// included, so two states can be compared byte for byte.
func (s *Session) stateSnapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	var b []byte
	b = append(b, st.rk[:]...)
	if st.dhs != nil {
		b = append(b, 1)
		b = append(b, st.dhs.Bytes()...)
	} else {
		b = append(b, 0)
	}
	b = append(b, st.sendPub[:]...)
	b = append(b, st.dhr[:]...)
	b = append(b, st.cks[:]...)
	b = append(b, st.ckr[:]...)
	b = binary.BigEndian.AppendUint32(b, st.ns)
	b = binary.BigEndian.AppendUint32(b, st.nr)
	b = binary.BigEndian.AppendUint32(b, st.pn)
	b = binary.BigEndian.AppendUint32(b, st.recvSinceStep)
	for _, f := range []bool{st.hasRecv, st.hasSend, st.stepOwed, st.sendClosed, st.recvClosed} {
		if f {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func mustSeal(t testing.TB, s *Session, pt []byte) []byte {
	t.Helper()
	rec, err := s.Seal(pt)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return rec
}

func mustOpen(t testing.TB, s *Session, rec []byte) (RecordType, []byte) {
	t.Helper()
	typ, pt, err := s.Open(rec)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return typ, pt
}

// mustOpenData opens rec and checks it is DATA carrying want.
func mustOpenData(t testing.TB, s *Session, rec, want []byte) {
	t.Helper()
	typ, pt, err := s.Open(rec)
	if err != nil || typ != RecordData || string(pt) != string(want) {
		t.Fatalf("Open = %v, %q, %v; want data %q", typ, pt, err, want)
	}
}

// checkDead checks that every call on a failed session fails with ErrAuth.
func checkDead(t testing.TB, s *Session, valid []byte) {
	t.Helper()
	if _, _, err := s.Open(valid); !errors.Is(err, ErrAuth) {
		t.Errorf("Open after failure = %v, want ErrAuth", err)
	}
	if _, err := s.Seal([]byte("x")); !errors.Is(err, ErrAuth) {
		t.Errorf("Seal after failure = %v, want ErrAuth", err)
	}
	if _, err := s.SealHeartbeat(); !errors.Is(err, ErrAuth) {
		t.Errorf("SealHeartbeat after failure = %v, want ErrAuth", err)
	}
	if _, err := s.SealClose(); !errors.Is(err, ErrAuth) {
		t.Errorf("SealClose after failure = %v, want ErrAuth", err)
	}
	if s.HeartbeatDue() {
		t.Error("HeartbeatDue on a failed session")
	}
}

// flipBit returns a copy of b with bit i flipped.
func flipBit(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i/8] ^= 1 << (i % 8)
	return c
}
