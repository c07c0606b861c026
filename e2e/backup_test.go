package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testBackup(tb testing.TB) *Backup {
	tb.Helper()
	return &Backup{Keys: testKeyFile(tb), Records: [][]byte{[]byte("contact one"), {}, bytes.Repeat([]byte{9}, 70000)}}
}

func sealBackupTest(tb testing.TB, b *Backup) []byte {
	tb.Helper()
	data, err := b.sealWithParams(testPassphrase, testKDFParams, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		tb.Fatalf("sealWithParams: %v", err)
	}
	return data
}

func TestBackupRoundTrip(t *testing.T) {
	b := testBackup(t)
	got, err := OpenBackup(sealBackupTest(t, b), testPassphrase)
	if err != nil {
		t.Fatalf("OpenBackup: %v", err)
	}
	checkSameKeyFile(t, got.Keys, b.Keys)
	if len(got.Records) != len(b.Records) {
		t.Fatalf("%d records, want %d", len(got.Records), len(b.Records))
	}
	for i := range b.Records {
		if !bytes.Equal(got.Records[i], b.Records[i]) {
			t.Errorf("record %d differs", i)
		}
	}
	if _, err := OpenBackup(sealBackupTest(t, b), []byte("wrong")); !errors.Is(err, ErrBackupPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}

// TestBackupRealParams checks that Seal writes the key file's parameters.
func TestBackupRealParams(t *testing.T) {
	data, err := testBackup(t).Seal(testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	off := len(backupMagic) + 2
	if tm, m, p := binary.BigEndian.Uint32(data[off:]), binary.BigEndian.Uint32(data[off+4:]), data[off+8]; tm != 3 || m != 64<<10 || p != 4 {
		t.Fatalf("Seal wrote t=%d m=%d p=%d, want t=3 m=65536 p=4", tm, m, p)
	}
	if _, err := OpenBackup(data, testPassphrase); err != nil {
		t.Fatal(err)
	}
}

// TestBackupNotKeyFile: the two kinds of file never open as each other, even
// under the same passphrase, and say which kind they expected.
func TestBackupNotKeyFile(t *testing.T) {
	kf := sealTest(t, testKeyFile(t))
	if _, err := OpenBackup(kf, testPassphrase); !errors.Is(err, ErrBackupPassphrase) ||
		!strings.Contains(err.Error(), "not a securechat backup file") {
		t.Errorf("key file opened as a backup: %v", err)
	}
	bk := sealBackupTest(t, &Backup{Keys: testKeyFile(t), Records: [][]byte{[]byte("r")}})
	if _, err := OpenKeyFile(bk, testPassphrase); !errors.Is(err, ErrPassphrase) ||
		!strings.Contains(err.Error(), "not a securechat key file") {
		t.Errorf("backup opened as a key file: %v", err)
	}
	// Same length magic or not, the header is authenticated: swapping the
	// magic alone must still fail the tag.
	forged := append([]byte(keyFileMagic), bk[len(backupMagic):]...)
	if _, err := OpenKeyFile(forged, testPassphrase); !errors.Is(err, ErrPassphrase) {
		t.Errorf("backup with a key file magic opened: %v", err)
	}
}

func TestBackupTamper(t *testing.T) {
	data := sealBackupTest(t, &Backup{Keys: testKeyFile(t), Records: [][]byte{[]byte("r")}})
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if _, err := OpenBackup(bad, testPassphrase); !errors.Is(err, ErrBackupPassphrase) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := range len(data) {
		if _, err := OpenBackup(data[:n], testPassphrase); !errors.Is(err, ErrBackupPassphrase) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := OpenBackup(make([]byte, maxBackupSize+1), testPassphrase); !errors.Is(err, ErrBackupPassphrase) {
		t.Errorf("oversized: %v", err)
	}
}

// TestBackupHostileParams: a header asking for more than the key file's caps
// is refused before the KDF runs.
func TestBackupHostileParams(t *testing.T) {
	data := sealBackupTest(t, testBackup(t))
	off := len(backupMagic) + 2
	bad := bytes.Clone(data)
	binary.BigEndian.PutUint32(bad[off+4:], maxArgon2Memory+1)
	before := kdfRuns.Load()
	if _, err := OpenBackup(bad, testPassphrase); !errors.Is(err, ErrBackupPassphrase) {
		t.Errorf("hostile memory: %v", err)
	}
	if kdfRuns.Load() != before {
		t.Error("the KDF ran on a header over the caps")
	}
}

// TestBackupMalformedContents: authenticated contents that Seal would never
// write are refused.
func TestBackupMalformedContents(t *testing.T) {
	for name, contents := range map[string][]byte{
		"empty":    nil,
		"trailing": append(append([]byte{0, 1, 'h', 0, 0}, make([]byte, 32)...), 0, 0, 0, 0, 1),
	} {
		data, err := backupKind.seal(contents, testPassphrase, testKDFParams, bytes.NewReader(make([]byte, 64)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenBackup(data, testPassphrase); !errors.Is(err, ErrBackupPassphrase) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBackupNeverPrintsSecrets(t *testing.T) {
	b := testBackup(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		out := fmt.Sprintf(verb, b) + fmt.Sprintf(verb, *b)
		if strings.Contains(out, "opaque") || strings.Contains(out, "a0a1a2") || strings.Contains(out, "contact one") {
			t.Errorf("%s printed a secret: %s", verb, out)
		}
	}
}
