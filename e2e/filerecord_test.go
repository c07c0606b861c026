package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// Tests of the file records' strict encodings.

// fileRecordParsers parse a record and encode it back, one per type.
var fileRecordParsers = map[byte]struct {
	name  string
	parse func([]byte) ([]byte, error)
}{
	FileOfferType: {"offer", func(b []byte) ([]byte, error) {
		o, err := ParseFileOffer(b)
		if err != nil {
			return nil, err
		}
		return o.Encode(), nil
	}},
	FileAcceptType: {"accept", func(b []byte) ([]byte, error) {
		a, err := ParseFileAccept(b)
		return a.Encode(), err
	}},
	FileRejectType: {"reject", func(b []byte) ([]byte, error) {
		r, err := ParseFileReject(b)
		if err != nil {
			return nil, err
		}
		return r.Encode(), nil
	}},
	FileStreamType: {"stream header", func(b []byte) ([]byte, error) {
		h, err := ParseFileStreamHeader(b)
		return h.Encode(), err
	}},
}

// sampleFileRecords returns one valid record of each type.
func sampleFileRecords(t testing.TB) map[byte][]byte {
	t.Helper()
	o, err := newFileOffer(newDetReader("offer"), "résumé.txt", 1<<40+3, sha256.Sum256([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	return map[byte][]byte{
		FileOfferType:  o.Encode(),
		FileAcceptType: FileAccept{ID: o.ID, From: 1<<63 + 5}.Encode(),
		FileRejectType: FileReject{ID: o.ID, Reason: FileCorrupt}.Encode(),
		FileStreamType: FileStreamHeader{ID: o.ID, First: 9, Salt: [32]byte{1, 2, 3}}.Encode(),
	}
}

func TestFileRecordsRoundTrip(t *testing.T) {
	for typ, rec := range sampleFileRecords(t) {
		p := fileRecordParsers[typ]
		t.Run(p.name, func(t *testing.T) {
			got, err := p.parse(rec)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !bytes.Equal(got, rec) {
				t.Fatalf("re-encoded differently:\n %x\n %x", got, rec)
			}
		})
	}
	o, err := ParseFileOffer(sampleFileRecords(t)[FileOfferType])
	if err != nil || o.Name != "résumé.txt" || o.Size != 1<<40+3 || o.SHA256 != sha256.Sum256([]byte("x")) {
		t.Fatalf("offer fields: %+v, %v", o, err)
	}
	for _, r := range []FileReason{FileRejected, FileCancelled, FileFailed, FileCorrupt, FileTooLarge} {
		if _, err := ParseFileReject(FileReject{Reason: r}.Encode()); err != nil || strings.HasPrefix(r.String(), "FileReason") {
			t.Errorf("reason %d: %v, %s", r, err, r)
		}
	}
}

func TestFileRecordParsersRefuse(t *testing.T) {
	samples := sampleFileRecords(t)
	for typ, rec := range samples {
		p := fileRecordParsers[typ]
		refuse := func(t *testing.T, what string, b []byte) {
			t.Helper()
			if _, err := p.parse(b); !errors.Is(err, ErrFileRecord) {
				t.Errorf("%s %s: %v, want ErrFileRecord", p.name, what, err)
			}
		}
		t.Run(p.name, func(t *testing.T) {
			for n := range len(rec) {
				refuse(t, "truncated", rec[:n])
			}
			refuse(t, "with a trailing byte", append(bytes.Clone(rec), 0))
			for other := range 256 {
				if other != int(typ) {
					b := bytes.Clone(rec)
					b[0] = byte(other)
					refuse(t, "of another type", b)
				}
			}
		})
	}

	offer := samples[FileOfferType]
	nameAt := fileOfferFixed - 1
	withName := func(name []byte) []byte {
		return append(append(bytes.Clone(offer[:nameAt]), byte(len(name))), name...)
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty name", withName(nil)},
		{"name not UTF-8", withName([]byte{0xff, 'a'})},
		{"name over 255 bytes", append(withName(bytes.Repeat([]byte("a"), 255)), 'a')},
		{"name length past the end", append(bytes.Clone(offer[:nameAt]), 5, 'a', 'b')},
		{"huge record", make([]byte, 1<<20)},
	} {
		if _, err := ParseFileOffer(c.b); !errors.Is(err, ErrFileRecord) {
			t.Errorf("offer, %s: %v", c.name, err)
		}
	}
	if _, err := ParseFileOffer(withName(bytes.Repeat([]byte("é"), 127))); err != nil {
		t.Errorf("offer with a 254-byte name: %v", err)
	}
	for _, r := range []byte{0, 6, 255} {
		b := bytes.Clone(samples[FileRejectType])
		b[len(b)-1] = r
		if _, err := ParseFileReject(b); !errors.Is(err, ErrFileRecord) {
			t.Errorf("reject with reason %d: %v", r, err)
		}
	}
}

func TestNewFileOfferName(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("a", 256), "\xff", strings.Repeat("é", 128)} {
		if _, err := NewFileOffer(name, 1, [32]byte{}); err == nil {
			t.Errorf("NewFileOffer(%q) succeeded", name)
		}
	}
	a, err := NewFileOffer(strings.Repeat("a", 255), 1, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewFileOffer("b", 1, [32]byte{})
	if a.ID == b.ID || a.secret == b.secret || a.secret == ([32]byte{}) {
		t.Fatal("offers share an ID or secret")
	}
	if _, err := newFileOffer(failReader{}, "a", 1, [32]byte{}); err == nil {
		t.Fatal("offer without randomness")
	}
	if id, err := ParseFileID(a.ID.String()); err != nil || id != a.ID {
		t.Fatalf("ParseFileID round trip: %v", err)
	}
	for _, s := range []string{"", "00", strings.Repeat("g", 32), strings.Repeat("0", 34)} {
		if _, err := ParseFileID(s); err == nil {
			t.Errorf("ParseFileID(%q) succeeded", s)
		}
	}
}
