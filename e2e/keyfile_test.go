package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKDFParams keep the many tamper tests fast: argon2id with 64 MiB costs
// about 0.2 s, and 0.7 s under -race. Only TestKeyFileRealParams pays that.
var testKDFParams = kdfParams{time: 1, memory: 8, threads: 1}

var testPassphrase = []byte("correct horse battery staple")

func testKeyFile(tb testing.TB) *KeyFile {
	tb.Helper()
	kf := &KeyFile{
		HostKey:  []byte("opaque libp2p host key bytes \x00\x01\x02"),
		Identity: testIdentity(tb, 0),
	}
	for i := range kf.StorageKey {
		kf.StorageKey[i] = byte(0xa0 + i)
	}
	return kf
}

// sealTest seals kf with the test parameters.
func sealTest(tb testing.TB, kf *KeyFile) []byte {
	tb.Helper()
	data, err := kf.sealWithParams(testPassphrase, testKDFParams, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		tb.Fatalf("sealWithParams: %v", err)
	}
	return data
}

func checkSameKeyFile(t *testing.T, got, want *KeyFile) {
	t.Helper()
	if !bytes.Equal(got.HostKey, want.HostKey) || got.StorageKey != want.StorageKey {
		t.Fatal("opened key file differs from the sealed one")
	}
	if !got.Identity.Public().Equal(want.Identity.Public()) {
		t.Fatal("opened identity differs from the sealed one")
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	kf := testKeyFile(t)
	data := sealTest(t, kf)
	got, err := OpenKeyFile(data, testPassphrase)
	if err != nil {
		t.Fatalf("OpenKeyFile: %v", err)
	}
	checkSameKeyFile(t, got, kf)
	// The identity must still work: sign with the opened copy, verify with
	// the original.
	sig, err := got.Identity.sign("test", []byte("msg"))
	if err != nil || kf.Identity.Public().verify("test", []byte("msg"), sig) != nil {
		t.Fatalf("opened identity does not sign for the original: %v", err)
	}
}

// TestKeyFileRealParams is the one test that runs argon2id at full cost.
func TestKeyFileRealParams(t *testing.T) {
	kf := testKeyFile(t)
	data, err := kf.Seal(testPassphrase)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	// The header carries exactly the floor parameters.
	off := len(keyFileMagic) + 2
	if tm, m, p := binary.BigEndian.Uint32(data[off:]), binary.BigEndian.Uint32(data[off+4:]), data[off+8]; tm != 3 || m != 64<<10 || p != 4 {
		t.Fatalf("Seal wrote t=%d m=%d p=%d, want t=3 m=65536 p=4", tm, m, p)
	}
	got, err := OpenKeyFile(data, testPassphrase)
	if err != nil {
		t.Fatalf("OpenKeyFile: %v", err)
	}
	checkSameKeyFile(t, got, kf)
	if _, err := OpenKeyFile(data, []byte("wrong")); err != ErrPassphrase {
		t.Fatalf("wrong passphrase: got %v, want ErrPassphrase", err)
	}
}

func TestKeyFileHeaderLayout(t *testing.T) {
	data := sealTest(t, testKeyFile(t))
	want := hex.EncodeToString([]byte(keyFileMagic)) + "01" + "01" + "00000001" + "00000008" + "01" +
		strings.Repeat("07", keyFileSaltLen+keyFileNonceLen)
	if got := hex.EncodeToString(data[:keyFileHeaderLen]); got != want {
		t.Fatalf("header\n got %s\nwant %s", got, want)
	}
	if keyFileHeaderLen != 87 {
		t.Fatalf("header length %d, PROTOCOL.md says 87", keyFileHeaderLen)
	}
}

func TestKeyFileFreshSaltEachSeal(t *testing.T) {
	kf := testKeyFile(t)
	a, err := kf.sealWithParams(testPassphrase, testKDFParams, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kf.sealWithParams(testPassphrase, testKDFParams, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[:keyFileHeaderLen], b[:keyFileHeaderLen]) {
		t.Fatal("two seals share salt and nonce")
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	data := sealTest(t, testKeyFile(t))
	for _, p := range []string{"", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
		if _, err := OpenKeyFile(data, []byte(p)); err != ErrPassphrase {
			t.Errorf("passphrase %q: got %v, want ErrPassphrase", p, err)
		}
	}
}

func TestKeyFileEveryByteChanged(t *testing.T) {
	data := sealTest(t, testKeyFile(t))
	for i := range data {
		for _, mask := range []byte{0x01} {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			if _, err := OpenKeyFile(bad, testPassphrase); !errors.Is(err, ErrPassphrase) {
				t.Fatalf("byte %d ^ %#x: got %v, want ErrPassphrase", i, mask, err)
			}
		}
	}
}

func TestKeyFileTruncatedAndExtended(t *testing.T) {
	data := sealTest(t, testKeyFile(t))
	for n := range len(data) {
		if _, err := OpenKeyFile(data[:n], testPassphrase); !errors.Is(err, ErrPassphrase) {
			t.Fatalf("truncated to %d: got %v, want ErrPassphrase", n, err)
		}
	}
	if _, err := OpenKeyFile(append(bytes.Clone(data), 0), testPassphrase); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("trailing byte: got %v", err)
	}
	if _, err := OpenKeyFile(make([]byte, maxKeyFileSize+1), testPassphrase); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("oversized file: got %v", err)
	}
}

// header builds a key file header by hand, followed by a fake tag.
func header(version, kdf byte, tm, mem uint32, threads byte) []byte {
	h := []byte(keyFileMagic)
	h = append(h, version, kdf)
	h = binary.BigEndian.AppendUint32(h, tm)
	h = binary.BigEndian.AppendUint32(h, mem)
	h = append(h, threads)
	h = append(h, make([]byte, keyFileSaltLen+keyFileNonceLen+64)...)
	return h
}

// TestKeyFileHostileHeader checks that each bad header is refused before the
// KDF runs: the KDF counter does not move.
func TestKeyFileHostileHeader(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		why  string
	}{
		{"huge everything", header(1, 1, 0xffffffff, 0xffffffff, 255), "out of range"},
		{"memory over cap", header(1, 1, 1, maxArgon2Memory+1, 1), "out of range"},
		{"time over cap", header(1, 1, maxArgon2Time+1, 8, 1), "out of range"},
		{"threads over cap", header(1, 1, 1, 8*17, maxArgon2Threads+1), "out of range"},
		{"zero time", header(1, 1, 0, 8, 1), "out of range"},
		{"zero threads", header(1, 1, 1, 8, 0), "out of range"},
		{"memory below 8 KiB per lane", header(1, 1, 1, 15, 2), "out of range"},
		{"version 0", header(0, 1, 1, 8, 1), "version 0"},
		{"version 2", header(2, 1, 1, 8, 1), "version 2"},
		{"scrypt not supported", header(1, 2, 1, 8, 1), "key derivation function 2"},
		{"bad magic", append([]byte("S"), header(1, 1, 1, 8, 1)[1:]...), "not a securechat key file"},
		{"empty file", nil, "truncated"},
		{"header only", header(1, 1, 1, 8, 1)[:keyFileHeaderLen], "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := kdfRuns.Load()
			_, err := OpenKeyFile(tt.data, testPassphrase)
			if !errors.Is(err, ErrPassphrase) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("got %v, want ErrPassphrase mentioning %q", err, tt.why)
			}
			if runs := kdfRuns.Load() - before; runs != 0 {
				t.Fatalf("KDF ran %d times on a refused header", runs)
			}
		})
	}
	// A sane header does reach the KDF, so the counter is wired up.
	before := kdfRuns.Load()
	if _, err := OpenKeyFile(header(1, 1, 1, 8, 1), testPassphrase); err != ErrPassphrase {
		t.Fatalf("sane header with garbage body: got %v", err)
	}
	if kdfRuns.Load() != before+1 {
		t.Fatal("KDF counter did not count")
	}
}

func TestKDFParamsBounds(t *testing.T) {
	tests := []struct {
		p  kdfParams
		ok bool
	}{
		{defaultKDFParams, true},
		{kdfParams{maxArgon2Time, maxArgon2Memory, maxArgon2Threads}, true},
		{kdfParams{1, 8, 1}, true},
		{kdfParams{maxArgon2Time + 1, 8, 1}, false},
		{kdfParams{1, maxArgon2Memory + 1, 1}, false},
		{kdfParams{1, 8 * 17, maxArgon2Threads + 1}, false},
		{kdfParams{1, 7, 1}, false},
		{kdfParams{0, 8, 1}, false},
		{kdfParams{1, 0, 0}, false},
	}
	for _, tt := range tests {
		if err := tt.p.check(); (err == nil) != tt.ok {
			t.Errorf("%+v: check() = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
	if defaultKDFParams.time < 3 || defaultKDFParams.memory < 64<<10 || defaultKDFParams.threads < 4 {
		t.Fatal("default KDF parameters below the floor")
	}
}

func TestKeyFileSealRefuses(t *testing.T) {
	id := testIdentity(t, 0)
	good := func() *KeyFile { return &KeyFile{HostKey: []byte{1}, Identity: id, StorageKey: [32]byte{1}} }
	tests := []struct {
		name string
		kf   *KeyFile
		pass []byte
		p    kdfParams
	}{
		{"empty passphrase", good(), nil, testKDFParams},
		{"no identity", &KeyFile{HostKey: []byte{1}, StorageKey: [32]byte{1}}, testPassphrase, testKDFParams},
		{"no host key", &KeyFile{Identity: id, StorageKey: [32]byte{1}}, testPassphrase, testKDFParams},
		{"huge host key", &KeyFile{HostKey: make([]byte, maxKeyFileHostKey+1), Identity: id, StorageKey: [32]byte{1}}, testPassphrase, testKDFParams},
		{"zero storage key", &KeyFile{HostKey: []byte{1}, Identity: id}, testPassphrase, testKDFParams},
		{"params over cap", good(), testPassphrase, kdfParams{1, maxArgon2Memory + 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.kf.sealWithParams(tt.pass, tt.p, rand.Reader); err == nil {
				t.Fatal("sealed anyway")
			}
		})
	}
}

// TestKeyFileAuthenticatedGarbage covers files that carry a valid tag but
// contents Seal would never write.
func TestKeyFileAuthenticatedGarbage(t *testing.T) {
	idBytes := testIdentity(t, 0).Encode()
	var good []byte
	good = appendVec16(good, []byte{1, 2, 3})
	good = appendVec16(good, idBytes)
	good = append(good, make([]byte, 32)...)
	tests := map[string][]byte{
		"empty":             nil,
		"short storage key": good[:len(good)-1],
		"trailing byte":     append(bytes.Clone(good), 0),
		"empty host key":    append(appendVec16(appendVec16(nil, nil), idBytes), make([]byte, 32)...),
		"bad identity":      append(appendVec16(appendVec16(nil, []byte{1}), []byte{0, 0, 0, 0}), make([]byte, 32)...),
	}
	for name, secrets := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := sealKeyFileSecrets(secrets, testPassphrase, testKDFParams, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := OpenKeyFile(data, testPassphrase); !errors.Is(err, ErrPassphrase) || err == ErrPassphrase {
				t.Fatalf("got %v, want a wrapped ErrPassphrase", err)
			}
		})
	}
	data, err := sealKeyFileSecrets(good, testPassphrase, testKDFParams, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyFile(data, testPassphrase); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestKeyFileNeverPrintsSecrets(t *testing.T) {
	kf := testKeyFile(t)
	secrets := []string{
		string(kf.HostKey[:10]),
		hex.EncodeToString(kf.HostKey[:10]),
		hex.EncodeToString(kf.StorageKey[:8]),
		fmt.Sprint(kf.StorageKey[0]) + " " + fmt.Sprint(kf.StorageKey[1]),
		fmt.Sprint(kf.HostKey[0]) + " " + fmt.Sprint(kf.HostKey[1]),
		kf.Identity.sig.D.String()[:20],
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o", "%b"} {
		for _, arg := range []any{kf, *kf} {
			out := fmt.Sprintf(verb, arg)
			if !strings.Contains(out, kf.Identity.Fingerprint().String()) {
				t.Errorf("%s of %T = %q, want the fingerprint", verb, arg, out)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s of %T prints secret %q: %q", verb, arg, s, out)
				}
			}
		}
	}
	if s := (KeyFile{}).String(); s != "e2e.KeyFile(no identity)" {
		t.Errorf("zero KeyFile prints %q", s)
	}
}

func FuzzOpenKeyFile(f *testing.F) {
	data := sealTest(f, testKeyFile(f))
	f.Add(data)
	f.Add(data[:keyFileHeaderLen])
	f.Add(header(1, 1, 1, 8, 1))
	f.Add(header(1, 1, 0xffffffff, 0xffffffff, 255))
	f.Fuzz(func(t *testing.T, data []byte) {
		pass := testPassphrase
		// Headers that pass the caps may still ask for up to 16 GiB-passes
		// of work; open those with an empty passphrase, which stops after
		// the header checks, so the fuzzer keeps its speed.
		if len(data) >= keyFileHeaderLen {
			off := len(keyFileMagic) + 2
			if binary.BigEndian.Uint32(data[off:]) > 2 || binary.BigEndian.Uint32(data[off+4:]) > 1024 {
				pass = nil
			}
		}
		kf, err := OpenKeyFile(data, pass)
		if err != nil {
			if !errors.Is(err, ErrPassphrase) {
				t.Fatalf("error %v does not wrap ErrPassphrase", err)
			}
			return
		}
		if kf.Identity == nil || len(kf.HostKey) == 0 {
			t.Fatal("opened key file is incomplete")
		}
	})
}
