package e2e

import (
	"bytes"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"testing"
)

func TestSessionRoundTripSizes(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	for _, n := range []int{1, 2, 15, 16, 17, 1024, 64 << 10, maxPlaintext - 1, maxPlaintext} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			for _, dir := range []struct {
				name     string
				from, to *Session
			}{{"i->r", ini, resp}, {"r->i", resp, ini}} {
				rec := mustSeal(t, dir.from, pt)
				if len(rec) != n+recordMinSize || len(rec) > MaxFrameSize {
					t.Fatalf("%s: record is %d bytes for %d of plaintext", dir.name, len(rec), n)
				}
				mustOpenData(t, dir.to, rec, pt)
			}
		})
	}
}

func TestSealPlaintextBounds(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	for _, n := range []int{0, maxPlaintext + 1, MaxFrameSize} {
		if _, err := ini.Seal(make([]byte, n)); err == nil {
			t.Errorf("Seal of %d bytes succeeded", n)
		}
	}
	if _, err := ini.Seal(nil); err == nil {
		t.Error("Seal(nil) succeeded")
	}
	// A refused Seal changes nothing: the next record is still number 0.
	mustOpenData(t, resp, mustSeal(t, ini, []byte("ok")), []byte("ok"))
}

// runScript drives a pair through an interleaving: 'I' and 'R' seal a record
// at the initiator or responder (queued in flight), 'i' and 'r' make that
// side open its next queued record.
func runScript(t *testing.T, ini, resp *Session, script string) {
	t.Helper()
	var toI, toR [][]byte
	var wantI, wantR []string
	for step, op := range script {
		msg := fmt.Sprintf("%c%d", op, step)
		switch op {
		case 'I':
			toR = append(toR, mustSeal(t, ini, []byte(msg)))
			wantR = append(wantR, msg)
		case 'R':
			toI = append(toI, mustSeal(t, resp, []byte(msg)))
			wantI = append(wantI, msg)
		case 'i':
			mustOpenData(t, ini, toI[0], []byte(wantI[0]))
			toI, wantI = toI[1:], wantI[1:]
		case 'r':
			mustOpenData(t, resp, toR[0], []byte(wantR[0]))
			toR, wantR = toR[1:], wantR[1:]
		}
	}
}

func TestSessionInterleavings(t *testing.T) {
	scripts := []string{
		"Ir", "Ri", // either side may speak first
		"IRri", "IRir", "RIri", // both send before either receives
		"IIRRiirr", "IRIRirir", "IIIrrrRRRiii",
		"IrRiIrRi", "RiIrRiIr", // ping-pong: a DH step every record
		"IRIRIRirRIrriii", // steps while records are in flight both ways
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			ini, resp := newTestSessionPair(t)
			runScript(t, ini, resp, s)
		})
	}
	t.Run("random", func(t *testing.T) {
		rng := mathrand.New(mathrand.NewPCG(1, 2))
		for range 20 {
			ini, resp := newTestSessionPair(t)
			var b []byte
			inFlightI, inFlightR := 0, 0
			for range 300 {
				switch op := "IRir"[rng.IntN(4)]; {
				case op == 'i' && inFlightI == 0, op == 'r' && inFlightR == 0:
				case op == 'I':
					inFlightR++
					b = append(b, op)
				case op == 'R':
					inFlightI++
					b = append(b, op)
				case op == 'i':
					inFlightI--
					b = append(b, op)
				case op == 'r':
					inFlightR--
					b = append(b, op)
				}
			}
			runScript(t, ini, resp, string(b))
		}
	})
}

func TestOpenMalformed(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	valid := mustSeal(t, ini, []byte("hello"))
	hb, err := ini.clone().SealHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	cases := []struct {
		name string
		rec  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", []byte{1}},
		{"short header", valid[:recordHeaderSize-1]},
		{"header only", valid[:recordHeaderSize]},
		{"no payload", valid[:recordMinSize]},
		{"truncated tag", valid[:len(valid)-1]},
		{"trailing garbage", append(append([]byte(nil), valid...), 0)},
		{"type 0", with(func(b []byte) []byte { b[0] = 0; return b })},
		{"type 4", with(func(b []byte) []byte { b[0] = 4; return b })},
		{"type 255", with(func(b []byte) []byte { b[0] = 255; return b })},
		{"data as heartbeat", with(func(b []byte) []byte { b[0] = byte(RecordHeartbeat); return b })},
		{"heartbeat as close", append([]byte{byte(RecordClose)}, hb[1:]...)},
		{"heartbeat as data", append([]byte{byte(RecordData)}, hb[1:]...)},
		{"oversized", append(append([]byte(nil), valid...), make([]byte, MaxFrameSize)...)},
		{"counter 1", with(func(b []byte) []byte { b[40] = 1; return b })},
		{"pn 1", with(func(b []byte) []byte { b[36] = 1; return b })},
		{"other key", with(func(b []byte) []byte { b[1] ^= 0x40; return b })},
		{"zero key", with(func(b []byte) []byte { clear(b[1:33]); return b })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resp.clone()
			if typ, pt, err := r.Open(c.rec); !errors.Is(err, ErrAuth) || typ != 0 || pt != nil {
				t.Fatalf("Open = %v, %q, %v; want ErrAuth", typ, pt, err)
			}
			checkDead(t, r, valid)
		})
	}
	mustOpenData(t, resp, valid, []byte("hello"))
}

// TestOpenAuthenticButMalformed: records that authenticate but break the
// format (sealed with the right keys through the internal seal) still fail.
func TestOpenAuthenticButMalformed(t *testing.T) {
	cases := []struct {
		name string
		typ  RecordType
		pt   []byte
	}{
		{"empty data", RecordData, nil},
		{"heartbeat with payload", RecordHeartbeat, []byte("x")},
		{"close with payload", RecordClose, []byte("x")},
		{"type 0", 0, []byte("x")},
		{"type 4", 4, nil},
		{"type 255", 255, []byte("x")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ini, resp := newTestSessionPair(t)
			rec, err := ini.clone().seal(c.typ, c.pt, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := resp.Open(rec); !errors.Is(err, ErrAuth) {
				t.Fatalf("Open = %v, want ErrAuth", err)
			}
		})
	}
}

func TestReplayReorderDrop(t *testing.T) {
	type records struct{ a1, a2, a3, b1 []byte }
	// make: a1, a2 on the initiator's first chain; b1 starts the
	// responder's; a3 starts the initiator's second chain with pn = 2.
	mk := func(t *testing.T) (*Session, *Session, records) {
		ini, resp := newTestSessionPair(t)
		var r records
		r.a1 = mustSeal(t, ini, []byte("a1"))
		r.a2 = mustSeal(t, ini, []byte("a2"))
		r.b1 = mustSeal(t, resp, []byte("b1"))
		mustOpenData(t, ini, r.b1, []byte("b1"))
		r.a3 = mustSeal(t, ini, []byte("a3"))
		return ini, resp, r
	}
	cases := []struct {
		name string
		seq  func(r records) [][]byte // the last one must fail
	}{
		{"replay first", func(r records) [][]byte { return [][]byte{r.a1, r.a1} }},
		{"replay across step", func(r records) [][]byte { return [][]byte{r.a1, r.a2, r.a3, r.a2} }},
		{"replay old chain first", func(r records) [][]byte { return [][]byte{r.a1, r.a2, r.a3, r.a1} }},
		{"replay new chain", func(r records) [][]byte { return [][]byte{r.a1, r.a2, r.a3, r.a3} }},
		{"second first", func(r records) [][]byte { return [][]byte{r.a2} }},
		{"new chain before old end", func(r records) [][]byte { return [][]byte{r.a1, r.a3} }},
		{"drop whole chain", func(r records) [][]byte { return [][]byte{r.a3} }},
		{"reflected", func(r records) [][]byte { return [][]byte{r.b1} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, resp, r := mk(t)
			seq := c.seq(r)
			for i, rec := range seq[:len(seq)-1] {
				if _, _, err := resp.Open(rec); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			if _, _, err := resp.Open(seq[len(seq)-1]); !errors.Is(err, ErrAuth) {
				t.Fatalf("last Open = %v, want ErrAuth", err)
			}
			checkDead(t, resp, r.a1)
		})
	}
	t.Run("in order", func(t *testing.T) {
		_, resp, r := mk(t)
		for _, rec := range [][]byte{r.a1, r.a2, r.a3} {
			mustOpen(t, resp, rec)
		}
	})
}

func TestRecordBoundToSession(t *testing.T) {
	c := randomPairConfig(t)
	ini, _ := newSessionPairFrom(t, c)
	other := c
	other.id[0] ^= 1 // same keys, another session ID
	_, resp2 := newSessionPairFrom(t, other)
	_, same := newSessionPairFrom(t, c)
	rec := mustSeal(t, ini, []byte("moved"))
	if _, _, err := resp2.Open(rec); !errors.Is(err, ErrAuth) {
		t.Fatalf("record opened in another session: %v", err)
	}
	// Control: only the session ID differs, so the same config opens it.
	mustOpenData(t, same, rec, []byte("moved"))

	// Reflection to the sender fails for both roles.
	a, b := newTestSessionPair(t)
	for _, s := range []*Session{a, b} {
		rec := mustSeal(t, s, []byte("echo"))
		if _, _, err := s.Open(rec); !errors.Is(err, ErrAuth) {
			t.Errorf("initiator=%v opened its own record: %v", s.Initiator(), err)
		}
	}
}

func TestDeadAfterFirstError(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	rec := mustSeal(t, ini, []byte("x"))
	if _, _, err := resp.Open(flipBit(rec, len(rec)*8-1)); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered Open = %v", err)
	}
	checkDead(t, resp, rec)
}

func TestClose(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	mustOpenData(t, resp, mustSeal(t, ini, []byte("bye soon")), []byte("bye soon"))
	cl, err := ini.SealClose()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Seal":          func() error { _, err := ini.Seal([]byte("x")); return err },
		"SealHeartbeat": func() error { _, err := ini.SealHeartbeat(); return err },
		"SealClose":     func() error { _, err := ini.SealClose(); return err },
	} {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after SealClose = %v, want ErrClosed", name, err)
		}
	}
	// The closed side still reads what the peer sent before seeing CLOSE.
	late := mustSeal(t, resp, []byte("late"))
	mustOpenData(t, ini, late, []byte("late"))

	if typ, pt, err := resp.Open(cl); err != nil || typ != RecordClose || pt != nil {
		t.Fatalf("Open(close) = %v, %q, %v", typ, pt, err)
	}
	if _, _, err := resp.Open(cl); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after CLOSE = %v, want ErrClosed", err)
	}
	if _, err := resp.Seal([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal after peer's CLOSE = %v, want ErrClosed", err)
	}
	// The peer may answer CLOSE with its own.
	cl2, err := resp.SealClose()
	if err != nil {
		t.Fatal(err)
	}
	if typ, _, err := ini.Open(cl2); err != nil || typ != RecordClose {
		t.Fatalf("Open(answer close) = %v, %v", typ, err)
	}
}

func TestForgedClose(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	hb, err := ini.clone().SealHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte{byte(RecordClose)}, hb[1:]...) // right key, counters and length
	if _, _, err := resp.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged CLOSE = %v, want ErrAuth", err)
	}
	checkDead(t, resp, hb)
}

func TestHeartbeat(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	if resp.HeartbeatDue() || ini.HeartbeatDue() {
		t.Fatal("heartbeat due on a new session")
	}
	for i := 1; i <= HeartbeatAfterMessages; i++ {
		mustOpen(t, resp, mustSeal(t, ini, []byte("one-sided")))
		if got, want := resp.HeartbeatDue(), i >= HeartbeatAfterMessages; got != want {
			t.Fatalf("after %d records HeartbeatDue = %v", i, got)
		}
	}
	if ini.HeartbeatDue() {
		t.Fatal("the talking side wants a heartbeat")
	}
	hb, err := resp.SealHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	if resp.HeartbeatDue() {
		t.Fatal("still due after sending")
	}
	if len(hb) != recordMinSize {
		t.Fatalf("heartbeat is %d bytes", len(hb))
	}
	if typ, pt, err := ini.Open(hb); err != nil || typ != RecordHeartbeat || pt != nil {
		t.Fatalf("Open(heartbeat) = %v, %q, %v", typ, pt, err)
	}
	// The heartbeat made the initiator step: its next record carries a new
	// ratchet key.
	next := mustSeal(t, ini, []byte("after"))
	if bytes.Equal(next[1:33], hb[1:33]) || bytes.Equal(next[1:33], resp.clone().st.dhr[:]) {
		t.Fatal("initiator did not take a new ratchet key after the heartbeat")
	}
	mustOpenData(t, resp, next, []byte("after"))
	// Heartbeats count as received records too.
	for range HeartbeatAfterMessages {
		mustOpen(t, ini, mustSealHeartbeat(t, resp))
	}
	if !ini.HeartbeatDue() {
		t.Fatal("received heartbeats did not count")
	}
}

func TestSealSurvivesRNGFailure(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	mustOpen(t, resp, mustSeal(t, ini, []byte("hi")))
	resp.rand = failReader{} // the responder owes a DH step, which needs randomness
	if _, err := resp.Seal([]byte("x")); err == nil {
		t.Fatal("Seal succeeded without randomness")
	}
	resp.rand = newDetReader("recovered")
	mustOpenData(t, ini, mustSeal(t, resp, []byte("x")), []byte("x"))
}

func TestSessionConcurrentUse(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	const sealers, perSealer, fromResp = 4, 50, 100
	toResp := make(chan []byte, sealers*perSealer)
	toIni := make(chan []byte, fromResp)
	var sendMu sync.Mutex // keeps Seal order equal to delivery order
	var wg sync.WaitGroup
	for range sealers {
		wg.Go(func() {
			for range perSealer {
				sendMu.Lock()
				rec, err := ini.Seal([]byte("from a sealer"))
				if err == nil {
					toResp <- rec
				}
				sendMu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				_ = ini.HeartbeatDue()
			}
		})
	}
	wg.Go(func() { // the responder talks back while the initiator seals
		defer close(toIni)
		for range fromResp {
			rec, err := resp.Seal([]byte("from the responder"))
			if err != nil {
				t.Error(err)
				return
			}
			toIni <- rec
		}
	})
	wg.Go(func() { // one goroutine opens on the sealing session
		for rec := range toIni {
			if _, _, err := ini.Open(rec); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(toResp)
	n := 0
	for rec := range toResp {
		mustOpenData(t, resp, rec, []byte("from a sealer"))
		n++
	}
	if n != sealers*perSealer {
		t.Fatalf("opened %d records", n)
	}
}

func TestRecordTypeString(t *testing.T) {
	for typ, want := range map[RecordType]string{
		RecordData: "data", RecordHeartbeat: "heartbeat", RecordClose: "close", 0: "RecordType(0)", 9: "RecordType(9)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", byte(typ), got, want)
		}
	}
}

func TestAccessors(t *testing.T) {
	ini, resp := newTestSessionPair(t)
	if !ini.Initiator() || resp.Initiator() {
		t.Fatal("Initiator() wrong")
	}
	if ini.ID() != resp.ID() || ini.ID() == ([32]byte{}) {
		t.Fatal("IDs differ or are zero")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if got, want := fmt.Sprintf(f, ini), fmt.Sprintf("e2e.Session(%x)", ini.id[:8]); got != want {
			t.Errorf("%s prints %q, want %q", f, got, want)
		}
	}
	if ini.PeerBundle() != nil {
		t.Fatal("test sessions have no bundle")
	}
	if _, err := newSession(sessionParams{initiator: true}); err == nil {
		t.Fatal("newSession without ephemerals succeeded")
	}
}
