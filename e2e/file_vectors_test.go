package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Known-answer vectors of file transfer (testdata/filetransfer.txt): the
// file key from an exporter secret, the four records, a stream's chunk key
// and the two chunks of a small file. The test recomputes them through the
// API and, independently, from the formulas of PROTOCOL.md with crypto/hmac
// and crypto/aes alone.

const fileVectorPath = "testdata/filetransfer.txt"

const fileVectorHeader = `# securechat-v1 file transfer test vector (e2e/PROTOCOL.md, section
# "File transfer"). It involves no randomness beyond the listed values.
#
# Made by: go test ./e2e -run 'TestFileVectors$' -update
# exporter secret: the one of testdata/handshake_keyschedule.txt.
# direction: the sender's, 00 = the initiator sends.
# file id, offer secret and stream salt: the first 16, next 32 and next 32
# bytes of the detReader of e2e/session_helpers_test.go with seed
# "securechat-v1 file vector" (SHA-256(seed || u64 counter), block after block).
# File contents: byte i is i mod 251; size is a u64; chunk 0 is given by the
# SHA-256 of the sealed chunk and its tag, chunk 1 (final) in full.
#   bind      = HKDF-Expand(SHA-256, exporter secret, vec16("securechat-v1 file key") || vec16(direction || file id), 32)
#   file key  = HKDF-Extract(SHA-256, salt = bind, ikm = offer secret)
#   chunk key = HKDF-Expand(SHA-256, file key, "securechat-v1 file stream" || salt, 32)
#   chunk i   = AES-256-GCM(chunk key, nonce = 00000000 || u64 i, plaintext,
#               ad = "securechat-v1 file chunk" || file id || u64 i || u8 final)
`

// Spec helpers, written from PROTOCOL.md with crypto/hmac only: HKDF-Expand
// to 32 bytes is one HMAC block, HKDF-Extract is one HMAC.
func specHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func specExpand32(prk []byte, info ...[]byte) []byte {
	return specHMAC(prk, append(info, []byte{1})...)
}

func specVec16(b []byte) []byte { return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...) }

func specFileKey(exporter []byte, dir byte, id, secret []byte) []byte {
	bind := specExpand32(exporter, specVec16([]byte("securechat-v1 file key")),
		specVec16(append([]byte{dir}, id...)))
	return specHMAC(bind, secret)
}

func specChunk(chunkKey, id []byte, index uint64, final bool, pt []byte) []byte {
	block, _ := aes.NewCipher(chunkKey)
	aead, _ := cipher.NewGCM(block)
	nonce := binary.BigEndian.AppendUint64(make([]byte, 4), index)
	ad := append([]byte("securechat-v1 file chunk"), id...)
	ad = binary.BigEndian.AppendUint64(ad, index)
	f := byte(0)
	if final {
		f = 1
	}
	return aead.Seal(nil, nonce, pt, append(ad, f))
}

func vectorFileBytes(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestFileVectors(t *testing.T) {
	const size = FileChunkSize + 100
	var exporterSecret [32]byte
	rnd := make([]byte, 80)
	if *update {
		copy(exporterSecret[:], lookupKV(t, readKV(t, keyScheduleVectorPath), "exporter secret"))
		newDetReader("securechat-v1 file vector").Read(rnd)
	} else {
		f := readKV(t, fileVectorPath)
		copy(exporterSecret[:], lookupKV(t, f, "exporter secret"))
		if !bytes.Equal(exporterSecret[:], lookupKV(t, readKV(t, keyScheduleVectorPath), "exporter secret")) {
			t.Fatal("the exporter secret is not the key schedule vector's")
		}
		copy(rnd[0:16], lookupKV(t, f, "file id"))
		copy(rnd[16:48], lookupKV(t, f, "offer secret"))
		copy(rnd[48:80], lookupKV(t, f, "stream salt"))
	}
	file := vectorFileBytes(size)
	o, err := newFileOffer(bytes.NewReader(rnd[:48]), "vector.bin", size, sha256.Sum256(file))
	if err != nil {
		t.Fatal(err)
	}
	si, sr := newTestSessionPair(t)
	si.exp, sr.exp = newExporter(&exporterSecret), newExporter(&exporterSecret)
	send := mustFileKey(t, si.SendFileKey, o)
	recv := mustFileKey(t, sr.RecvFileKey, o)
	s, err := send.newSealer(bytes.NewReader(rnd[48:]), 0)
	if err != nil {
		t.Fatal(err)
	}
	c0, err := s.Seal(file[:FileChunkSize])
	if err != nil {
		t.Fatal(err)
	}
	c1, err := s.Seal(file[FileChunkSize:])
	if err != nil {
		t.Fatal(err)
	}
	h := s.Header()
	op := mustOpener(t, recv, h)
	p0, err0 := op.Open(c0)
	p1, err1 := op.Open(c1)
	if err0 != nil || err1 != nil || !op.Done() || !bytes.Equal(append(p0, p1...), file) {
		t.Fatalf("the vector's chunks do not open: %v, %v", err0, err1)
	}

	// From the formulas alone.
	fileKey := specFileKey(exporterSecret[:], 0, o.ID[:], o.secret[:])
	chunkKey := specExpand32(fileKey, []byte("securechat-v1 file stream"), h.Salt[:])
	if !bytes.Equal(fileKey, send.key[:]) {
		t.Fatal("file key differs from the formula")
	}
	if !bytes.Equal(specChunk(chunkKey, o.ID[:], 0, false, file[:FileChunkSize]), c0) ||
		!bytes.Equal(specChunk(chunkKey, o.ID[:], 1, true, file[FileChunkSize:]), c1) {
		t.Fatal("chunks differ from the formula")
	}

	var out []kv
	add := func(k string, v []byte) { out = append(out, kv{k, hex.EncodeToString(v)}) }
	add("exporter secret", exporterSecret[:])
	add("direction", []byte{0})
	add("file id", o.ID[:])
	add("offer secret", o.secret[:])
	add("name", []byte(o.Name))
	add("size", binary.BigEndian.AppendUint64(nil, o.Size))
	add("sha256", o.SHA256[:])
	add("offer", o.Encode())
	add("file key", send.key[:])
	add("accept", FileAccept{ID: o.ID, From: 1}.Encode())
	add("reject", FileReject{ID: o.ID, Reason: FileCancelled}.Encode())
	add("stream salt", h.Salt[:])
	add("stream header", h.Encode())
	add("chunk key", chunkKey)
	add("chunk 0 sha256", func() []byte { s := sha256.Sum256(c0); return s[:] }())
	add("chunk 0 tag", c0[len(c0)-16:])
	add("chunk 1", c1)
	checkOrWriteKV(t, fileVectorPath, fileVectorHeader, out)
}
