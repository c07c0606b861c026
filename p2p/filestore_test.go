package p2p

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

func testFileRecord(t testing.TB) *fileRecord {
	o, err := e2e.NewFileOffer("report.pdf", 1234567, [32]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.Decode("12D3KooWGqWS4a1srxRBn9CaoToqPPyHb5dThjnPQyBQqFJNBxU9")
	if err != nil {
		t.Fatal(err)
	}
	return &fileRecord{flags: recAccepted, peer: p, offer: o, dir: "/home/u/downloads", name: "report.pdf",
		at: 65536, check: bytes.Repeat([]byte{3}, 108), created: time.Unix(0, 1700000000123456789).UTC()}
}

func TestFileRecordRoundTrip(t *testing.T) {
	r := testFileRecord(t)
	b := r.encode()
	got, err := decodeFileRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.encode(), b) || got.peer != r.peer || got.offer.ID != r.offer.ID || got.at != r.at || !got.created.Equal(r.created) {
		t.Fatalf("round trip: %+v", got)
	}
	for i := range b {
		if _, err := decodeFileRecord(b[:i]); err == nil {
			t.Fatalf("a record cut at %d parsed", i)
		}
	}
	if _, err := decodeFileRecord(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// FuzzDecodeFileRecord: whatever decodes re-encodes to the same bytes.
func FuzzDecodeFileRecord(f *testing.F) {
	f.Add(testFileRecord(f).encode())
	r := testFileRecord(f)
	r.flags, r.reason = recEnded|recOut, e2e.FileCancelled
	f.Add(r.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeFileRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, r.encode())
		}
	})
}
