package e2e

import "crypto/sha256"

// The initiator's two RSA private-key operations after message 2 do not
// depend on each other, so they run at once, on two cores where there are
// two:
//
//   - unwrapping s_R (OAEP decryption) needs only message 2;
//   - signing message 3 covers the transcript through message 3's body,
//     which is msg 1, msg 2's body and sig_R, and OAEP(IK_enc_R, s_I). s_R
//     enters only the key schedule (master secret, finished MACs), which
//     comes after the signature.
//
// Nothing changes on the wire or in the transcript: message 3 is the same
// bytes, made earlier. The responder has no such pair: its signature must
// go out in message 2 before message 3, whose secret it unwraps, exists.

// unwrapAndPrepareMsg3 opens the responder's wrapped secret into
// h.peerSecret and, at the same time, makes message 3's wrapped s_I and
// signature into h.msg3. It runs after sig_R verified, so unsigned input
// still never reaches RSA decryption. Either failure fails both, with
// nothing kept: the caller turns false into ErrHandshake.
func (h *Handshake) unwrapAndPrepareMsg3(wrappedR []byte) bool {
	type unwrapped struct {
		s   []byte
		err error
	}
	done := make(chan unwrapped, 1)
	id := h.cfg.Identity
	go func() {
		s, err := id.unwrap(wrapLabelResponder, wrappedR, secretSize)
		done <- unwrapped{s, err}
	}()
	m, err := h.prepareMsg3()
	r := <-done
	defer clear(r.s)
	if err != nil || r.err != nil {
		return false
	}
	copy(h.peerSecret[:], r.s)
	h.msg3 = m
	return true
}

// prepareMsg3 wraps s_I to the responder and signs the transcript through
// message 3's body, without adding to the transcript (writeMsg3 does).
func (h *Handshake) prepareMsg3() (*msg3, error) {
	wrapped, err := h.peer.Identity().wrap(wrapLabelInitiator, h.secret[:])
	if err != nil {
		return nil, err
	}
	m := &msg3{wrapped: wrapped}
	th := h.tr.sumWith(m.marshalBody())
	if m.sig, err = h.cfg.Identity.sign(sigLabelInitiator, th[:]); err != nil {
		return nil, err
	}
	return m, nil
}

// sumWith is the transcript hash as it will be once p is added, leaving
// the transcript as it is.
func (t *transcript) sumWith(p []byte) [32]byte {
	b := appendVec16(t.b[:len(t.b):len(t.b)], p)
	return sha256.Sum256(b)
}
