package mailbox

import (
	"bytes"
	"testing"

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
