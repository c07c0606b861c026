package e2e

import (
	"bytes"
	"testing"
)

// TestInitiatorParallelMsg3: message 3, made while s_R is unwrapped, is
// exactly the message the sequential order makes (wrap, then sign the
// transcript through its body); a validly signed message 2 whose secret
// does not unwrap still fails ReadMessage with the one error, with every
// secret and the prepared message 3 gone.
func TestInitiatorParallelMsg3(t *testing.T) {
	a, b, c := testPeers(t)
	t.Run("same message 3", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		mustRead(t, hr, mustWrite(t, hi))
		mustRead(t, hi, mustWrite(t, hr))
		if hi.msg3 == nil || hi.peerSecret != hr.secret {
			t.Fatal("reading message 2 did not unwrap s_R and prepare message 3")
		}
		// The transcript does not yet hold message 3; the signature must
		// verify over the transcript through its body, as sequential code
		// would have signed it.
		tr := transcript{b: bytes.Clone(hi.tr.b)}
		tr.add(hi.msg3.marshalBody())
		th := tr.sum()
		if err := a.id.Public().verify(sigLabelInitiator, th[:], hi.msg3.sig); err != nil {
			t.Fatalf("sig_I over the sequential transcript: %v", err)
		}
		if th != hi.tr.sumWith(hi.msg3.marshalBody()) {
			t.Fatal("sumWith differs from add then sum")
		}
		m3 := mustWrite(t, hi)
		if hi.msg3 != nil {
			t.Error("prepared message 3 kept after writing it")
		}
		mustRead(t, hr, m3)
		mustRead(t, hi, mustWrite(t, hr))
		if !hi.Done() || !hr.Done() {
			t.Fatal("handshake not done")
		}
	})
	t.Run("s_R does not unwrap", func(t *testing.T) {
		hi, hr := newPair(t, a, b)
		mustRead(t, hr, mustWrite(t, hi))
		// The responder signs message 2 properly but wraps s_R to c.
		hr.peer = c.bundle
		m2 := mustWrite(t, hr)
		err := hi.ReadMessage(m2)
		if hi.msg3 != nil {
			t.Error("prepared message 3 kept after the failure")
		}
		checkFailed(t, hi, err, nil)
	})
	t.Run("write message 3 out of order", func(t *testing.T) {
		hi, _ := newPair(t, a, b)
		mustWrite(t, hi)
		hi.state = stateWriteMsg3 // as if message 2 had been read, without it
		_, err := hi.WriteMessage()
		checkFailed(t, hi, err, nil)
	})
}
