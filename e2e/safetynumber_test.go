package e2e

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

// TestDisplayableFingerprintSignalVector checks the generic algorithm against
// the vector libsignal publishes (source named in the file).
func TestDisplayableFingerprintSignalVector(t *testing.T) {
	v := readKVMap(t, "testdata/safetynumber.txt")
	iterations, err := strconv.Atoi(v["iterations"])
	if err != nil || iterations != safetyNumberIterations {
		t.Fatalf("vector iterations %q, want %d", v["iterations"], safetyNumberIterations)
	}
	localKey, err1 := hex.DecodeString(v["local key"])
	remoteKey, err2 := hex.DecodeString(v["remote key"])
	if err1 != nil || err2 != nil || len(localKey) != 33 || len(remoteKey) != 33 {
		t.Fatal("bad keys in vector")
	}
	localID, remoteID := []byte(v["local id"]), []byte(v["remote id"])
	want := v["displayable"]
	if len(want) != 60 {
		t.Fatalf("vector has %d digits", len(want))
	}
	if got := displayableFingerprint(iterations, localKey, localID, remoteKey, remoteID); got != want {
		t.Errorf("local view:\n got %s\nwant %s", got, want)
	}
	if got := displayableFingerprint(iterations, remoteKey, remoteID, localKey, localID); got != want {
		t.Errorf("remote view:\n got %s\nwant %s", got, want)
	}
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func TestSafetyNumber(t *testing.T) {
	a, b := testIdentity(t, 0).Public(), testIdentity(t, 1).Public()
	pa, pb := newTestHost(t, nil).peerID(), newTestHost(t, nil).peerID()

	sn := SafetyNumber(a, pa, b, pb)
	if len(sn) != 60 || !isDigits(sn) {
		t.Fatalf("safety number %q is not 60 digits", sn)
	}
	if other := SafetyNumber(b, pb, a, pa); other != sn {
		t.Fatalf("sides disagree:\n%s\n%s", sn, other)
	}
	// It is Signal's construction over our keys and peer IDs.
	if want := displayableFingerprint(5200, a.SigningKeyDER(), pa, b.SigningKeyDER(), pb); sn != want {
		t.Fatal("SafetyNumber is not the displayable fingerprint of the signing keys and peer IDs")
	}

	flip := func(p []byte) []byte { q := bytes.Clone(p); q[len(q)-1] ^= 1; return q }
	changed := map[string]string{
		"local key":      SafetyNumber(b, pa, b, pb),
		"remote key":     SafetyNumber(a, pa, a, pb),
		"local peer ID":  SafetyNumber(a, flip(pa), b, pb),
		"remote peer ID": SafetyNumber(a, pa, b, flip(pb)),
		"swapped IDs":    SafetyNumber(a, pb, b, pa),
	}
	for name, s := range changed {
		if s == sn {
			t.Errorf("changing the %s leaves the safety number unchanged", name)
		}
		if len(s) != 60 || !isDigits(s) {
			t.Errorf("%s: %q is not 60 digits", name, s)
		}
	}
	// Each half belongs to one side: changing one side keeps the other
	// side's 30 digits.
	half := fingerprintDigits(safetyNumberIterations, a.SigningKeyDER(), pa)
	if !strings.Contains(changed["remote peer ID"], half) {
		t.Error("the local half changed when only the remote peer ID did")
	}
}

func TestFormatSafetyNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"300354477692869396892869876765458257569162576843440918079131",
			"30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131"},
		{"", ""},
		{"12345", "12345"},
		{"1234567", "12345 67"},
	}
	for _, tt := range tests {
		if got := FormatSafetyNumber(tt.in); got != tt.want {
			t.Errorf("FormatSafetyNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := FormatSafetyNumber(strings.Repeat("0", 60))
	if groups := strings.Split(got, " "); len(groups) != 12 {
		t.Errorf("60 digits make %d groups, want 12", len(groups))
	}
}
