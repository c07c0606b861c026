package mailbox

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
)

// world is a mailbox, its owner and a sender, each on its own host.
type world struct {
	mbox, owner, sender host.Host
	srv                 *Server
	cfg                 ServerConfig
	oc, sc              *Client
}

// newWorld starts a mailbox for one owner with cfg (Dir and Owners are
// filled in when empty).
func newWorld(t *testing.T, cfg ServerConfig) *world {
	t.Helper()
	w := &world{mbox: newHost(t), owner: newHost(t), sender: newHost(t)}
	know(w.owner, w.mbox)
	know(w.sender, w.mbox)
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Owners == nil {
		cfg.Owners = append(cfg.Owners, w.owner.ID())
	}
	w.cfg = cfg
	srv, err := NewServer(w.mbox, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	t.Cleanup(func() { _ = w.srv.Close() })
	w.oc, w.sc = NewClient(w.owner), NewClient(w.sender)
	return w
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx := testCtx(t)
	cp := newCap(t)
	if err := w.oc.Register(ctx, w.mbox.ID()); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := w.oc.Grant(ctx, w.mbox.ID(), cp); err != nil {
		t.Fatalf("grant: %v", err)
	}
	var sent [][]byte
	for _, size := range []int{1 << 10, 2 << 10, 128 << 10, 4 << 10} {
		env := fakeEnvelope(t, size)
		if err := w.sc.Deposit(ctx, w.mbox.ID(), cp, env); err != nil {
			t.Fatalf("deposit %d: %v", size, err)
		}
		sent = append(sent, env)
	}
	// A second deposit of the same envelope is acknowledged, stored once.
	if err := w.sc.Deposit(ctx, w.mbox.ID(), cp, sent[0]); err != nil {
		t.Fatalf("deposit again: %v", err)
	}
	st, err := w.oc.Status(ctx, w.mbox.ID())
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting != 4 || st.Bytes != (1+2+128+4)<<10 || st.QuotaBytes != DefaultTotalBytes || st.FreeBytes != DefaultTotalBytes-st.Bytes {
		t.Fatalf("status %+v", st)
	}
	got, err := w.oc.Fetch(ctx, w.mbox.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) {
		t.Fatalf("fetched %d, want %d", len(got), len(sent))
	}
	for i, g := range got {
		if !bytes.Equal(g.Data, sent[i]) || g.Tag != cp.Tag() || g.Received.IsZero() {
			t.Fatalf("envelope %d differs or out of order", i)
		}
	}
	// A key with the right place and the wrong random half deletes
	// nothing.
	guess := got[3].Key
	guess[15] ^= 1
	if err := w.oc.Delete(ctx, w.mbox.ID(), guess); err != nil {
		t.Fatal(err)
	}
	if err := w.oc.Delete(ctx, w.mbox.ID(), got[0].Key, got[2].Key); err != nil {
		t.Fatal(err)
	}
	got2, err := w.oc.Fetch(ctx, w.mbox.ID(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got2) != 1 || got2[0].Key != got[1].Key {
		t.Fatalf("after delete: %d envelopes", len(got2))
	}
	if st, err := w.oc.Status(ctx, w.mbox.ID()); err != nil || st.Waiting != 2 {
		t.Fatalf("status after delete: %+v, %v", st, err)
	}
	checkConsistent(t, w.srv.db)
	if err := w.oc.Revoke(ctx, w.mbox.ID(), cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, w.mbox.ID(), cp, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit after revoke: %v, want ErrCapability", err)
	}
	if _, err := w.sc.Fetch(ctx, w.mbox.ID(), 1); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("fetch by sender: %v, want ErrNotOwner", err)
	}
}

// TestCapabilityHidden: no fmt verb prints a capability's bytes.
func TestCapabilityHidden(t *testing.T) {
	t.Parallel()
	cp := newCap(t)
	raw := hex.EncodeToString(cp[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out := fmt.Sprintf(verb, cp)
		if strings.Contains(strings.ToLower(out), raw[:16]) || strings.Contains(out, fmt.Sprint(cp[0], " ", cp[1])) {
			t.Errorf("%s shows the capability: %s", verb, out)
		}
		if !strings.Contains(out, cp.Tag().String()) {
			t.Errorf("%s: %q does not name the tag", verb, out)
		}
	}
	if s := fmt.Sprint(struct{ C Capability }{cp}); strings.Contains(s, raw[:16]) {
		t.Errorf("inside a struct: %s", s)
	}
}
