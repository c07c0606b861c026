package e2e

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzOpen feeds arbitrary records to a fresh session, as either side. The
// seeds are the valid first records of the vector file and mutations of
// them. Whatever the input, Open must not panic and must fail closed: one
// error, the state byte-identical, the session dead. Anything it accepts
// must be a well-formed record.
func FuzzOpen(f *testing.F) {
	b, err := os.ReadFile(recordVectorsFile)
	if err != nil {
		f.Fatal(err)
	}
	vf := parseVectorFile(f, b)
	cfg := vectorConfig(f, vf.header)
	// Open never draws randomness; a failing reader proves it.
	cfg.randI, cfg.randR = failReader{}, failReader{}
	for i, r := range vf.records {
		rec := mustHex(f, r["record"])
		side := byte(0) // opened by the responder
		if r["sender"] == "responder" {
			side = 1
		}
		f.Add(side, rec)
		if i == 0 {
			f.Add(byte(1), rec) // reflected
			f.Add(side, rec[:recordHeaderSize])
			f.Add(side, append(append([]byte(nil), rec...), 0))
		}
	}
	f.Add(byte(0), []byte{})
	f.Add(byte(1), bytes.Repeat([]byte{0xff}, recordMinSize))

	f.Fuzz(func(t *testing.T, side byte, rec []byte) {
		ini, resp := newSessionPairFrom(t, cfg)
		s := resp
		if side&1 == 1 {
			s = ini
		}
		before := s.stateSnapshot()
		typ, pt, err := s.Open(rec)
		if err != nil {
			if !errors.Is(err, ErrAuth) || typ != 0 || pt != nil {
				t.Fatalf("Open = %v, %q, %v; want only ErrAuth", typ, pt, err)
			}
			if !bytes.Equal(before, s.stateSnapshot()) {
				t.Fatal("a refused record changed the state")
			}
			if _, err := s.Seal([]byte("x")); !errors.Is(err, ErrAuth) {
				t.Fatalf("session alive after a refused record: %v", err)
			}
			return
		}
		switch {
		case len(rec) < recordMinSize || len(rec) > MaxFrameSize:
			t.Fatalf("accepted a record of %d bytes", len(rec))
		case typ == RecordData && len(pt) == 0,
			(typ == RecordHeartbeat || typ == RecordClose) && pt != nil,
			typ != RecordData && typ != RecordHeartbeat && typ != RecordClose:
			t.Fatalf("accepted %v with %d bytes of payload", typ, len(pt))
		}
	})
}
