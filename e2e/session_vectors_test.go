package e2e

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// The record vectors fix every input of a short conversation: the root key
// and session ID a handshake would give, both handshake ephemerals, and each
// fresh ratchet private key, so another implementation can replay it byte
// for byte. Regenerate with: go test ./e2e -run TestRecordVectors -update

const recordVectorsFile = "testdata/records.txt"

// vectorStep is one record of the conversation, sealed and then opened at
// once by the other side.
type vectorStep struct {
	fromInitiator bool
	typ           RecordType
	plaintext     string
}

var vectorScript = []vectorStep{
	{true, RecordData, "hello from the initiator"},
	{true, RecordData, "a second record on the same chain"},
	{false, RecordData, "hello from the responder"},
	{false, RecordHeartbeat, ""},
	{true, RecordData, "a new chain after one round trip"},
	{false, RecordData, "and another one back"},
	{true, RecordClose, ""},
}

// recordingReader passes reads through and remembers the bytes.
type recordingReader struct {
	r   io.Reader
	got []byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

type vectorFile struct {
	header  map[string][]byte
	records []map[string]string
}

// parseVectorFile reads "key: value" lines; blank lines separate blocks,
// the first block is the header and '#' starts a comment line.
func parseVectorFile(t testing.TB, b []byte) vectorFile {
	t.Helper()
	var vf vectorFile
	var blocks []map[string]string
	cur := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
		case line == "":
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("bad vector line %q", line)
			}
			cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	if len(blocks) < 2 {
		t.Fatal("vector file has no records")
	}
	vf.header = map[string][]byte{}
	for k, v := range blocks[0] {
		vf.header[k] = mustHex(t, v)
	}
	vf.records = blocks[1:]
	return vf
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// vectorConfig builds the pair config from the file header; rand readers
// are set by the caller.
func vectorConfig(t testing.TB, h map[string][]byte) pairConfig {
	t.Helper()
	var c pairConfig
	copy(c.root[:], h["root_key"])
	copy(c.id[:], h["session_id"])
	c.eI = testX25519(t, bytes.NewReader(h["initiator_ephemeral"]))
	c.eR = testX25519(t, bytes.NewReader(h["responder_ephemeral"]))
	return c
}

func generateRecordVectors(t *testing.T) []byte {
	var out bytes.Buffer
	out.WriteString(`# securechat-v1 session records: known-answer vectors (e2e/PROTOCOL.md, "records").
# Regenerate with: go test ./e2e -run TestRecordVectors -update
#
# Header: the root key and session ID a handshake would output and the X25519
# private keys of both handshake ephemerals (e_I, e_R). Then one block per
# record, in order; each record is opened by the other side before the next
# one is sealed. ratchet_private, when present, is the fresh X25519 private
# key the sender drew for a DH step just before sealing that record;
# aead_key and aead_nonce are what the message key expanded to. All values
# are hex; plaintext is empty for heartbeat and close.
`)
	rng := newDetReader("securechat-v1 record vectors")
	h := map[string][]byte{}
	for _, k := range []string{"root_key", "session_id", "initiator_ephemeral", "responder_ephemeral"} {
		h[k] = make([]byte, 32)
		rng.Read(h[k])
	}
	fmt.Fprintf(&out, "\nroot_key: %x\nsession_id: %x\ninitiator_ephemeral: %x\nresponder_ephemeral: %x\n",
		h["root_key"], h["session_id"], h["initiator_ephemeral"], h["responder_ephemeral"])
	c := vectorConfig(t, h)
	rI := &recordingReader{r: newDetReader("securechat-v1 record vectors initiator")}
	rR := &recordingReader{r: newDetReader("securechat-v1 record vectors responder")}
	c.randI, c.randR = rI, rR
	ini, resp := newSessionPairFrom(t, c)
	var key, nonce []byte
	hooks := &sessionHooks{sealKey: func(k [32]byte, n [aeadNonceSize]byte) { key, nonce = k[:], n[:] }}
	ini.hooks, resp.hooks = hooks, hooks
	for _, step := range vectorScript {
		from, to, rr, name := ini, resp, rI, "initiator"
		if !step.fromInitiator {
			from, to, rr, name = resp, ini, rR, "responder"
		}
		rr.got = nil
		rec := sealStep(t, from, step)
		fmt.Fprintf(&out, "\nsender: %s\ntype: %s\n", name, step.typ)
		if len(rr.got) > 0 {
			fmt.Fprintf(&out, "ratchet_private: %x\n", rr.got)
		}
		fmt.Fprintf(&out, "aead_key: %x\naead_nonce: %x\n", key, nonce)
		fmt.Fprintf(&out, "plaintext: %x\nrecord: %x\n", step.plaintext, rec)
		openStep(t, to, step, rec)
	}
	return out.Bytes()
}

func sealStep(t testing.TB, s *Session, step vectorStep) []byte {
	t.Helper()
	var rec []byte
	var err error
	switch step.typ {
	case RecordData:
		rec, err = s.Seal([]byte(step.plaintext))
	case RecordHeartbeat:
		rec, err = s.SealHeartbeat()
	case RecordClose:
		rec, err = s.SealClose()
	}
	if err != nil {
		t.Fatalf("seal %v: %v", step.typ, err)
	}
	return rec
}

func openStep(t testing.TB, s *Session, step vectorStep, rec []byte) {
	t.Helper()
	typ, pt, err := s.Open(rec)
	if err != nil || typ != step.typ || string(pt) != step.plaintext {
		t.Fatalf("open = %v, %q, %v; want %v %q", typ, pt, err, step.typ, step.plaintext)
	}
}

func TestRecordVectors(t *testing.T) {
	if *update { // the package's one -update flag, in helpers_test.go
		if err := os.WriteFile(recordVectorsFile, generateRecordVectors(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(recordVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	vf := parseVectorFile(t, b)
	if len(vf.records) != len(vectorScript) {
		t.Fatalf("%d records in the file, %d in the script", len(vf.records), len(vectorScript))
	}
	// Replay from the file alone: the only randomness is the listed
	// ratchet_private keys, served to each side in order.
	var poolI, poolR bytes.Buffer
	for _, r := range vf.records {
		if r["sender"] == "initiator" {
			poolI.Write(mustHex(t, r["ratchet_private"]))
		} else {
			poolR.Write(mustHex(t, r["ratchet_private"]))
		}
	}
	c := vectorConfig(t, vf.header)
	c.randI, c.randR = &poolI, &poolR
	ini, resp := newSessionPairFrom(t, c)
	var key, nonce []byte
	hooks := &sessionHooks{sealKey: func(k [32]byte, n [aeadNonceSize]byte) { key, nonce = k[:], n[:] }}
	ini.hooks, resp.hooks = hooks, hooks
	for i, r := range vf.records {
		step := vectorScript[i]
		from, to := ini, resp
		if !step.fromInitiator {
			from, to = resp, ini
		}
		if got := map[bool]string{true: "initiator", false: "responder"}[step.fromInitiator]; r["sender"] != got ||
			r["type"] != step.typ.String() || string(mustHex(t, r["plaintext"])) != step.plaintext {
			t.Fatalf("record %d: block does not match the script", i)
		}
		rec := sealStep(t, from, step)
		if want := mustHex(t, r["record"]); !bytes.Equal(rec, want) {
			t.Fatalf("record %d:\n got %x\nwant %x", i, rec, want)
		}
		if !bytes.Equal(key, mustHex(t, r["aead_key"])) || !bytes.Equal(nonce, mustHex(t, r["aead_nonce"])) {
			t.Fatalf("record %d: AEAD key or nonce differs", i)
		}
		openStep(t, to, step, rec)
	}
	if poolI.Len() != 0 || poolR.Len() != 0 {
		t.Fatal("listed ratchet keys were not all used")
	}
}

// TestRecordVectorsFromSpec recomputes two records of the vector file from
// the formulas in PROTOCOL.md with the standard library alone, so the file,
// the document and the code cannot drift apart together.
func TestRecordVectorsFromSpec(t *testing.T) {
	b, err := os.ReadFile(recordVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	vf := parseVectorFile(t, b)
	h := vf.header
	x := ecdh.X25519()
	eI, _ := x.NewPrivateKey(h["initiator_ephemeral"])
	eR, _ := x.NewPrivateKey(h["responder_ephemeral"])
	kdf := func(secret, salt []byte, info string, n int) []byte {
		out, err := hkdf.Key(sha256.New, secret, salt, info, n)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	dh := func(k *ecdh.PrivateKey, pub *ecdh.PublicKey) []byte {
		out, err := k.ECDH(pub)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	hmac1 := func(ck []byte) []byte { m := hmac.New(sha256.New, ck); m.Write([]byte{1}); return m.Sum(nil) }
	record := func(typ byte, pub []byte, pn, n uint32, ck []byte, dir byte, pt []byte) []byte {
		km := kdf(hmac1(ck), nil, "securechat-v1 message key", 44)
		header := append([]byte{typ}, pub...)
		header = binary.BigEndian.AppendUint32(header, pn)
		header = binary.BigEndian.AppendUint32(header, n)
		ad := append([]byte("securechat-v1 record"), h["session_id"]...)
		ad = append(append(ad, dir), header...)
		block, _ := aes.NewCipher(km[:32])
		gcm, _ := cipher.NewGCM(block)
		return gcm.Seal(header, km[32:], pt, ad)
	}

	// Record 0: the initiator's first, on CKs from the handshake DH.
	rkck := kdf(dh(eI, eR.PublicKey()), h["root_key"], "securechat-v1 ratchet root", 64)
	got := record(1, eI.PublicKey().Bytes(), 0, 0, rkck[32:], 0, mustHex(t, vf.records[0]["plaintext"]))
	if want := mustHex(t, vf.records[0]["record"]); !bytes.Equal(got, want) {
		t.Fatalf("record 0 from the spec:\n got %x\nwant %x", got, want)
	}
	// Record 2: the responder's first, on a chain from a fresh key.
	fresh, _ := x.NewPrivateKey(mustHex(t, vf.records[2]["ratchet_private"]))
	rkck2 := kdf(dh(fresh, eI.PublicKey()), rkck[:32], "securechat-v1 ratchet root", 64)
	got = record(1, fresh.PublicKey().Bytes(), 0, 0, rkck2[32:], 1, mustHex(t, vf.records[2]["plaintext"]))
	if want := mustHex(t, vf.records[2]["record"]); !bytes.Equal(got, want) {
		t.Fatalf("record 2 from the spec:\n got %x\nwant %x", got, want)
	}
}
