package mailbox

import (
	"errors"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

// TestNotOwner: every owner request from a peer that is not an owner is
// refused, whatever its bytes say, and changes nothing.
func TestNotOwner(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx := testCtx(t)
	mb := w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 2<<10)); err != nil {
		t.Fatal(err)
	}
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("owner fetch: %d, %v", len(got), err)
	}
	other := newCap(t)
	for name, f := range map[string]func() error{
		"register": func() error { return w.sc.Register(ctx, mb) },
		"grant":    func() error { return w.sc.Grant(ctx, mb, other) },
		"revoke":   func() error { return w.sc.Revoke(ctx, mb, cp) },
		"fetch":    func() error { _, err := w.sc.Fetch(ctx, mb, 1); return err },
		"delete":   func() error { return w.sc.Delete(ctx, mb, got[0].Key) },
		"status":   func() error { _, err := w.sc.Status(ctx, mb); return err },
		"watch":    func() error { _, err := w.sc.Watch(ctx, mb); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotOwner) {
			t.Errorf("%s by a non-owner: %v, want ErrNotOwner", name, err)
		}
	}
	// Nothing changed: the envelope is there, the capability still
	// works, the other one was not granted.
	if got2, err := w.oc.Fetch(ctx, mb, 0); err != nil || len(got2) != 1 {
		t.Fatalf("after refusals: %d, %v", len(got2), err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); err != nil {
		t.Fatalf("deposit under the granted capability: %v", err)
	}
	if err := w.sc.Deposit(ctx, mb, other, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit under a capability a non-owner granted: %v", err)
	}
}

// TestTwoOwners: two owners of one mailbox have separate queues; one
// cannot take, see or delete the other's capability or envelopes.
func TestTwoOwners(t *testing.T) {
	t.Parallel()
	second := newHost(t)
	w := newWorld(t, ServerConfig{})
	// Restart with both owners.
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	w.cfg.Owners = append(w.cfg.Owners, second.ID())
	srv, err := NewServer(w.mbox, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	know(second, w.mbox)
	ctx, mb, oc2 := testCtx(t), w.mbox.ID(), NewClient(second)
	cpA, cpB := newCap(t), newCap(t)
	if err := w.oc.Grant(ctx, mb, cpA); err != nil {
		t.Fatal(err)
	}
	if err := oc2.Grant(ctx, mb, cpA); !errors.Is(err, ErrCapability) {
		t.Fatalf("second owner grants the first's capability: %v, want ErrCapability", err)
	}
	if err := oc2.Revoke(ctx, mb, cpA); err != nil {
		t.Fatalf("second owner revokes the first's capability: %v, want a no-op", err)
	}
	if err := oc2.Grant(ctx, mb, cpB); err != nil {
		t.Fatal(err)
	}
	envA, envB := fakeEnvelope(t, 1<<10), fakeEnvelope(t, 1<<10)
	// The same envelope ID for both owners is two envelopes.
	copy(envB[1:17], envA[1:17])
	if err := w.sc.Deposit(ctx, mb, cpA, envA); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cpB, envB); err != nil {
		t.Fatal(err)
	}
	gotA, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(gotA) != 1 || gotA[0].Tag != cpA.Tag() {
		t.Fatalf("owner A fetch: %d, %v", len(gotA), err)
	}
	gotB, err := oc2.Fetch(ctx, mb, 0)
	if err != nil || len(gotB) != 1 || gotB[0].Tag != cpB.Tag() {
		t.Fatalf("owner B fetch: %d, %v", len(gotB), err)
	}
	if err := oc2.Delete(ctx, mb, gotA[0].Key); err != nil {
		t.Fatal(err)
	}
	if got, err := w.oc.Fetch(ctx, mb, 0); err != nil || len(got) != 1 {
		t.Fatalf("owner B deleted owner A's envelope: %d, %v", len(got), err)
	}
	if st, err := w.oc.Status(ctx, mb); err != nil || st.Waiting != 1 || st.Bytes != 1<<10 || st.FreeBytes != DefaultTotalBytes-2<<10 {
		t.Fatalf("owner A status %+v, %v", st, err)
	}

	// The operator drops owner B: B's grants deposit nothing more, A's
	// still do.
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	w.cfg.Owners = w.cfg.Owners[:1]
	if w.srv, err = NewServer(w.mbox, w.cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cpB, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit for a removed owner: %v, want ErrCapability", err)
	}
	if err := w.sc.Deposit(ctx, mb, cpA, fakeEnvelope(t, 1<<10)); err != nil {
		t.Fatalf("deposit for the remaining owner: %v", err)
	}
}

// TestRevoked: a revoked capability deposits nothing more, what it
// deposited before stays, and a grant again revives it.
func TestRevoked(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{PerCapabilityEnvelopes: 2})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit before the grant: %v, want ErrCapability", err)
	}
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.oc.Revoke(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrCapability) {
		t.Fatalf("deposit after revoke: %v, want ErrCapability", err)
	}
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("fetch after revoke: %d, %v", len(got), err)
	}
	// Granted again, its count survived the revocation: one more fits.
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); !errors.Is(err, ErrQuota) {
		t.Fatalf("third deposit with a quota of 2: %v, want ErrQuota", err)
	}
	// Revoked and emptied, the grant is gone for good.
	if err := w.oc.Revoke(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	all, _ := w.oc.Fetch(ctx, mb, 0)
	keys := make([][16]byte, len(all))
	for i, s := range all {
		keys[i] = s.Key
	}
	if err := w.oc.Delete(ctx, mb, keys...); err != nil {
		t.Fatal(err)
	}
	if n := bucketLen(t, w.srv.db, bucketGrants); n != 0 {
		t.Fatalf("%d grants left after revoke and delete, want 0", n)
	}
}

// TestQuota: a full capability or a full mailbox answers ErrQuota, in
// bytes and in count, and deleting makes room again.
func TestQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		// fits is how many 2 KiB envelopes fit, under capability 1 and
		// then under capability 2.
		fits [2]int
	}{
		{"capability bytes", ServerConfig{PerCapabilityBytes: 5 << 10}, [2]int{2, 2}},
		{"capability count", ServerConfig{PerCapabilityEnvelopes: 3}, [2]int{3, 3}},
		{"total bytes", ServerConfig{TotalBytes: 7 << 10}, [2]int{3, 0}},
		{"total count", ServerConfig{TotalEnvelopes: 4, PerCapabilityEnvelopes: 3}, [2]int{3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.cfg)
			ctx, mb := testCtx(t), w.mbox.ID()
			var first Stored
			caps := [2]Capability{newCap(t), newCap(t)}
			for i, n := range tc.fits {
				cp := caps[i]
				if err := w.oc.Grant(ctx, mb, cp); err != nil {
					t.Fatal(err)
				}
				for j := 0; j < n; j++ {
					if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 2<<10)); err != nil {
						t.Fatalf("capability %d, deposit %d: %v", i, j, err)
					}
				}
				if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 2<<10)); !errors.Is(err, ErrQuota) {
					t.Fatalf("capability %d, deposit %d: %v, want ErrQuota", i, n, err)
				}
				if i == 0 {
					got, err := w.oc.Fetch(ctx, mb, 1)
					if err != nil || len(got) != 1 {
						t.Fatal(err)
					}
					first = got[0]
				}
			}
			// Room again after a delete, under the first capability.
			if err := w.oc.Delete(ctx, mb, first.Key); err != nil {
				t.Fatal(err)
			}
			if err := w.sc.Deposit(ctx, mb, caps[0], fakeEnvelope(t, 2<<10)); err != nil {
				t.Fatalf("deposit after a delete: %v", err)
			}
			checkConsistent(t, w.srv.db)
		})
	}
}

// TestBadSizes: only version-1 envelopes of a bucket size are stored; the
// client refuses the others before sending, and the mailbox refuses them
// from a raw stream with the same errors.
func TestBadSizes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	wrongVersion := fakeEnvelope(t, 2<<10)
	wrongVersion[0] = 2
	for _, tc := range []struct {
		name string
		env  []byte
		want error
	}{
		{"empty", nil, ErrProtocol},
		{"header only", fakeEnvelope(t, 57), ErrProtocol},
		{"below the smallest bucket", fakeEnvelope(t, e2e.MinEnvelopeSize/2), ErrProtocol},
		{"one byte short", fakeEnvelope(t, 2<<10-1), ErrProtocol},
		{"one byte over", fakeEnvelope(t, 2<<10+1), ErrProtocol},
		{"not a power of two", fakeEnvelope(t, 3<<10), ErrProtocol},
		{"wrong version", wrongVersion, ErrProtocol},
		{"above the largest bucket", fakeEnvelope(t, e2e.MaxEnvelopeSize*2), ErrTooLarge},
		{"largest bucket plus one", fakeEnvelope(t, e2e.MaxEnvelopeSize+1), ErrTooLarge},
	} {
		if err := w.sc.Deposit(ctx, mb, cp, tc.env); !errors.Is(err, tc.want) {
			t.Errorf("%s: client: %v, want %v", tc.name, err, tc.want)
		}
		req := append(append([]byte{opDeposit}, cp[:]...), tc.env...)
		if code := rawRequest(t, w.sender, mb, req); codeError(code) != tc.want {
			t.Errorf("%s: mailbox answered %d, want %v", tc.name, code, tc.want)
		}
	}
	// A frame over the largest request is refused from its length.
	if code := rawRequest(t, w.sender, mb, make([]byte, maxRequestSize+1)); code != codeTooLarge {
		t.Errorf("oversized frame: code %d, want %d", code, codeTooLarge)
	}
	for _, body := range [][]byte{{0}, {99}, {opFetch, 0, 0}, {opFetch, 1, 1}, {opStatus, 0}, {opGrant, 1}} {
		if code := rawRequest(t, w.owner, mb, body); code != codeProtocol {
			t.Errorf("request %x: code %d, want %d", body, code, codeProtocol)
		}
	}
	if st, err := w.oc.Status(ctx, mb); err != nil || st.Waiting != 0 {
		t.Fatalf("status after refusals: %+v, %v", st, err)
	}
}

// TestExpiry: an envelope older than the TTL is never served, not
// counted, and deleted; at start too.
func TestExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	w := newWorld(t, ServerConfig{TTL: time.Hour, Now: clk.Now})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	old := fakeEnvelope(t, 1<<10)
	if err := w.sc.Deposit(ctx, mb, cp, old); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute)
	if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 2<<10)); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute) // the first is exactly an hour old: expired
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != 1 || len(got[0].Data) != 2<<10 {
		t.Fatalf("fetch after the first expired: %d, %v", len(got), err)
	}
	if st, err := w.oc.Status(ctx, mb); err != nil || st.Waiting != 1 || st.Bytes != 2<<10 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// Its ID is free again (the owner refuses a replay by its own seen
	// IDs; the mailbox holds it as a new envelope).
	if err := w.sc.Deposit(ctx, mb, cp, old); err != nil {
		t.Fatal(err)
	}
	// At start: both left expire while the mailbox is down.
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	srv, err := NewServer(w.mbox, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	if n := bucketLen(t, srv.db, bucketEnv); n != 0 {
		t.Fatalf("%d envelopes after the start purge, want 0", n)
	}
	checkConsistent(t, srv.db)
}
