package e2e

import (
	"bytes"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"testing"
)

// Control records (SealControl) go out on the current sending chain
// without taking an owed DH step. These tests check that they interleave
// with DATA records in any order, never reuse a (key, nonce), are as
// tamper-proof and transactional as the rest, and that the heartbeat still
// heals a leaked state when one side only acknowledges.

// runMixed plays a script: I/R seal DATA (initiator/responder), A/B seal a
// control record, H/G a heartbeat, i/r open the next record in flight to
// the initiator/responder and check its type and plaintext.
func runMixed(t *testing.T, ini, resp *Session, script string) {
	t.Helper()
	type rec struct {
		b   []byte
		typ RecordType
		pt  string
	}
	var toI, toR []rec
	for step, op := range script {
		msg := fmt.Sprintf("%c%d", op, step)
		switch op {
		case 'I', 'R', 'A', 'B', 'H', 'G':
			from, queue := ini, &toR
			if op == 'R' || op == 'B' || op == 'G' {
				from, queue = resp, &toI
			}
			var b []byte
			var err error
			typ, pt := RecordData, msg
			switch op {
			case 'I', 'R':
				b, err = from.Seal([]byte(msg))
			case 'A', 'B':
				b, err = from.SealControl([]byte(msg))
			default:
				b, err = from.SealHeartbeat()
				typ, pt = RecordHeartbeat, ""
			}
			if err != nil {
				t.Fatalf("step %d (%c): %v", step, op, err)
			}
			*queue = append(*queue, rec{b, typ, pt})
		case 'i', 'r':
			to, queue := ini, &toI
			if op == 'r' {
				to, queue = resp, &toR
			}
			r := (*queue)[0]
			*queue = (*queue)[1:]
			typ, pt, err := to.Open(r.b)
			if err != nil || typ != r.typ || string(pt) != r.pt {
				t.Fatalf("step %d (%c): Open = %v, %q, %v; want %v, %q", step, op, typ, pt, err, r.typ, r.pt)
			}
		}
	}
}

func TestControlInterleavings(t *testing.T) {
	scripts := []string{
		"Bi", "Ar", "BiAr", // a responder's first record steps even as control
		"IrBi", "IrBiIr", "IrBiBiBiIrBi", // one talker, acks back
		"IrBiRiAr", "IRriBAri", "IArBRiirAB" + "ri",
		"IrRAiBrAiIrBiGi" + "Hrr", // heartbeats between acks
		"IIBBrrIiiRRAAiirrr",      // records in flight both ways
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			ini, resp := newTestSessionPair(t)
			runMixed(t, ini, resp, s)
		})
	}
	t.Run("random", func(t *testing.T) {
		rng := mathrand.New(mathrand.NewPCG(5, 6))
		for range 30 {
			ini, resp := newTestSessionPair(t)
			var b []byte
			inFlightI, inFlightR := 0, 0
			for range 300 {
				op := "IRABHGirir"[rng.IntN(10)]
				switch op {
				case 'I', 'A', 'H':
					inFlightR++
				case 'R', 'B', 'G':
					inFlightI++
				case 'i':
					if inFlightI == 0 {
						continue
					}
					inFlightI--
				case 'r':
					if inFlightR == 0 {
						continue
					}
					inFlightR--
				}
				b = append(b, op)
			}
			runMixed(t, ini, resp, string(b))
		}
	})
}

// TestControlDoesNotStep: a control record keeps the current ratchet key
// and draws no randomness; the next DATA record steps as before.
func TestControlDoesNotStep(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	first := mustSeal(t, resp, []byte("responder's first record")) // steps
	mustOpen(t, ini, first)
	mustOpen(t, resp, mustSeal(t, ini, []byte("talker, fresh key")))
	if !resp.StepOwed() || resp.HeartbeatDue() {
		t.Fatalf("StepOwed %v, HeartbeatDue %v after a new key", resp.StepOwed(), resp.HeartbeatDue())
	}
	resp.rand = failReader{} // a control record needs no randomness
	kdf := countKDF(resp)
	ack, err := resp.SealControl([]byte("ack"))
	if err != nil {
		t.Fatalf("SealControl: %v", err)
	}
	if !bytes.Equal(ack[1:33], first[1:33]) || !resp.StepOwed() {
		t.Fatal("control record took a ratchet step")
	}
	if *kdf != 2 { // KDF_CK and the message keys; no DH, no KDF_RK
		t.Errorf("control record cost %d derivations, want 2", *kdf)
	}
	mustOpenData(t, ini, ack, []byte("ack"))
	if _, err := resp.Seal([]byte("data")); err == nil {
		t.Fatal("Seal did not step (it drew no randomness)")
	}
	resp.rand = newDetReader("fresh")
	data := mustSeal(t, resp, []byte("data"))
	if bytes.Equal(data[1:33], first[1:33]) || resp.StepOwed() {
		t.Fatal("DATA record after a control record did not step")
	}
	mustOpenData(t, ini, data, []byte("data"))
}

// TestControlHeartbeatDue: a side that only acknowledges becomes due after
// HeartbeatAfterMessages records; the talker, which receives only acks on a
// chain it already knows, never does.
func TestControlHeartbeatDue(t *testing.T) {
	talker, listener := newTestSessionPair(t)
	runMixed(t, talker, listener, "IrRi")
	for i := 1; i <= 3*HeartbeatAfterMessages; i++ {
		mustOpen(t, listener, mustSeal(t, talker, []byte("one-sided")))
		ack, err := listener.SealControl([]byte("ack"))
		if err != nil {
			t.Fatal(err)
		}
		mustOpen(t, talker, ack)
		if talker.HeartbeatDue() {
			t.Fatalf("talker due after %d acks", i)
		}
		due := listener.HeartbeatDue()
		if want := i%HeartbeatAfterMessages == 0; due != want {
			t.Fatalf("after %d records HeartbeatDue = %v", i, due)
		}
		if due {
			mustOpen(t, talker, mustSealHeartbeat(t, listener))
			if listener.HeartbeatDue() || listener.StepOwed() {
				t.Fatal("still due after the heartbeat")
			}
		}
	}
}

// TestHeartbeatHealsAckOnlyListener: the listener answers every record
// with a control record only. A leak of either side is read up to the
// listener's heartbeat and not after it; the acks alone never heal. The
// one delay: when the talker leaked, the listener's first chain after the
// heartbeat still rests on the talker's leaked key, so the acks on it (not
// the talker's records) stay readable until the second heartbeat.
func TestHeartbeatHealsAckOnlyListener(t *testing.T) {
	cases := []struct {
		name       string
		leakTalker bool
		heartbeats bool
		ackHealsBy int // heartbeats after which acks are unreadable
	}{
		{"listener leaked", false, true, 1},
		{"talker leaked", true, true, 2},
		{"listener leaked, no heartbeats", false, false, 0},
		{"talker leaked, no heartbeats", true, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lk := runOneSidedLeak(t, c.leakTalker, c.heartbeats, true)
			lastReadable, lastAckReadable, heartbeats := lk.lastReadable, lk.lastAckReadable, lk.heartbeats
			const total = 3 * HeartbeatAfterMessages
			if !c.heartbeats {
				if lastReadable != total-1 || lastAckReadable != total-1 {
					t.Fatalf("acks alone healed the leak: last readable %d, ack %d", lastReadable, lastAckReadable)
				}
				return
			}
			// The first heartbeat comes after at most HeartbeatAfterMessages
			// records; the talker's next record is already unreadable, and
			// so is every ack after the heartbeat that heals them.
			if heartbeats < 2 || lastReadable >= HeartbeatAfterMessages ||
				lastAckReadable >= c.ackHealsBy*HeartbeatAfterMessages {
				t.Fatalf("last readable record %d, ack %d; %d heartbeats", lastReadable, lastAckReadable, heartbeats)
			}
		})
	}
}

// TestNoKeyNonceReuseWithControl seals records both ways, mixing DATA,
// control records and heartbeats at random, and checks that no AEAD
// (key, nonce) pair, indeed no nonce, repeats.
func TestNoKeyNonceReuseWithControl(t *testing.T) {
	const n = 20_000
	set := newKeyNonceSet(t, n)
	rng := mathrand.New(mathrand.NewPCG(7, 8))
	ini, resp := newTestSessionPair(t)
	ini.hooks = &sessionHooks{sealKey: set.add}
	resp.hooks = ini.hooks
	from, to := ini, resp
	for sent := 0; sent < n; from, to = to, from {
		for k := 1 + rng.IntN(60); k > 0 && sent < n; k-- {
			var rec []byte
			var err error
			switch r := rng.IntN(10); {
			case r < 5:
				rec, err = from.SealControl([]byte{1})
			case r < 9:
				rec, err = from.Seal([]byte{0})
			default:
				rec, err = from.SealHeartbeat()
			}
			if err != nil {
				t.Fatal(err)
			}
			mustOpen(t, to, rec)
			sent++
		}
	}
	if len(set.pairs) != n {
		t.Fatalf("%d distinct pairs for %d records", len(set.pairs), n)
	}
}

// TestControlTamperAndTransactions: every bit flip, truncation or
// extension of a control record is refused with the receiver's state
// unchanged; a control record that must step (a responder's first) and
// cannot draw randomness changes nothing; its plaintext bounds are Seal's.
func TestControlTamperAndTransactions(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	runMixed(t, ini, resp, "IrRi")
	mustOpen(t, resp, mustSeal(t, ini, []byte("new key")))
	ack, err := resp.SealControl([]byte("receipt"))
	if err != nil {
		t.Fatal(err)
	}
	before := ini.stateSnapshot()
	try := func(what string, bad []byte) {
		t.Helper()
		s := ini.clone()
		if _, _, err := s.Open(bad); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: Open = %v, want ErrAuth", what, err)
		}
		if !bytes.Equal(s.stateSnapshot(), before) {
			t.Fatalf("%s: state changed", what)
		}
	}
	for i := range len(ack) * 8 {
		try("bit "+strconv.Itoa(i), flipBit(ack, i))
	}
	for n := range len(ack) {
		try("truncated to "+strconv.Itoa(n), ack[:n])
	}
	try("extended", append(append([]byte(nil), ack...), 0))
	mustOpenData(t, ini, ack, []byte("receipt"))

	_, first := newTestSessionPair(t)
	first.rand = failReader{}
	snap := first.stateSnapshot()
	if _, err := first.SealControl([]byte("x")); err == nil {
		t.Fatal("responder's first control record sealed without randomness")
	}
	if !bytes.Equal(first.stateSnapshot(), snap) {
		t.Fatal("failed SealControl changed the state")
	}
	for _, pt := range [][]byte{nil, make([]byte, maxPlaintext+1)} {
		if _, err := resp.SealControl(pt); err == nil {
			t.Errorf("SealControl of %d bytes accepted", len(pt))
		}
	}
}

// TestControlCounterLimit: at the end of a chain a control record steps if
// a step is owed, and is refused like Seal otherwise.
func TestControlCounterLimit(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	mustOpen(t, resp, mustSeal(t, ini, []byte("a")))
	ini.st.ns, resp.st.nr = MaxChainLength, MaxChainLength
	if _, err := ini.SealControl([]byte("ack")); !errors.Is(err, ErrCounterLimit) {
		t.Fatalf("SealControl = %v, want ErrCounterLimit", err)
	}
	mustOpen(t, ini, mustSeal(t, resp, []byte("new key")))
	ack, err := ini.SealControl([]byte("ack"))
	if err != nil || ini.StepOwed() {
		t.Fatalf("SealControl at the chain's end with a step owed: %v, step owed %v", err, ini.StepOwed())
	}
	mustOpenData(t, resp, ack, []byte("ack"))
}
