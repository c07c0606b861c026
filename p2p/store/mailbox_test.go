package store

import (
	"bytes"
	"slices"
	"testing"
)

// TestMailboxRecords: a record is sealed under HMAC(name), read back,
// replaced and deleted; the name is nowhere in the file's bytes.
func TestMailboxRecords(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			const name = "peer/12D3KooWSecretPeer"
			if _, ok, err := s.MailboxRecord(name); ok || err != nil {
				t.Fatalf("empty store: %v %v", ok, err)
			}
			for _, v := range [][]byte{[]byte("first"), []byte("second")} {
				if err := s.PutMailboxRecord(name, v); err != nil {
					t.Fatal(err)
				}
				if got, ok, err := s.MailboxRecord(name); !ok || err != nil || !bytes.Equal(got, v) {
					t.Fatalf("read back %q %v %v, want %q", got, ok, err, v)
				}
			}
			err := s.view(func(tx sealedTx) error {
				return tx.forEach(bucketMailbox, func(k, v []byte) error {
					if bytes.Contains(k, []byte("Secret")) || bytes.Contains(v, []byte("second")) {
						t.Errorf("record in clear: %x %x", k, v)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteMailboxRecord(name); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.MailboxRecord(name); ok || err != nil {
				t.Fatalf("after delete: %v %v", ok, err)
			}
		})
	}
}

// TestMarkDeposited: queued and sent messages become deposited, delivered
// ones stay delivered, and the IDs changed are returned.
func TestMarkDeposited(t *testing.T) {
	s := backends[0].open(t)
	a, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Queue(outMessage("p", 2))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Queue(outMessage("p", 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent("p", [][MessageIDLen]byte{b.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delivered("p", c.ID); err != nil {
		t.Fatal(err)
	}
	changed, err := s.MarkDeposited("p", [][MessageIDLen]byte{a.ID, b.ID, c.ID, msgID(99)})
	if err != nil || !slices.Equal(changed, [][MessageIDLen]byte{a.ID, b.ID}) {
		t.Fatalf("changed %x, %v", changed, err)
	}
	out, err := s.Outbox("p", 0)
	if err != nil || len(out) != 2 || out[0].State != StateDeposited || out[1].State != StateDeposited {
		t.Fatalf("outbox %+v, %v", out, err)
	}
	// A later MarkSent (a session resending) leaves them deposited.
	if err := s.MarkSent("p", [][MessageIDLen]byte{a.ID}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History("p", 0)
	if err != nil || h[0].State != StateDeposited || h[2].State != StateDelivered {
		t.Fatalf("history %+v, %v", h, err)
	}
}
