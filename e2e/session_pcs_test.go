package e2e

import (
	"fmt"
	"testing"
)

// Forward secrecy and post-compromise security, checked against an
// attacker who holds a leaked session state and sees every record.

// attacker models an eavesdropper who leaked a copy of one party's state.
// It keeps every state it can reach: the leaked one, and each state it gets
// by opening the peer's records with a copy of the leaked party's session
// (which is exactly what that party does, so it needs nothing secret beyond
// the leak). It never learns randomness drawn after the leak.
type attacker struct {
	known    []*Session // states it holds
	follower *Session   // leaked party's session, fed the peer's records
}

func newAttacker(leak *Session) *attacker {
	l := leak.clone()
	l.rand = newDetReader("attacker's own randomness")
	return &attacker{known: []*Session{l.clone()}, follower: l}
}

// observe shows the attacker a record sent by the leaked party's peer.
func (a *attacker) observe(rec []byte) {
	if a.follower.err != nil {
		return
	}
	before := a.follower.st.rk
	if _, _, err := a.follower.Open(rec); err == nil {
		// A record on the same chain teaches nothing canRead cannot
		// derive; a DH step gives a new root key worth keeping.
		if a.follower.st.rk != before {
			a.known = append(a.known, a.follower.clone())
		}
	}
}

// canRead reports whether any key the attacker can derive opens rec, in
// either direction. From a state it can derive the message key at any
// position of the sending and receiving chains (KDF_CK only runs forward,
// so the header's n tells it how far) and, with the state's ratchet private
// key, the first chain that the header's ratchet key would start.
func (a *attacker) canRead(rec []byte) bool {
	h, ct, ok := parseRecord(rec)
	if !ok {
		return false
	}
	for _, s := range a.known {
		st := s.st
		type chain struct {
			ck   [32]byte
			base uint32
		}
		chains := []chain{{st.cks, st.ns}, {st.ckr, st.nr}}
		if st.dhs != nil {
			// The chain the header's key starts on our key, and, should
			// dhs be the key of a sending step still to come, the chain
			// that step starts and the peer's answer to it.
			if out, err := ratchetDH(st.dhs, &h.key); err == nil {
				_, ck := kdfRK(&st.rk, out)
				chains = append(chains, chain{ck, 0})
			}
			if out, err := ratchetDH(st.dhs, &st.dhr); err == nil {
				rk1, ck := kdfRK(&st.rk, out)
				chains = append(chains, chain{ck, 0})
				if out, err := ratchetDH(st.dhs, &h.key); err == nil {
					_, ck := kdfRK(&rk1, out)
					chains = append(chains, chain{ck, 0})
				}
			}
		}
		for _, c := range chains {
			if h.n < c.base || h.n-c.base > 1<<12 {
				continue
			}
			ck := c.ck
			for range h.n - c.base {
				ck, _ = kdfCK(&ck)
			}
			_, mk := kdfCK(&ck)
			key, nonce := messageKeys(&mk)
			for _, dir := range []byte{dirInitiatorToResponder, dirResponderToInitiator} {
				if _, ok := openRecord(rec, ct, &s.id, dir, &key, &nonce); ok {
					return true
				}
			}
		}
	}
	return false
}

func TestForwardSecrecy(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	var past [][]byte
	send := func(from, to *Session, msg string) []byte {
		rec := mustSeal(t, from, []byte(msg))
		mustOpen(t, to, rec)
		return rec
	}
	// Several chains each way, ending with records on the current chains.
	for i, dir := range "IIRRIRIIRIRRII" {
		if dir == 'I' {
			past = append(past, send(ini, resp, fmt.Sprint("i", i)))
		} else {
			past = append(past, send(resp, ini, fmt.Sprint("r", i)))
		}
	}
	for _, leaked := range []struct {
		name string
		s    *Session
	}{{"initiator", ini}, {"responder", resp}} {
		t.Run(leaked.name, func(t *testing.T) {
			a := newAttacker(leaked.s)
			for i, rec := range past {
				if a.canRead(rec) {
					t.Errorf("record %d sealed before the leak is readable", i)
				}
			}
		})
	}
	// Control: the same attacker reads what comes next on the leaked
	// initiator's sending chain, so it is not toothless.
	a := newAttacker(ini)
	if !a.canRead(mustSeal(t, ini, []byte("after the leak"))) {
		t.Fatal("attacker cannot read the next record on the leaked chain")
	}
}

// TestHealingRoundTrip: an attacker holding a leaked state reads the next
// records, but after one round trip (each side sends once, with a fresh
// ratchet key) it reads nothing new.
func TestHealingRoundTrip(t *testing.T) {
	for _, leakIni := range []bool{true, false} {
		t.Run(fmt.Sprint("leak initiator=", leakIni), func(t *testing.T) {
			ini, resp := newTestSessionPair(t)
			runScript(t, ini, resp, "IrRiIr")
			// victim last sent and is not owed a step; peer owes one.
			victim, peer := ini, resp
			if !leakIni {
				mustOpen(t, ini, mustSeal(t, resp, []byte("turn")))
				victim, peer = resp, ini
			}
			a := newAttacker(victim)

			x1 := mustSeal(t, victim, []byte("x1")) // victim's leaked chain
			if !a.canRead(x1) {
				t.Fatal("leaked sending chain not readable")
			}
			mustOpen(t, peer, x1)
			y1 := mustSeal(t, peer, []byte("y1")) // fresh peer key; DH with the leaked key
			a.observe(y1)
			if !a.canRead(y1) {
				t.Fatal("peer's reply to the leaked key not readable")
			}
			mustOpen(t, victim, y1)
			// The round trip: the victim answers with a key drawn after
			// the leak, and the peer steps onto it.
			for i := range 3 {
				x := mustSeal(t, victim, []byte(fmt.Sprint("x", i+2)))
				if a.canRead(x) {
					t.Fatalf("victim's record %d after the round trip readable", i)
				}
				mustOpen(t, peer, x)
				y := mustSeal(t, peer, []byte(fmt.Sprint("y", i+2)))
				a.observe(y)
				if a.canRead(y) {
					t.Fatalf("peer's record %d after the round trip readable", i)
				}
				mustOpen(t, victim, y)
			}
		})
	}
}

// TestHeartbeatHealsOneSidedTalk: the initiator does all the talking. A
// leak of either side heals once the listener's heartbeat arrives; without
// heartbeats the leak never heals.
func TestHeartbeatHealsOneSidedTalk(t *testing.T) {
	cases := []struct {
		name       string
		leakTalker bool
		heartbeats bool
		healed     bool
	}{
		{"talker leaked, heartbeats", true, true, true},
		{"listener leaked, heartbeats", false, true, true},
		{"talker leaked, no heartbeats", true, false, false},
		{"listener leaked, no heartbeats", false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lk := runOneSidedLeak(t, c.leakTalker, c.heartbeats, false)
			lastReadable, heartbeats := lk.lastReadable, lk.heartbeats
			const total = 3 * HeartbeatAfterMessages
			if c.healed {
				// Healed right after the first heartbeat: the first record
				// the talker seals after it is already unreadable.
				if lastReadable >= HeartbeatAfterMessages || heartbeats == 0 {
					t.Fatalf("last readable record %d, %d heartbeats", lastReadable, heartbeats)
				}
			} else if lastReadable != total-1 {
				t.Fatalf("without heartbeats the leak healed at record %d", lastReadable+1)
			}
		})
	}
}

// leakRun is what an attacker holding a leaked state read of a one-sided
// conversation (runOneSidedLeak).
type leakRun struct {
	lastReadable    int // index of the last talker record it could read, -1 none
	lastAckReadable int // the same for the listener's acks, -1 none
	heartbeats      int // heartbeats the listener sent
}

// runOneSidedLeak runs 3*HeartbeatAfterMessages records from the talker
// (the initiator) to the listener after a short exchange, with the state of
// the talker (leakTalker) or of the listener in an attacker's hands from
// the start. The attacker observes every record the victim did not seal.
// With acks the listener answers each record with a control record; with
// heartbeats it sends one whenever HeartbeatDue.
func runOneSidedLeak(t *testing.T, leakTalker, heartbeats, acks bool) leakRun {
	t.Helper()
	talker, listener := newTestSessionPair(t)
	runScript(t, talker, listener, "IrRiIIrr")
	victim := listener
	if leakTalker {
		victim = talker
	}
	a := newAttacker(victim)
	r := leakRun{lastReadable: -1, lastAckReadable: -1}
	for i := range 3 * HeartbeatAfterMessages {
		rec := mustSeal(t, talker, []byte("one-sided"))
		if !leakTalker {
			a.observe(rec)
		}
		if a.canRead(rec) {
			r.lastReadable = i
		}
		mustOpen(t, listener, rec)
		if acks {
			ack, err := listener.SealControl([]byte("ack"))
			if err != nil {
				t.Fatal(err)
			}
			if leakTalker {
				a.observe(ack)
			}
			if a.canRead(ack) {
				r.lastAckReadable = i
			}
			mustOpen(t, talker, ack)
		}
		if heartbeats && listener.HeartbeatDue() {
			hb := mustSealHeartbeat(t, listener)
			if leakTalker {
				a.observe(hb)
			}
			mustOpen(t, talker, hb)
			r.heartbeats++
		}
	}
	return r
}
