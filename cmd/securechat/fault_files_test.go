package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFaultKillFileTransfer: a file transfer survives a kill -9 of the
// receiver at about 40%, then of the sender at about 70%: after each
// restart on the same home the transfer goes on from what the receiver
// holds, and the file arrives whole, its SHA-256 checked on both sides.
func TestFaultKillFileTransfer(t *testing.T) {
	needBinary(t)
	const size = 64 << 20
	a, b := newFaultPeer(t, "alice"), newFaultPeer(t, "bob")
	aID, bID := a.p.peerID(), b.p.peerID()
	a.p.send(map[string]any{"cmd": "connect", "addr": b.p.addr()})
	b.p.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": aID})
	// Each is the other's contact, so each redials the other after a restart.
	b.p.send(map[string]any{"cmd": "send", "to": aID, "text": "hello"})
	b.p.waitFor(30*time.Second, map[string]any{"event": "delivered", "peer_id": aID})

	src := filepath.Join(t.TempDir(), "big.bin")
	buf := make([]byte, size)
	_, _ = rand.Read(buf)
	if err := os.WriteFile(src, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf)
	buf = nil
	a.p.send(map[string]any{"cmd": "send_file", "to": bID, "path": src, "ref": "f"})
	id := a.p.waitFor(30*time.Second, map[string]any{"event": "file_progress", "ref": "f"})["file_id"].(string)
	b.p.waitFor(30*time.Second, map[string]any{"event": "file_offer", "file_id": id, "sha256": hex.EncodeToString(sum[:])})
	b.p.send(map[string]any{"cmd": "accept_file", "file_id": id, "ref": "a"})

	// reached waits for p's file_progress past frac of the file and returns
	// the bytes it reports.
	reached := func(p *proc, frac float64) float64 {
		var got float64
		if !p.collect(60*time.Second, func(ev map[string]any) bool {
			if ev["event"] == "file_progress" && ev["file_id"] == id {
				got = ev["bytes"].(float64)
			}
			return got >= frac*size
		}) {
			t.Fatalf("%s: the transfer did not reach %.0f%% (at %.0f bytes)", p.name, 100*frac, got)
		}
		return got
	}
	// resumedAt returns the bytes of p's first file_progress after a restart.
	resumedAt := func(p *proc) float64 {
		ev := p.waitFor(60*time.Second, map[string]any{"event": "file_progress", "file_id": id})
		return ev["bytes"].(float64)
	}

	before := reached(b.p, 0.4)
	b.kill()
	b.start()
	after := resumedAt(b.p)
	t.Logf("receiver killed at %.1f MiB shown; resumed at %.1f MiB", before/(1<<20), after/(1<<20))
	if after < before {
		t.Errorf("the receiver lost chunks it had reported: %.0f < %.0f", after, before)
	}
	reached(b.p, 0.7)
	a.kill()
	a.start()
	done := b.p.waitFor(90*time.Second, map[string]any{"event": "file_done", "file_id": id})
	a.p.waitFor(30*time.Second, map[string]any{"event": "file_done", "file_id": id})
	got, err := os.ReadFile(done["path"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sum {
		t.Fatal("the received file differs")
	}
	ents, _ := os.ReadDir(filepath.Dir(done["path"].(string)))
	if len(ents) != 1 {
		t.Errorf("download folder: %v", ents)
	}
}
