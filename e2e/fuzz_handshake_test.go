package e2e

import (
	"bytes"
	"testing"
)

// Fuzz targets for the four handshake message parsers, each fed through
// ReadMessage on a fresh copy of the receiving side. Besides not panicking,
// each must fail closed: any input other than the genuine message fails
// with exactly ErrHandshake and leaves the handshake failed. Message 1 is
// the exception the protocol allows: a changed hello may be accepted, but
// then the initiator must refuse the responder's answer.
//
//	go test ./e2e -run '^$' -fuzz FuzzReadMessage2 -fuzztime 1m

func FuzzReadMessage1(f *testing.F) { fuzzReadMessage(f, 0) }
func FuzzReadMessage2(f *testing.F) { fuzzReadMessage(f, 1) }
func FuzzReadMessage3(f *testing.F) { fuzzReadMessage(f, 2) }
func FuzzReadMessage4(f *testing.F) { fuzzReadMessage(f, 3) }

func fuzzReadMessage(f *testing.F, k int) {
	rec := recordHandshake(f, newTestPeerWith(f, 0, nil), newTestPeerWith(f, 1, nil))
	valid := rec.msgs[k]
	f.Add(valid)
	f.Add([]byte{})
	f.Add(valid[:len(valid)/2])
	f.Add(append(bytes.Clone(valid), 0))
	for _, m := range rec.msgs {
		f.Add(m) // the other messages: wrong type, wrong layout
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := rec.receiver(k)
		err := h.ReadMessage(data)
		genuine := bytes.Equal(data, valid)
		switch {
		case err != nil && err != ErrHandshake:
			t.Fatalf("error %v is not ErrHandshake", err)
		case err != nil && genuine:
			t.Fatal("genuine message refused")
		case err != nil:
			if h.state != stateFailed || h.PeerBundle() != nil {
				t.Fatal("handshake not failed after an error")
			}
		case genuine:
		case k != 0:
			t.Fatal("altered message accepted")
		default:
			m2, err := h.WriteMessage()
			if err != nil {
				t.Fatalf("WriteMessage after an accepted hello: %v", err)
			}
			if rec.receiver(1).ReadMessage(m2) != ErrHandshake {
				t.Fatal("initiator accepted an answer to an altered hello")
			}
		}
	})
}
