package store

import (
	"bytes"
	"testing"
)

func TestTickets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		defer s.Close()
		for _, p := range []string{"p", "q"} {
			for _, k := range []TicketKind{TicketHeld, TicketIssued} {
				if err := s.PutTicket(k, p, []byte{byte(k), p[0]}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The file names no peer: keys are HMACs, values sealed.
		err := s.view(func(tx sealedTx) error {
			return tx.forEach(bucketTickets, func(k, v []byte) error {
				if bytes.Equal(k, []byte("p")) || len(k) != recordKeyLen {
					t.Errorf("plain key %q", k)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		// Taken once, then gone; the other kind and peer stay.
		got, ok, err := s.TakeTicket(TicketHeld, "p")
		if err != nil || !ok || !bytes.Equal(got, []byte{0, 'p'}) {
			t.Fatalf("TakeTicket = %x, %v, %v", got, ok, err)
		}
		if _, ok, err := s.TakeTicket(TicketHeld, "p"); ok || err != nil {
			t.Fatalf("taken twice: %v, %v", ok, err)
		}
		if got, ok, _ := s.TakeTicket(TicketIssued, "p"); !ok || !bytes.Equal(got, []byte{1, 'p'}) {
			t.Fatal("issued ticket lost")
		}
		// A sealed ticket moved to another peer's place does not open,
		// and is removed.
		err = s.update(func(tx sealedTx) error {
			v, _ := tx.get(bucketIssued, s.s.recordKey(bucketIssued, "q"))
			return tx.put(bucketIssued, s.s.recordKey(bucketIssued, "p"), bytes.Clone(v))
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.TakeTicket(TicketIssued, "p"); ok || err == nil {
			t.Fatal("moved ticket opened")
		}
		if _, ok, err := s.TakeTicket(TicketIssued, "p"); ok || err != nil {
			t.Fatal("moved ticket stayed")
		}
		if err := s.DeleteTickets("q"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []TicketKind{TicketHeld, TicketIssued} {
			if _, ok, _ := s.TakeTicket(k, "q"); ok {
				t.Fatal("DeleteTickets left one")
			}
		}
		// Forget and ClearTickets remove them too.
		mustPut(t, s, sampleContact("r"))
		_ = s.PutTicket(TicketHeld, "r", []byte{1})
		_ = s.PutTicket(TicketIssued, "z", []byte{1})
		if err := s.Forget("r", nil); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.TakeTicket(TicketHeld, "r"); ok {
			t.Fatal("Forget left a ticket")
		}
		if err := s.ClearTickets(); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.TakeTicket(TicketIssued, "z"); ok {
			t.Fatal("ClearTickets left a ticket")
		}
	})
}
