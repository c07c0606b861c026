package mailbox

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketLen counts the keys of one bucket.
func bucketLen(t testing.TB, d *db, name []byte) int {
	t.Helper()
	n := 0
	if err := d.b.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkConsistent checks that the store agrees with itself: every envelope
// has its ID and expiry entries and a key that starts with its seq, no
// index entry is left without an envelope, and the counts of grants,
// queues and the total are the sums of what is held.
func checkConsistent(t testing.TB, d *db) {
	t.Helper()
	err := d.b.View(func(tx *bolt.Tx) error {
		grants := map[string]counts{}
		queues := map[string]counts{}
		var total counts
		n := 0
		err := tx.Bucket(bucketEnv).ForEach(func(k, v []byte) error {
			n++
			if len(k) != 24 || len(v) < envHeadSize+17 {
				t.Errorf("env record %x: bad lengths", k)
				return nil
			}
			q, sb := k[:16], k[16:]
			size := int64(len(v) - envHeadSize)
			if !bytes.Equal(v[:8], sb) {
				t.Errorf("env %x: key %x does not start with its seq", k, v[:16])
			}
			if got := tx.Bucket(bucketIDs).Get(join(q, v[envHeadSize+1:envHeadSize+17])); !bytes.Equal(got, sb) {
				t.Errorf("env %x: ID index %x", k, got)
			}
			if tx.Bucket(bucketExpiry).Get(join(v[48:56], q, sb)) == nil {
				t.Errorf("env %x: no expiry entry", k)
			}
			for m, key := range map[*map[string]counts]string{&grants: string(v[16:48]), &queues: string(q)} {
				c := (*m)[key]
				c.n, c.bytes = c.n+1, c.bytes+size
				(*m)[key] = c
			}
			total.n, total.bytes = total.n+1, total.bytes+size
			return nil
		})
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketIDs, bucketExpiry} {
			if got := tx.Bucket(b).Stats().KeyN; got != n {
				t.Errorf("bucket %s: %d entries for %d envelopes", b, got, n)
			}
		}
		if got := parseCounts(tx.Bucket(bucketMeta).Get(totalKey)); got != total {
			t.Errorf("total %+v, want %+v", got, total)
		}
		_ = tx.Bucket(bucketQueues).ForEach(func(k, v []byte) error {
			if got := parseCounts(v); got != queues[string(k)] {
				t.Errorf("queue %x: %+v, want %+v", k, got, queues[string(k)])
			}
			delete(queues, string(k))
			return nil
		})
		if len(queues) != 0 {
			t.Errorf("%d queues without counts", len(queues))
		}
		return tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
			g, ok := parseGrant(v)
			if !ok {
				t.Errorf("grant %x: bad record", k)
				return nil
			}
			if g.counts != grants[string(k)] {
				t.Errorf("grant %x: %+v, want %+v", k, g.counts, grants[string(k)])
			}
			if g.state == grantRevoked && g.n == 0 {
				t.Errorf("grant %x: revoked and empty, but kept", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDepositBatch: in one group commit, a refused deposit writes nothing
// and holds back no other; quotas and duplicates count what the same
// batch stored before them.
func TestDepositBatch(t *testing.T) {
	t.Parallel()
	d, err := openDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	q := d.queue("owner")
	granted, stranger := newCap(t), newCap(t)
	if err := d.grant(q, granted, 10); err != nil {
		t.Fatal(err)
	}
	qs := quotas{capBytes: 1 << 20, totalBytes: 1 << 20, capEnvelopes: 3, totalEnvelopes: 100, maxCapabilities: 10}
	now := time.Unix(1_800_000_000, 0)
	dup := fakeEnvelope(t, 1<<10)
	jobs := []*depositJob{
		{cp: granted, env: fakeEnvelope(t, 1<<10), now: now},
		{cp: stranger, env: fakeEnvelope(t, 1<<10), now: now},
		{cp: granted, env: dup, now: now},
		{cp: granted, env: dup, now: now},
		{cp: granted, env: fakeEnvelope(t, 1<<10), now: now},
		{cp: granted, env: fakeEnvelope(t, 1<<10), now: now}, // the fourth: over 3
	}
	if err := d.depositBatch(jobs, qs); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		fresh bool
		err   error
	}{{true, nil}, {false, ErrCapability}, {true, nil}, {false, nil}, {true, nil}, {false, ErrQuota}} {
		if jobs[i].fresh != want.fresh || jobs[i].err != want.err {
			t.Errorf("job %d: fresh %v, err %v; want %v, %v", i, jobs[i].fresh, jobs[i].err, want.fresh, want.err)
		}
	}
	got, err := d.fetch(q, MaxFetch, time.Time{})
	if err != nil || len(got) != 3 {
		t.Fatalf("stored %d, %v; want 3", len(got), err)
	}
	for i, j := range []int{0, 2, 4} {
		if !bytes.Equal(got[i].Data, jobs[j].env) {
			t.Errorf("stored envelope %d is not job %d's", i, j)
		}
	}
	checkConsistent(t, d)
}

// TestConcurrentDeposits: deposits from several streams at once (so
// batched) never exceed a quota and all agree with the store.
func TestConcurrentDeposits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{PerCapabilityEnvelopes: 10})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	envs := make([][]byte, 24)
	for i := range envs {
		envs[i] = fakeEnvelope(t, 1<<10)
	}
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(envs); i += 6 {
				errs[i] = w.sc.Deposit(ctx, mb, cp, envs[i])
			}
		}()
	}
	wg.Wait()
	ok := map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			ok[string(envs[i])] = true
		case !errors.Is(err, ErrQuota):
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	if len(ok) != 10 {
		t.Fatalf("%d deposits acknowledged with a quota of 10", len(ok))
	}
	got, err := w.oc.Fetch(ctx, mb, 0)
	if err != nil || len(got) != 10 {
		t.Fatalf("fetched %d, %v", len(got), err)
	}
	for _, s := range got {
		if !ok[string(s.Data)] {
			t.Fatal("a refused deposit was stored")
		}
	}
	checkConsistent(t, w.srv.db)
}
