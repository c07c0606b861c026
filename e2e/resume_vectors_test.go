package e2e

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"testing"
)

const resumeVectorPath = "testdata/resume.txt"

const resumeVectorHeader = `# securechat-v1 resumption test vector (e2e/PROTOCOL.md, section "Resumption").
#
# Made by: go test ./e2e -run 'TestResumeVector$' -update
# Peers: the identities and host seeds of testdata/handshake.txt (identity
# a initiates and holds the ticket, b issued it). No RSA operation and no
# other randomness is involved, so nothing here may ever change.
# Ticket secret: Export("securechat-v1 resumption", ticket id || u64 expiry ||
# vec16(issuer peer id) || vec16(holder peer id) || issuer fingerprint ||
# holder fingerprint, 32) from the exporter secret below, as AcceptTicket
# derives it from the offer (ticket id || u64 expiry).
# Randomness: each side's HandshakeConfig.Rand is SHAKE128(rand label); its
# first 32 bytes are the X25519 private key.
# Then the three messages, dh, the transcript hash through R2's body (the
# HKDF salt) and the session's root key, session id and exporter secret.
`

func TestResumeVector(t *testing.T) {
	var out []kv
	add := func(k string, v []byte) { out = append(out, kv{k, hex.EncodeToString(v)}) }
	labels := []string{"securechat-v1 test vector initiator", "securechat-v1 test vector responder"}
	var peers [2]*testPeer
	var ephs [2]*ecdh.PrivateKey
	for i, l := range labels {
		seed := sha256.Sum256([]byte(l + " host"))
		peers[i] = newTestPeerWith(t, i, seed[:])
		var draw [32]byte
		io.ReadFull(shakeReader("resume "+l), draw[:])
		ephs[i], _ = ecdh.X25519().NewPrivateKey(draw[:])
	}
	a, b := peers[0], peers[1]
	fpA, fpB := a.id.Fingerprint(), b.id.Fingerprint()
	add("initiator peer id", a.peerID)
	add("responder peer id", b.peerID)
	add("initiator fingerprint", fpA[:])
	add("responder fingerprint", fpB[:])

	// The ticket, as the holder's session derives it from b's offer.
	var exp [32]byte
	for i := range exp {
		exp[i] = byte(0xe0 + i%16)
	}
	holder := &Session{local: a.bundle, peer: b.bundle, exp: newExporter(&exp)}
	issuer := &Session{local: b.bundle, peer: a.bundle, exp: newExporter(&exp)}
	var id [TicketIDSize]byte
	for i := range id {
		id[i] = byte(i)
	}
	offer := binary.BigEndian.AppendUint64(id[:], uint64(resumeNow.Add(TicketLifetime).Unix()))
	held, err := holder.AcceptTicket(offer, resumeNow)
	if err != nil {
		t.Fatal(err)
	}
	issued := &Ticket{role: ticketIssuer, id: id, expires: held.expires}
	if err := issuer.deriveTicket(issued); err != nil || issued.secret != held.secret {
		t.Fatalf("issuer and holder derive different secrets: %v", err)
	}
	// The ticket secret by the specification, from the standard library.
	ctx := binary.BigEndian.AppendUint64(append([]byte(nil), id[:]...), uint64(held.expires))
	ctx = appendVec16(appendVec16(ctx, b.peerID), a.peerID)
	ctx = append(append(ctx, fpB[:]...), fpA[:]...)
	want, _ := hkdf.Expand(sha256.New, exp[:], string(appendVec16(appendVec16(nil, []byte("securechat-v1 resumption")), ctx)), 32)
	if !hmac.Equal(want, held.secret[:]) {
		t.Fatal("ticket secret differs from the specification's")
	}
	add("exporter secret", exp[:])
	add("ticket offer", offer)
	add("ticket secret", held.secret[:])
	secret := held.secret

	cfgI, cfgR := hsConfigs(a, b)
	cfgI.Rand, cfgR.Rand = shakeReader("resume "+labels[0]), shakeReader("resume "+labels[1])
	xi, err := NewResumeInitiator(cfgI, held, resumeNow)
	if err != nil {
		t.Fatal(err)
	}
	xr, err := NewResumeResponder(cfgR, takeOnce(t, issued), resumeNow)
	if err != nil {
		t.Fatal(err)
	}
	var msgs [3][]byte
	for k := range msgs {
		from, to := xi, xr
		if k == 1 {
			from, to = xr, xi
		}
		if msgs[k], err = from.WriteMessage(); err != nil {
			t.Fatal(err)
		}
		if err := to.ReadMessage(msgs[k]); err != nil {
			t.Fatalf("message %d: %v", k+1, err)
		}
		add("message "+string(rune('1'+k)), msgs[k])
	}

	// The key schedule, recomputed here from the messages with the
	// standard library rather than taken from the resumption.
	dh, err := ephs[0].ECDH(ephs[1].PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	var tr []byte
	body2 := msgs[1][:len(msgs[1])-finishedSize]
	for _, v := range [][]byte{[]byte("securechat-v1 resume"), []byte("/securechat/1.0.0"),
		a.peerID, b.peerID, fpA[:], fpB[:], msgs[0], body2} {
		tr = appendVec16(tr, v)
	}
	h2 := sha256.Sum256(tr)
	master, _ := hkdf.Extract(sha256.New, append(dh, secret[:]...), h2[:])
	expand := func(label string) []byte {
		k, _ := hkdf.Expand(sha256.New, master, label, 32)
		return k
	}
	mac := func(key []byte, th [32]byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(th[:])
		return m.Sum(nil)
	}
	if !hmac.Equal(mac(expand("securechat-v1 finished responder"), h2), msgs[1][len(body2):]) {
		t.Fatal("finished_R is not HMAC(finished key R, H2)")
	}
	tr = appendVec16(tr, msgs[1][len(body2):])
	if !hmac.Equal(mac(expand("securechat-v1 finished initiator"), sha256.Sum256(tr)), msgs[2][1:]) {
		t.Fatal("finished_I is not HMAC(finished key I, H3)")
	}
	root, sid, exporter := expand("securechat-v1 root key"), expand("securechat-v1 session id"), expand("securechat-v1 exporter")
	if !hmac.Equal(root, xi.keys.rootKey[:]) || !hmac.Equal(sid, xr.keys.sessionID[:]) || !hmac.Equal(exporter, xr.keys.exporter[:]) {
		t.Fatal("keys differ from the specification's")
	}
	add("dh", dh)
	add("transcript hash", h2[:])
	add("root key", root)
	add("session id", sid)
	add("exporter secret out", exporter)
	checkOrWriteKV(t, resumeVectorPath, resumeVectorHeader, out)
}
