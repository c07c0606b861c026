package mailbox

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

// TestRestart: Close and a new server on the same directory keep the
// envelopes, their order, the grants and the revocations.
func TestRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp, revoked := newCap(t), newCap(t)
	for _, c := range []Capability{cp, revoked} {
		if err := w.oc.Grant(ctx, mb, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.oc.Revoke(ctx, mb, revoked); err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for i := 0; i < 5; i++ {
		env := fakeEnvelope(t, 1<<10<<(i%3))
		if err := w.sc.Deposit(ctx, mb, cp, env); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, env)
	}
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	srv, err := NewServer(w.mbox, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != len(sent) {
		t.Fatalf("fetch after restart: %d, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, sent[i]) {
			t.Fatalf("envelope %d differs after restart", i)
		}
	}
	// The same envelope is still known by its ID.
	if err := w.sc.Deposit(ctx, mb, cp, sent[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, revoked, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("revoked capability after restart: %v", err)
	}
	if st, err := w.oc.Status(ctx, mb); err != nil || st.Waiting != len(sent) {
		t.Fatalf("status after restart: %+v, %v", st, err)
	}
	checkConsistent(t, srv.db)
	fi, err := os.Stat(filepath.Join(w.cfg.Dir, dbFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, %v", fi.Mode(), err)
	}
	if di, err := os.Stat(w.cfg.Dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("store directory mode %v, %v", di.Mode(), err)
	}
}

// TestNothingReadableAtRest deposits a real sealed envelope and scans
// every file of the mailbox's directory: no plaintext, no sender or owner
// peer ID, no fingerprint, no capability (only its tag). The owner then
// opens what it fetched.
func TestNothingReadableAtRest(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	w := newWorld(t, ServerConfig{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, mb := testCtx(t), w.mbox.ID()
	sender, owner := testIdentity(t, "a"), testIdentity(t, "b")
	now := time.Now()
	pks, err := e2e.GeneratePrekeys(owner, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("MAILBOX-AT-REST-MARKER: meet at the old mill at nine")
	env, err := e2e.SealEnvelope(sender, owner.Public(), pks[0].Public(), marker, now)
	if err != nil {
		t.Fatal(err)
	}
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, env); err != nil {
		t.Fatal(err)
	}
	other := newCap(t)
	if err := w.sc.Deposit(ctx, mb, other, env); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit under a capability never granted: %v", err)
	}
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("fetch: %d, %v", len(got), err)
	}
	opened, err := e2e.OpenEnvelope(owner, func(id e2e.PrekeyID) *e2e.PrivatePrekey {
		if id == pks[0].ID() {
			return pks[0]
		}
		return nil
	}, got[0].Data)
	if err != nil || !bytes.Equal(opened.Plaintext, marker) || opened.Sender.Fingerprint() != sender.Fingerprint() {
		t.Fatalf("open the fetched envelope: %v", err)
	}
	// Closed, so that everything is in the file.
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	sfp, ofp := sender.Fingerprint(), owner.Fingerprint()
	secrets := map[string][]byte{
		"plaintext":              marker[:24],
		"sender peer ID":         []byte(w.sender.ID()),
		"sender peer ID text":    []byte(w.sender.ID().String()),
		"owner peer ID":          []byte(w.owner.ID()),
		"owner peer ID text":     []byte(w.owner.ID().String()),
		"sender fingerprint":     sfp[:],
		"sender fingerprint hex": []byte(hex.EncodeToString(sfp[:])),
		"owner fingerprint":      ofp[:],
		"capability":             cp[:],
	}
	files := 0
	err = filepath.WalkDir(w.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s: holds the %s", path, name)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scan: %d files, %v", files, err)
	}
	// Nor do the mailbox's logs, at debug level: the refused deposit is
	// logged, without its peer.
	if !bytes.Contains(logs.Bytes(), []byte("deposit refused")) {
		t.Error("the refused deposit is not in the debug log")
	}
	for name, s := range secrets {
		if bytes.Contains(logs.Bytes(), s) {
			t.Errorf("the log holds the %s", name)
		}
	}
	// A scan that cannot find what is there is worthless: the envelope
	// and the tag are in the file.
	b, err := os.ReadFile(filepath.Join(w.cfg.Dir, dbFile))
	tag := cp.Tag()
	if err != nil || !bytes.Contains(b, env) || !bytes.Contains(b, tag[:]) {
		t.Fatalf("the scan does not see the envelope or the tag: %v", err)
	}
}

// syncBuffer is a bytes.Buffer for a logger that other goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes returns a copy of what was written.
func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestCloseDuringDeposits: Close while deposits stream in returns, ends
// every handler (goleak checks the rest), and keeps every acknowledged
// envelope.
func TestCloseDuringDeposits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked [][]byte
		wg    sync.WaitGroup
		ack   = make(chan struct{}, 1000)
	)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				env := make([]byte, 1<<10)
				env[0] = 1
				if _, err := rand.Read(env[1:17]); err != nil {
					return
				}
				if err := w.sc.Deposit(ctx, mb, cp, env); err != nil {
					return // closed
				}
				mu.Lock()
				acked = append(acked, env)
				mu.Unlock()
				select {
				case ack <- struct{}{}:
				default:
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		select {
		case <-ack:
		case <-ctx.Done():
			t.Fatal("deposits too slow")
		}
	}
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	srv, err := NewServer(w.mbox, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	held := map[string]bool{}
	for {
		got, err := w.oc.Fetch(ctx, mb, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		keys := make([][16]byte, len(got))
		for i, s := range got {
			held[string(s.Data)] = true
			keys[i] = s.Key
		}
		if err := w.oc.Delete(ctx, mb, keys...); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, env := range acked {
		if !held[string(env)] {
			t.Fatal("an acknowledged deposit is gone after Close")
		}
	}
	t.Logf("%d acknowledged before Close, %d held", len(acked), len(held))
}
