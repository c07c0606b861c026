package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/cryptotest"
)

// Known-answer vectors for the handshake, in the age style: a text file of
// "key: value" lines under a comment header that says how it was made. Run
// with -update to rewrite them (and review the diff).

type kv struct{ key, value string }

const (
	handshakeVectorPath   = "testdata/handshake.txt"
	keyScheduleVectorPath = "testdata/handshake_keyschedule.txt"
)

// readKV reads a vector file: '#' comments, blank lines, "key: value" lines.
func readKV(t testing.TB, path string) []kv {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	var out []kv
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		out = append(out, kv{k, v})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readKVMap is [readKV] as a map; of two lines with one key the later wins.
func readKVMap(t testing.TB, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range readKV(t, path) {
		m[e.key] = e.value
	}
	return m
}

// checkOrWriteKV compares got with the file at path, or writes it under
// -update with header as its comment block.
func checkOrWriteKV(t *testing.T, path, header string, got []kv) {
	t.Helper()
	if *update {
		var b strings.Builder
		b.WriteString(header)
		for _, e := range got {
			fmt.Fprintf(&b, "%s: %s\n", e.key, e.value)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	checkKV(t, path, got, len(got))
}

// checkKV compares got with the file at path: as many entries, the first n
// of them equal. It returns the file's entries.
func checkKV(t *testing.T, path string, got []kv, n int) []kv {
	t.Helper()
	want := readKV(t, path)
	if len(want) != len(got) {
		t.Fatalf("%s: %d entries, computed %d", path, len(want), len(got))
	}
	for i := range n {
		if want[i] != got[i] {
			t.Errorf("%s: %q:\n file     %s\n computed %s: %s", path, want[i].key, want[i].value, got[i].key, got[i].value)
		}
	}
	return want
}

func lookupKV(t *testing.T, kvs []kv, key string) []byte {
	t.Helper()
	for _, e := range kvs {
		if e.key == key {
			b, err := hex.DecodeString(e.value)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return b
		}
	}
	t.Fatalf("vector lacks %q", key)
	return nil
}

const handshakeVectorHeader = `# securechat-v1 handshake test vector (e2e/PROTOCOL.md, section "Handshake").
#
# Made by: go test ./e2e -run 'TestHandshakeVector$' -update
# Identities: Identity.Encode (uint16 length + PKCS #8 DER, twice), hex, in the
# files named below. Host keys: Ed25519 from the seeds below; the host key is
# in libp2p's marshalled form (08 01 12 20 || public key) and the peer ID is
# its identity multihash (00 24 || host key).
# Randomness: each side's HandshakeConfig.Rand is SHAKE128(rand label), read
# as e (32 bytes, the X25519 private key), n (32), s (32), in that order.
# RSA-PSS salts and RSA-OAEP seeds (both bundles, messages 2 and 3) come from
# testing/cryptotest.SetGlobalRandom(t, 1), with the bundles made initiator
# first and the calls in protocol order (I writes 1, R reads 1, R writes 2,
# ...). Those bytes follow Go's crypto/rsa and may need -update after a Go
# upgrade; everything else, and handshake_keyschedule.txt, must not change.
# dh, transcript hash (through sig_I: the HKDF salt), root key and session id
# are the key schedule's inputs and outputs.
`

func TestHandshakeVector(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	type side struct {
		name, idName, randLabel string
		idx                     int
	}
	sides := []side{
		{"initiator", "a", "securechat-v1 test vector initiator", 0},
		{"responder", "b", "securechat-v1 test vector responder", 1},
	}
	var out []kv
	add := func(k string, v []byte) { out = append(out, kv{k, hex.EncodeToString(v)}) }
	var peers [2]*testPeer
	var ephs [2]*ecdh.PrivateKey
	var secrets [2][]byte
	for i, s := range sides {
		seed := sha256.Sum256([]byte(s.randLabel + " host"))
		peers[i] = newTestPeerWith(t, s.idx, seed[:])
		draw := make([]byte, 96)
		io.ReadFull(shakeReader(s.randLabel), draw)
		ephs[i], _ = ecdh.X25519().NewPrivateKey(draw[:32])
		secrets[i] = draw[64:]
		out = append(out, kv{s.name + " identity file", testIdentityPath(s.idName)})
		fp := peers[i].id.Fingerprint()
		add(s.name+" fingerprint", fp[:])
		add(s.name+" host seed", seed[:])
		add(s.name+" peer id", peers[i].peerID)
		out = append(out, kv{s.name + " rand label", s.randLabel})
		add(s.name+" ephemeral private", draw[:32])
		add(s.name+" nonce", draw[32:64])
		add(s.name+" secret", draw[64:])
	}
	cfgI, cfgR := hsConfigs(peers[0], peers[1])
	cfgI.Rand, cfgR.Rand = shakeReader(sides[0].randLabel), shakeReader(sides[1].randLabel)
	hi, hr := mustHandshakes(t, cfgI, cfgR)
	rec := recordPair(t, hi, hr)
	for k, m := range rec.msgs {
		add(fmt.Sprintf("message %d", k+1), m)
	}

	// The key schedule inputs, recomputed here from the messages rather
	// than taken from the handshake.
	dh, err := ephs[0].ECDH(ephs[1].PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	m2, body2, ok2 := parseMsg2(rec.msgs[1])
	m3, body3, ok3 := parseMsg3(rec.msgs[2])
	if !ok2 || !ok3 {
		t.Fatal("messages do not parse")
	}
	var tr []byte
	for _, v := range [][]byte{[]byte("securechat-v1 handshake"), []byte("/securechat/1.0.0"),
		peers[0].peerID, peers[1].peerID, rec.msgs[0], body2, m2.sig, body3, m3.sig} {
		tr = appendVec16(tr, v)
	}
	th := sha256.Sum256(tr)
	add("dh", dh)
	add("transcript hash", th[:])
	add("root key", hi.keys.rootKey[:])
	add("session id", hi.keys.sessionID[:])
	checkOrWriteKV(t, handshakeVectorPath, handshakeVectorHeader, out)

	var d, sI, sR [32]byte
	copy(d[:], dh)
	copy(sI[:], secrets[0])
	copy(sR[:], secrets[1])
	ks, err := deriveKeys(&d, &sI, &sR, th)
	if err != nil || ks.rootKey != hi.keys.rootKey || ks.sessionID != hr.keys.sessionID ||
		finishedMAC(&ks.finishedI, th) != m3.finished {
		t.Fatal("handshake disagrees with the key schedule on the recomputed inputs")
	}
	si, err := hi.Session()
	if err != nil {
		t.Fatal(err)
	}
	if sr, err := hr.Session(); err != nil || si.ID() != ks.sessionID || sr.ID() != ks.sessionID {
		t.Fatalf("session IDs differ from the vector: %v", err)
	} else if si.exp.secret != ks.exporter || sr.exp.secret != ks.exporter {
		t.Fatal("the sessions do not hold the key schedule's exporter secret")
	}
}

const keyScheduleVectorHeader = `# securechat-v1 handshake key schedule test vector (e2e/PROTOCOL.md,
# section "Handshake", "Key schedule"). It involves no RSA and no randomness.
#
# Made by: go test ./e2e -run 'TestKeyScheduleVector$' -update
# Inputs: dh, s_I, s_R and transcript hash are SHA-256 of the ASCII strings
# "dh", "s_I", "s_R" and "transcript hash".
#   master         = HKDF-Extract(SHA-256, salt = transcript hash, ikm = dh || s_I || s_R)
#   finished key I = HKDF-Expand(SHA-256, master, "securechat-v1 finished initiator", 32)
#   finished key R = HKDF-Expand(SHA-256, master, "securechat-v1 finished responder", 32)
#   root key       = HKDF-Expand(SHA-256, master, "securechat-v1 root key", 32)
#   session id     = HKDF-Expand(SHA-256, master, "securechat-v1 session id", 32)
#   finished I     = HMAC-SHA256(finished key I, transcript hash)
#   exporter secret = HKDF-Expand(SHA-256, master, "securechat-v1 exporter", 32)
# The exporter secret was added after the other lines, which did not change.
`

// rfc5869 is HKDF-SHA256 written out from RFC 5869 with crypto/hmac, an
// implementation independent of crypto/hkdf to check the vector against.
func rfc5869(salt, ikm []byte, info string) (prk, okm []byte) {
	m := hmac.New(sha256.New, salt)
	m.Write(ikm)
	prk = m.Sum(nil)
	m = hmac.New(sha256.New, prk)
	m.Write([]byte(info))
	m.Write([]byte{1})
	return prk, m.Sum(nil)
}

func TestKeyScheduleVector(t *testing.T) {
	in := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	dh, sI, sR, th := in("dh"), in("s_I"), in("s_R"), in("transcript hash")
	if !*update {
		// Take the inputs from the file, so that the file is a real
		// known-answer test and not only our own output.
		f := readKV(t, keyScheduleVectorPath)
		copy(dh[:], lookupKV(t, f, "dh"))
		copy(sI[:], lookupKV(t, f, "s_I"))
		copy(sR[:], lookupKV(t, f, "s_R"))
		copy(th[:], lookupKV(t, f, "transcript hash"))
	}
	ks, err := deriveKeys(&dh, &sI, &sR, th)
	if err != nil {
		t.Fatal(err)
	}
	ikm := bytes.Join([][]byte{dh[:], sI[:], sR[:]}, nil)
	outs := []struct {
		name, label string
		got         [32]byte
	}{
		{"finished key I", kdfLabelFinishedI, ks.finishedI},
		{"finished key R", kdfLabelFinishedR, ks.finishedR},
		{"root key", kdfLabelRootKey, ks.rootKey},
		{"session id", kdfLabelSessionID, ks.sessionID},
		{"exporter secret", kdfLabelExporter, ks.exporter},
	}
	got := []kv{{"dh", hex.EncodeToString(dh[:])}, {"s_I", hex.EncodeToString(sI[:])},
		{"s_R", hex.EncodeToString(sR[:])}, {"transcript hash", hex.EncodeToString(th[:])},
		{"master", hex.EncodeToString(ks.master[:])}}
	for _, o := range outs {
		prk, okm := rfc5869(th[:], ikm, o.label)
		if !bytes.Equal(prk, ks.master[:]) || !bytes.Equal(okm, o.got[:]) {
			t.Errorf("%s differs from RFC 5869 HKDF", o.name)
		}
		got = append(got, kv{o.name, hex.EncodeToString(o.got[:])})
	}
	fin := finishedMAC(&ks.finishedI, th)
	// The exporter secret came later than the rest and goes last, so the
	// lines before it stay as they were.
	exp := got[len(got)-1]
	got = append(got[:len(got)-1], kv{"finished I", hex.EncodeToString(fin[:])}, exp)
	checkOrWriteKV(t, keyScheduleVectorPath, keyScheduleVectorHeader, got)
}
