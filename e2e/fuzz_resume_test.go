package e2e

import (
	"bytes"
	"testing"
)

// FuzzResume feeds its input to every parser of resumption: as R1, R2 and
// R3 through ReadMessage on a fresh copy of the receiving side, and as a
// stored ticket through ParseTicket. Each must fail closed with exactly
// ErrHandshake (ErrTicket for a ticket), and accept nothing but the genuine
// bytes, apart from what the protocol allows: an R1 with another e_I is
// answered (and the initiator then refuses the answer), one with another
// ticket ID or version list gets RETRY; a ticket that parses re-encodes to
// the same bytes.
//
//	go test ./e2e -run '^$' -fuzz FuzzResume -fuzztime 1m
func FuzzResume(f *testing.F) {
	s := newResumeSetup(f)
	rec := s.record(f)
	ticket := s.held.Marshal()
	for _, m := range rec.msgs {
		f.Add(m)
		f.Add(m[:len(m)/2])
	}
	f.Add(ticket)
	f.Add([]byte{msgTypeRetry})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, valid := range rec.msgs {
			x := rec.receiver(k)
			err := x.ReadMessage(data)
			genuine := bytes.Equal(data, valid)
			switch {
			case err != nil && err != ErrHandshake:
				t.Fatalf("R%d: error %v is not ErrHandshake", k+1, err)
			case err != nil && genuine:
				t.Fatalf("R%d: genuine message refused", k+1)
			case err != nil:
				if x.state != rsFailed {
					t.Fatal("not failed after an error")
				}
			case genuine:
			case k == 1 && x.Fallback():
				// RETRY: the full handshake follows.
			case k != 0:
				t.Fatalf("altered R%d accepted", k+1)
			case x.state == rsWriteRetry:
			default:
				r2, err := x.WriteMessage()
				if err != nil {
					t.Fatalf("WriteMessage after an accepted R1: %v", err)
				}
				if rec.receiver(1).ReadMessage(r2) != ErrHandshake {
					t.Fatal("initiator accepted an answer to an altered R1")
				}
			}
		}
		tk, err := ParseTicket(data)
		switch {
		case err != nil && err != ErrTicket:
			t.Fatalf("ParseTicket error %v", err)
		case err == nil && !bytes.Equal(tk.Marshal(), data):
			t.Fatal("ticket does not re-encode to its bytes")
		}
	})
}
