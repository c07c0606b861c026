package e2e

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
)

// This file holds the session's exporter: keys for uses outside the Double
// Ratchet (file transfer, filekey.go), derived in the spirit of the TLS 1.3
// exporter (RFC 8446, section 7.5) from a secret of their own.
//
// The exporter secret comes from the handshake's key schedule under its own
// label ("securechat-v1 exporter"), beside the root key, from a master secret
// that is erased when the handshake ends. HKDF-Expand outputs under distinct
// labels are independent, so nothing exported says anything about the root
// key, and so about any chain or message key: the ratchet keeps every
// property it had. The converse holds too: no ratchet key is ever exported.
//
// The price is that the exporter secret does not ratchet: it lives, in
// memory, as long as the session, and a state leaked at any moment holds
// it. That is why file keys also need a secret carried in the file offer,
// which the ratchet protects (see [Session.SendFileKey]).

// errNoExporter is returned when the session has no exporter secret any more
// (it failed or was closed both ways) or never had one (a session made
// without a handshake, in tests).
var errNoExporter = errors.New("e2e: session exports no keys")

// exporter holds the exporter secret of one session.
type exporter struct {
	secret [32]byte
	ok     bool
}

// newExporter copies secret; an all-zero secret means none.
func newExporter(secret *[32]byte) exporter {
	return exporter{secret: *secret, ok: *secret != [32]byte{}}
}

// export is
//
//	HKDF-Expand(SHA-256, exporter secret, vec16(label) || vec16(context), n)
//
// The length prefixes make (label, context) one-to-one with the info string,
// so no two exports with different inputs share an output. label must be one
// of the package's constants; context is at most a few dozen bytes.
func (e *exporter) export(label string, context []byte, n int) ([]byte, error) {
	if !e.ok {
		return nil, errNoExporter
	}
	info := appendVec16(nil, []byte(label))
	info = appendVec16(info, context)
	return hkdf.Expand(sha256.New, e.secret[:], string(info), n)
}

// wipe forgets the secret; later exports fail.
func (e *exporter) wipe() {
	clear(e.secret[:])
	e.ok = false
}

// export derives n bytes from the session's exporter secret. It fails once
// the session has failed or both sides have closed it.
func (s *Session) export(label string, context []byte, n int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return s.exp.export(label, context, n)
}

// forgetExporterIfClosed wipes the exporter secret once both sides sent
// CLOSE: no DATA record can travel any more, so no file can be offered or
// accepted, and transfers under way already hold their keys. The caller holds
// s.mu.
func (s *Session) forgetExporterIfClosed() {
	if s.st.sendClosed && s.st.recvClosed {
		s.exp.wipe()
	}
}
