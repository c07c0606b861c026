package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

// hsConfigs returns the configs of a handshake between initiator a and
// responder b, each with its own view of the connection.
func hsConfigs(a, b *testPeer) (cfgI, cfgR HandshakeConfig) {
	cfgI = HandshakeConfig{Identity: a.id, Bundle: a.bundle, LocalPeerID: a.peerID,
		RemotePeerID: b.peerID, VerifyHost: testVerifyHost}
	cfgR = HandshakeConfig{Identity: b.id, Bundle: b.bundle, LocalPeerID: b.peerID,
		RemotePeerID: a.peerID, VerifyHost: testVerifyHost}
	return cfgI, cfgR
}

func mustHandshakes(t testing.TB, cfgI, cfgR HandshakeConfig) (hi, hr *Handshake) {
	t.Helper()
	hi, err := NewInitiator(cfgI)
	if err != nil {
		t.Fatalf("NewInitiator: %v", err)
	}
	hr, err = NewResponder(cfgR)
	if err != nil {
		t.Fatalf("NewResponder: %v", err)
	}
	return hi, hr
}

func newPair(t testing.TB, a, b *testPeer) (hi, hr *Handshake) {
	t.Helper()
	cfgI, cfgR := hsConfigs(a, b)
	return mustHandshakes(t, cfgI, cfgR)
}

func mustWrite(t testing.TB, h *Handshake) []byte {
	t.Helper()
	m, err := h.WriteMessage()
	if err != nil {
		t.Fatalf("WriteMessage in state %v: %v", h.state, err)
	}
	return m
}

func mustRead(t testing.TB, h *Handshake, m []byte) {
	t.Helper()
	if err := h.ReadMessage(m); err != nil {
		t.Fatalf("ReadMessage in state %v: %v", h.state, err)
	}
}

// cloneHandshake copies a handshake so that a test can feed one message to
// many copies of the same state. Secrets are arrays, copied by value, so the
// clone's zeroing never touches the original.
func cloneHandshake(h *Handshake) *Handshake {
	c := *h
	c.tr.b = bytes.Clone(h.tr.b)
	return &c
}

// hsRecording is a completed in-process handshake with, for each message,
// a copy of the receiving side just before it read that message.
type hsRecording struct {
	ini, resp *Handshake
	msgs      [4][]byte
	before    [4]*Handshake
}

func (rec *hsRecording) receiver(k int) *Handshake { return cloneHandshake(rec.before[k]) }

func recordPair(t testing.TB, hi, hr *Handshake) *hsRecording {
	t.Helper()
	rec := &hsRecording{ini: hi, resp: hr}
	for k := range rec.msgs {
		from, to := hi, hr
		if k%2 == 1 {
			from, to = hr, hi
		}
		rec.msgs[k] = mustWrite(t, from)
		rec.before[k] = cloneHandshake(to)
		mustRead(t, to, rec.msgs[k])
	}
	return rec
}

func recordHandshake(t testing.TB, a, b *testPeer) *hsRecording {
	t.Helper()
	cfgI, cfgR := hsConfigs(a, b)
	hi, hr := mustHandshakes(t, cfgI, cfgR)
	return recordPair(t, hi, hr)
}

// testPeers returns three peers with distinct identities and peer IDs.
func testPeers(t testing.TB) (a, b, c *testPeer) {
	t.Helper()
	return newTestPeerWith(t, 0, nil), newTestPeerWith(t, 1, nil), newTestPeerWith(t, 2, nil)
}

// checkFailed checks that h failed for good: every call fails with
// ErrHandshake and every secret is gone.
func checkFailed(t testing.TB, h *Handshake, err error, next []byte) {
	t.Helper()
	if err != ErrHandshake {
		t.Fatalf("error = %v, want exactly ErrHandshake", err)
	}
	if h.Done() || h.PeerBundle() != nil || h.state != stateFailed {
		t.Fatalf("failed handshake: Done=%v PeerBundle=%v state=%v", h.Done(), h.PeerBundle(), h.state)
	}
	if s, err := h.Session(); s != nil || err == nil {
		t.Fatal("Session after failure succeeded")
	}
	if err := h.ReadMessage(next); err != ErrHandshake {
		t.Fatalf("ReadMessage after failure = %v", err)
	}
	if _, err := h.WriteMessage(); err != ErrHandshake {
		t.Fatalf("WriteMessage after failure = %v", err)
	}
	checkZeroSecrets(t, h, true)
}

func checkZeroSecrets(t testing.TB, h *Handshake, all bool) {
	t.Helper()
	var zero [32]byte
	secrets := map[string][32]byte{"s": h.secret, "peer s": h.peerSecret, "dh": h.dh,
		"master": h.keys.master, "finished I": h.keys.finishedI, "finished R": h.keys.finishedR}
	if all {
		secrets["root key"] = h.keys.rootKey
	}
	for name, v := range secrets {
		if v != zero {
			t.Errorf("%s not zeroed", name)
		}
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		i, r int // identity indexes
	}{
		{"distinct identities", 0, 1},
		{"roles swapped", 1, 0},
		{"one identity on two peer IDs", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newTestPeerWith(t, tt.i, nil), newTestPeerWith(t, tt.r, nil)
			rec := recordHandshake(t, a, b)
			hi, hr := rec.ini, rec.resp
			if !hi.Done() || !hr.Done() {
				t.Fatal("handshake not done")
			}
			if !bytes.Equal(hi.PeerBundle().Bytes(), b.bundle.Bytes()) ||
				!bytes.Equal(hr.PeerBundle().Bytes(), a.bundle.Bytes()) {
				t.Fatal("PeerBundle is not the peer's bundle")
			}
			if !bytes.Equal(hi.tr.b, hr.tr.b) {
				t.Fatal("transcripts differ")
			}
			var zero [32]byte
			if hi.keys.rootKey != hr.keys.rootKey || hi.keys.sessionID != hr.keys.sessionID ||
				hi.keys.rootKey == zero || hi.keys.rootKey == hi.keys.sessionID {
				t.Fatal("derived keys differ or are degenerate")
			}
			for _, h := range []*Handshake{hi, hr} {
				checkZeroSecrets(t, h, false)
			}
			for _, m := range rec.msgs {
				if len(m) > MaxHandshakeMessage {
					t.Fatalf("message of %d bytes over the limit", len(m))
				}
			}
			checkSessions(t, hi, hr)
		})
	}
}

// checkSessions checks that both ends get the same session and can talk.
func checkSessions(t *testing.T, hi, hr *Handshake) {
	t.Helper()
	wantID := hi.keys.sessionID
	si, err := hi.Session()
	if err != nil {
		t.Fatalf("initiator Session: %v", err)
	}
	sr, err := hr.Session()
	if err != nil {
		t.Fatalf("responder Session: %v", err)
	}
	if si.ID() != wantID || sr.ID() != wantID || !si.Initiator() || sr.Initiator() {
		t.Fatal("sessions disagree on ID or roles")
	}
	if again, _ := hi.Session(); again != si {
		t.Fatal("Session made a second session from one handshake")
	}
	checkZeroSecrets(t, hi, true)
	for _, d := range []struct{ from, to *Session }{{si, sr}, {sr, si}} {
		rec, err := d.from.Seal([]byte("hello"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if _, pt, err := d.to.Open(rec); err != nil || string(pt) != "hello" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
	}
}

// TestHandshakeEveryByteFlipped flips every byte (XOR 0xff) of every
// message, one position at a time, and feeds it to a fresh copy of the
// receiving side. Messages 2 to 4 must be refused by the receiver at once.
// Message 1 is not signed when it arrives, so a change to e_I or n_I is
// accepted by the responder; the test then checks that the initiator
// refuses the responder's answer, whose signature covers the changed bytes,
// and that only e_I and n_I were accepted. Full coverage: every position of
// every message.
func TestHandshakeEveryByteFlipped(t *testing.T) {
	a, b, _ := testPeers(t)
	rec := recordHandshake(t, a, b)
	ephOff := 2 + 2*len(supportedVersions)
	for k, msg := range rec.msgs {
		t.Run(fmt.Sprintf("message %d", k+1), func(t *testing.T) {
			for pos := range msg {
				bad := bytes.Clone(msg)
				bad[pos] ^= 0xff
				h := rec.receiver(k)
				err := h.ReadMessage(bad)
				if err == nil && k == 0 {
					if pos < ephOff || pos >= ephOff+ephemeralSize+nonceSize {
						t.Fatalf("byte %d of message 1 flipped and accepted", pos)
					}
					ini := rec.receiver(1)
					checkFailed(t, ini, ini.ReadMessage(mustWrite(t, h)), rec.msgs[1])
					continue
				}
				if err != ErrHandshake {
					t.Fatalf("byte %d flipped: error %v", pos, err)
				}
				checkFailed(t, h, err, msg)
			}
		})
	}
}

func TestHandshakeTruncatedAndExtended(t *testing.T) {
	a, b, _ := testPeers(t)
	rec := recordHandshake(t, a, b)
	for k, msg := range rec.msgs {
		t.Run(fmt.Sprintf("message %d", k+1), func(t *testing.T) {
			for n := range len(msg) {
				h := rec.receiver(k)
				checkFailed(t, h, h.ReadMessage(msg[:n]), msg)
			}
			cases := map[string][]byte{
				"trailing byte": append(bytes.Clone(msg), 0),
				"over MaxHandshakeMessage": append(bytes.Clone(msg),
					make([]byte, MaxHandshakeMessage+1-len(msg))...),
			}
			for name, bad := range cases {
				h := rec.receiver(k)
				if err := h.ReadMessage(bad); err != ErrHandshake {
					t.Fatalf("%s: %v", name, err)
				}
			}
		})
	}
}

func TestHandshakeWrongOrder(t *testing.T) {
	a, b, _ := testPeers(t)
	rec := recordHandshake(t, a, b)
	tests := []struct {
		name string
		run  func(hi, hr *Handshake) (*Handshake, error)
	}{
		{"initiator reads first", func(hi, hr *Handshake) (*Handshake, error) {
			return hi, hi.ReadMessage(rec.msgs[1])
		}},
		{"responder writes first", func(hi, hr *Handshake) (*Handshake, error) {
			_, err := hr.WriteMessage()
			return hr, err
		}},
		{"initiator writes twice", func(hi, hr *Handshake) (*Handshake, error) {
			hi.WriteMessage()
			_, err := hi.WriteMessage()
			return hi, err
		}},
		{"responder reads message 1 twice", func(hi, hr *Handshake) (*Handshake, error) {
			m := mustWrite(t, hi)
			mustRead(t, hr, m)
			return hr, hr.ReadMessage(m)
		}},
		{"read after done", func(hi, hr *Handshake) (*Handshake, error) {
			r := recordPair(t, hi, hr)
			return hi, hi.ReadMessage(r.msgs[3])
		}},
		{"write after done", func(hi, hr *Handshake) (*Handshake, error) {
			recordPair(t, hi, hr)
			_, err := hr.WriteMessage()
			return hr, err
		}},
		{"zero Handshake", func(hi, hr *Handshake) (*Handshake, error) {
			h := new(Handshake)
			return h, h.ReadMessage(rec.msgs[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hi, hr := newPair(t, a, b)
			if s, err := hi.Session(); s != nil || err == nil {
				t.Fatal("Session before done succeeded")
			}
			h, err := tt.run(hi, hr)
			checkFailed(t, h, err, rec.msgs[0])
		})
	}
}

func TestHandshakeConfig(t *testing.T) {
	a, b, c := testPeers(t)
	tests := []struct {
		name string
		mod  func(*HandshakeConfig)
	}{
		{"no identity", func(c *HandshakeConfig) { c.Identity = nil }},
		{"no bundle", func(c *HandshakeConfig) { c.Bundle = nil }},
		{"no verifier", func(c *HandshakeConfig) { c.VerifyHost = nil }},
		{"bundle of another identity", func(cfg *HandshakeConfig) { cfg.Identity = c.id }},
		{"bundle of another peer ID", func(cfg *HandshakeConfig) { cfg.LocalPeerID = c.peerID }},
		{"no remote peer ID", func(c *HandshakeConfig) { c.RemotePeerID = nil }},
		{"remote peer ID too long", func(c *HandshakeConfig) { c.RemotePeerID = make([]byte, maxPeerIDLen+1) }},
		{"remote peer is local peer", func(c *HandshakeConfig) { c.RemotePeerID = c.LocalPeerID }},
		{"failing Rand", func(c *HandshakeConfig) { c.Rand = failReader{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgI, cfgR := hsConfigs(a, b)
			tt.mod(&cfgI)
			tt.mod(&cfgR)
			if h, err := NewInitiator(cfgI); h != nil || err == nil {
				t.Error("NewInitiator accepted the config")
			}
			if h, err := NewResponder(cfgR); h != nil || err == nil {
				t.Error("NewResponder accepted the config")
			}
		})
	}
}

// pipeEnd is one end of an in-memory duplex stream.
type pipeEnd struct {
	r *bufio.Reader
	w *io.PipeWriter
}

func duplex() (x, y pipeEnd) {
	xr, yw := io.Pipe()
	yr, xw := io.Pipe()
	return pipeEnd{bufio.NewReader(xr), xw}, pipeEnd{bufio.NewReader(yr), yw}
}

func TestHandshakeRun(t *testing.T) {
	// Built with newTestPeer, the shared helper, to keep it tested too.
	var a, b testPeer
	a.id, a.peerID, a.bundle = newTestPeer(t)
	b.id, b.peerID, b.bundle = newTestPeer(t)
	if a.id.Fingerprint().Equal(b.id.Fingerprint()) || bytes.Equal(a.peerID, b.peerID) {
		t.Fatal("newTestPeer returned the same identity or peer ID twice")
	}
	hi, hr := newPair(t, &a, &b)
	x, y := duplex()
	var wg sync.WaitGroup
	var sr *Session
	var errR error
	wg.Go(func() {
		sr, errR = hr.Run(y.r, y.w)
		y.w.Close() // unblocks the initiator if the responder failed
	})
	si, errI := hi.Run(x.r, x.w)
	x.w.Close()
	wg.Wait()
	if errI != nil || errR != nil {
		t.Fatalf("Run: initiator %v, responder %v", errI, errR)
	}
	if si.ID() != sr.ID() || !bytes.Equal(si.PeerBundle().Bytes(), b.bundle.Bytes()) {
		t.Fatal("sessions do not match")
	}
	if s, err := hi.Run(x.r, x.w); s != si || err != nil {
		t.Fatal("Run on a done handshake did not return its session")
	}
}

func TestHandshakeRunFailures(t *testing.T) {
	a, b, _ := testPeers(t)
	tests := []struct {
		name     string
		input    []byte
		wantAuth bool  // errors.Is(err, ErrHandshake)
		wantErr  error // also errors.Is, if not nil
	}{
		{"2^32-1 length prefix", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, true, ErrFrameTooLarge},
		{"frame over MaxHandshakeMessage", AppendFrame(nil, make([]byte, MaxHandshakeMessage+1)), true, ErrFrameTooLarge},
		{"zero-length frame", []byte{0}, true, ErrBadFrame},
		{"garbage frame", AppendFrame(nil, []byte("hello")), true, nil},
		{"stream ends", nil, false, io.EOF},
		{"stream ends inside a frame", []byte{0x10, 1, 2}, false, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, hr := newPair(t, a, b)
			s, err := hr.Run(bufio.NewReader(bytes.NewReader(tt.input)), io.Discard)
			if s != nil || err == nil || errors.Is(err, ErrHandshake) != tt.wantAuth ||
				(tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Run = %v, %v", s, err)
			}
			if hr.state != stateFailed {
				t.Fatal("handshake not failed")
			}
		})
	}
	t.Run("write error", func(t *testing.T) {
		hi, _ := newPair(t, a, b)
		pr, pw := io.Pipe()
		pr.Close()
		if _, err := hi.Run(bufio.NewReader(bytes.NewReader(nil)), pw); err == nil || hi.state != stateFailed {
			t.Fatalf("Run with a broken writer = %v", err)
		}
	})
}
