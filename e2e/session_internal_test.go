package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	mathrand "math/rand/v2"
	"strconv"
	"testing"
)

// These tests look inside the session: they count key derivations, compare
// whole states and play an attacker who holds a leaked state.

func TestTamperLeavesStateUnchanged(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	iniAt0, respAt0 := ini.clone(), resp.clone()
	first := mustSeal(t, ini, []byte("first record, same chain as e_I"))
	newChain := mustSeal(t, resp, []byte("first record of a new chain"))
	cases := []struct {
		name string
		to   *Session
		rec  func() []byte
	}{
		{"data same chain", resp, func() []byte { return first }},
		{"data new chain", ini, func() []byte { return newChain }},
		{"heartbeat", resp, func() []byte { b, _ := iniAt0.clone().SealHeartbeat(); return b }},
		{"close", ini, func() []byte { b, _ := respAt0.clone().SealClose(); return b }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := c.rec()
			before := c.to.stateSnapshot()
			try := func(what string, bad []byte) {
				t.Helper()
				s := c.to.clone()
				if _, _, err := s.Open(bad); !errors.Is(err, ErrAuth) {
					t.Fatalf("%s: Open = %v, want ErrAuth", what, err)
				}
				if !bytes.Equal(s.stateSnapshot(), before) {
					t.Fatalf("%s: state changed", what)
				}
				if _, _, err := s.Open(rec); !errors.Is(err, ErrAuth) {
					t.Fatalf("%s: session alive after failure: %v", what, err)
				}
			}
			for i := range len(rec) * 8 {
				try("bit "+strconv.Itoa(i), flipBit(rec, i))
			}
			for n := range len(rec) {
				try("truncated to "+strconv.Itoa(n), rec[:n])
			}
			try("extended", append(append([]byte(nil), rec...), 0))
			if _, _, err := c.to.clone().Open(rec); err != nil {
				t.Fatalf("untampered record: %v", err)
			}
		})
	}
	// Control: a good record does change the snapshot.
	before := resp.stateSnapshot()
	mustOpen(t, resp, first)
	if bytes.Equal(before, resp.stateSnapshot()) {
		t.Fatal("snapshot does not see a state change")
	}
}

// countKDF installs a hook that counts every DH and KDF call on s.
func countKDF(s *Session) *int {
	n := new(int)
	s.hooks = &sessionHooks{kdf: func() { *n++ }}
	return n
}

// withHeader returns rec with its counters and optionally its key replaced.
func withHeader(rec []byte, pn, n uint32, key *[32]byte) []byte {
	b := append([]byte(nil), rec...)
	if key != nil {
		copy(b[1:33], key[:])
	}
	copy(b[33:37], binary.BigEndian.AppendUint32(nil, pn))
	copy(b[37:41], binary.BigEndian.AppendUint32(nil, n))
	return b
}

func TestAbsurdCountersRefusedBeforeKDF(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	mustOpen(t, resp, mustSeal(t, ini, []byte("warm up")))
	rec := mustSeal(t, ini, []byte("next")) // n = 1 on the e_I chain
	fresh := testX25519(t, newDetReader("other key"))
	var other [32]byte
	copy(other[:], fresh.PublicKey().Bytes())
	// A state that has sent, so a new peer key would be acceptable in
	// principle and the new-chain checks are the ones that refuse.
	sent := resp.clone()
	mustOpen(t, ini, mustSeal(t, sent, []byte("so a step is not owed")))
	atLimit := resp.clone()
	atLimit.st.nr = MaxChainLength

	cases := []struct {
		name string
		s    *Session
		rec  []byte
	}{
		{"n 2^32-1", resp, withHeader(rec, 0, 0xffffffff, nil)},
		{"n MaxChainLength", resp, withHeader(rec, 0, MaxChainLength, nil)},
		{"n equals nr at limit", atLimit, withHeader(rec, 0, MaxChainLength, nil)},
		{"gap", resp, withHeader(rec, 0, 2, nil)},
		{"replay", resp, withHeader(rec, 0, 0, nil)},
		{"pn 2^32-1 new key", sent, withHeader(rec, 0xffffffff, 0, &other)},
		{"pn short new key", sent, withHeader(rec, 0, 0, &other)},
		{"n 5 new key", sent, withHeader(rec, 1, 5, &other)},
		{"new key while step owed", resp, withHeader(rec, 1, 0, &other)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.s.clone()
			calls := countKDF(s)
			if _, _, err := s.Open(c.rec); !errors.Is(err, ErrAuth) {
				t.Fatalf("Open = %v, want ErrAuth", err)
			}
			if *calls != 0 {
				t.Fatalf("%d KDF calls before refusing", *calls)
			}
		})
	}
	// Control: the hook does count on the normal path and on a step.
	s := resp.clone()
	calls := countKDF(s)
	mustOpen(t, s, rec)
	if *calls == 0 {
		t.Fatal("hook counted nothing")
	}
}

func TestCounterLimit(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	mustOpen(t, resp, mustSeal(t, ini, []byte("a")))
	// Jump both ends of the chain to its last slot. The chain key does not
	// depend on the counter, so the two ends stay in step.
	ini.st.ns, resp.st.nr = MaxChainLength-1, MaxChainLength-1
	mustOpen(t, resp, mustSeal(t, ini, []byte("last")))
	if _, err := ini.Seal([]byte("one too many")); !errors.Is(err, ErrCounterLimit) {
		t.Fatalf("Seal = %v, want ErrCounterLimit", err)
	}
	if _, err := ini.SealHeartbeat(); !errors.Is(err, ErrCounterLimit) {
		t.Fatalf("SealHeartbeat = %v, want ErrCounterLimit", err)
	}
	// The peer's answer starts a new chain, with pn = MaxChainLength.
	mustOpen(t, ini, mustSeal(t, resp, []byte("answer")))
	mustOpenData(t, resp, mustSeal(t, ini, []byte("new chain")), []byte("new chain"))
}

func TestDirectionBound(t *testing.T) {
	ini, _ := newTestSessionPair(t)
	before := ini.clone()
	rec := mustSeal(t, ini, []byte("x"))
	// A receiver holding exactly the sender's chain, in either role: only
	// the direction byte of the associated data tells them apart.
	for _, role := range []struct {
		initiator bool
		ok        bool
	}{{false, true}, {true, false}} {
		m := &Session{id: before.id, initiator: role.initiator, rand: failReader{}}
		m.st = ratchetState{rk: before.st.rk, ckr: before.st.cks, nr: before.st.ns, hasRecv: true, stepOwed: true}
		copy(m.st.dhr[:], before.st.dhs.PublicKey().Bytes())
		_, _, err := m.Open(rec)
		if (err == nil) != role.ok {
			t.Errorf("receiver as initiator=%v: Open = %v", role.initiator, err)
		}
	}
}

// keyNonceSet records (key, nonce) pairs and fails on the first repeat.
type keyNonceSet struct {
	t      *testing.T
	pairs  map[[aeadKeySize + aeadNonceSize]byte]struct{}
	nonces map[[aeadNonceSize]byte]struct{}
}

func newKeyNonceSet(t *testing.T, n int) *keyNonceSet {
	return &keyNonceSet{t, make(map[[aeadKeySize + aeadNonceSize]byte]struct{}, n), make(map[[aeadNonceSize]byte]struct{}, n)}
}

func (k *keyNonceSet) add(key [aeadKeySize]byte, nonce [aeadNonceSize]byte) {
	var p [aeadKeySize + aeadNonceSize]byte
	copy(p[:], key[:])
	copy(p[aeadKeySize:], nonce[:])
	_, dupPair := k.pairs[p]
	_, dupNonce := k.nonces[nonce]
	if dupPair || dupNonce {
		k.t.Fatalf("after %d records: (key, nonce) repeated %v, nonce repeated %v", len(k.pairs), dupPair, dupNonce)
	}
	k.pairs[p] = struct{}{}
	k.nonces[nonce] = struct{}{}
}

// TestNoKeyNonceReuse seals 100k records in bursts both ways, with DH
// steps and heartbeats, and checks that no AEAD (key, nonce) pair, indeed
// no nonce, repeats. Under -race, which checks nothing here, it walks the
// same key schedule Seal uses (sendStep, recvStep, kdfCK, messageKeys)
// without the AEAD and the receiver, about three times less work.
func TestNoKeyNonceReuse(t *testing.T) {
	const n = 100_000
	set := newKeyNonceSet(t, n)
	rng := mathrand.New(mathrand.NewPCG(3, 4))
	burst := func() int { return 1 + rng.IntN(120) }
	if sessionRaceEnabled {
		ini, resp := newTestSessionPair(t)
		from, to := &ini.st, &resp.st
		for sent := 0; sent < n; from, to = to, from {
			if from.stepOwed {
				if err := from.sendStep(ini.rand); err != nil {
					t.Fatal(err)
				}
			}
			for k := burst(); k > 0 && sent < n; k-- {
				var mk [32]byte
				from.cks, mk = kdfCK(&from.cks)
				set.add(messageKeys(&mk))
				from.ns++
				sent++
			}
			var pub [32]byte
			copy(pub[:], from.dhs.PublicKey().Bytes())
			if pub != to.dhr {
				if err := to.recvStep(&pub); err != nil {
					t.Fatal(err)
				}
			}
		}
		return
	}
	ini, resp := newTestSessionPair(t)
	ini.hooks = &sessionHooks{sealKey: set.add}
	resp.hooks = ini.hooks
	from, to := ini, resp
	pt := []byte{0}
	for sent := 0; sent < n; from, to = to, from {
		// Bursts of varied length, so chains of many lengths and DH steps
		// in both directions are covered; heartbeats when due.
		for k := burst(); k > 0 && sent < n; k-- {
			if to.HeartbeatDue() {
				mustOpen(t, from, mustSealHeartbeat(t, to))
				sent++
			}
			mustOpen(t, to, mustSeal(t, from, pt))
			sent++
		}
	}
	if len(set.pairs) < n {
		t.Fatalf("only %d records", len(set.pairs))
	}
}

func mustSealHeartbeat(t testing.TB, s *Session) []byte {
	t.Helper()
	rec, err := s.SealHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
