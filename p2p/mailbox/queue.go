package mailbox

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/securechat/securechat/e2e"
)

// This file holds what each request does to the store, one bbolt
// transaction each. Errors returned to a peer are the package's sentinels;
// anything else is a storage failure (answered as unavailable).

// quotas are the limits a deposit is checked against.
type quotas struct {
	capBytes, totalBytes int64
	capEnvelopes         int64
	totalEnvelopes       int64
	maxCapabilities      int
	// live are the queues of the configured owners (nil: any). A grant
	// of an owner the operator removed deposits nothing more.
	live map[queueID]bool
}

// grant lets cp's holders deposit into q. A capability already granted to
// another queue is refused; granting it again to its own queue (even after
// a revocation) makes it active again.
func (d *db) grant(q queueID, cp Capability, maxCapabilities int) error {
	tag := cp.Tag()
	return d.b.Update(func(tx *bolt.Tx) error {
		grants := tx.Bucket(bucketGrants)
		g, ok := parseGrant(grants.Get(tag[:]))
		switch {
		case ok && g.queue != q:
			return ErrCapability
		case ok:
			g.state = grantActive
		default:
			if grants.Stats().KeyN >= maxCapabilities {
				return ErrQuota
			}
			g = grant{queue: q, state: grantActive}
		}
		return grants.Put(tag[:], g.encode())
	})
}

// revoke refuses later deposits under cp. Envelopes already deposited
// stay for the owner to fetch. Revoking what is not granted to q is a
// no-op, so that an owner learns nothing of other owners' grants.
func (d *db) revoke(q queueID, cp Capability) error {
	tag := cp.Tag()
	return d.b.Update(func(tx *bolt.Tx) error {
		grants := tx.Bucket(bucketGrants)
		g, ok := parseGrant(grants.Get(tag[:]))
		if !ok || g.queue != q {
			return nil
		}
		if g.n == 0 {
			return grants.Delete(tag[:])
		}
		g.state = grantRevoked
		return grants.Put(tag[:], g.encode())
	})
}

// A depositJob is one deposit for the committer (see [db.depositBatch]).
type depositJob struct {
	cp  Capability
	env []byte
	now time.Time
	// Set by depositBatch: the owner's queue, whether the envelope was
	// new (false: an envelope with its ID was already in the queue, and
	// nothing changed), and the refusal (a package error) or the
	// storage failure.
	q     queueID
	fresh bool
	err   error
	done  chan struct{}
}

// depositBatch stores the jobs' envelopes in one transaction, committed
// with an fsync before it returns: a group commit, so that deposits that
// arrive together share one fsync. A refused job (its err set to a
// package error) writes nothing and does not hold back the others; a
// storage failure (returned) fails them all, none stored.
func (d *db) depositBatch(jobs []*depositJob, qs quotas) error {
	rnd := make([]byte, 8*len(jobs))
	if _, err := rand.Read(rnd); err != nil {
		return err
	}
	return d.b.Update(func(tx *bolt.Tx) error {
		for i, j := range jobs {
			j.q, j.fresh, j.err = queueID{}, false, nil
			if err := depositTx(tx, j, rnd[8*i:8*i+8], qs); err != nil {
				return err
			}
		}
		return nil
	})
}

// depositTx stores one job's envelope in tx, or sets j.err to the refusal.
// Every check comes before the first write.
func depositTx(tx *bolt.Tx, j *depositJob, rnd []byte, qs quotas) error {
	tag := j.cp.Tag()
	id, _, err := e2e.EnvelopeHeader(j.env)
	if err != nil {
		j.err = ErrProtocol
		return nil
	}
	grants := tx.Bucket(bucketGrants)
	g, ok := parseGrant(grants.Get(tag[:]))
	if !ok || g.state != grantActive {
		j.err = ErrCapability
		return nil
	}
	q := g.queue
	if qs.live != nil && !qs.live[q] {
		j.err = ErrCapability
		return nil
	}
	j.q = q
	ids := tx.Bucket(bucketIDs)
	if ids.Get(join(q[:], id[:])) != nil {
		return nil // idempotent: already held
	}
	meta, queues := tx.Bucket(bucketMeta), tx.Bucket(bucketQueues)
	total, qc := parseCounts(meta.Get(totalKey)), parseCounts(queues.Get(q[:]))
	size := int64(len(j.env))
	if g.n+1 > qs.capEnvelopes || g.bytes+size > qs.capBytes ||
		total.n+1 > qs.totalEnvelopes || total.bytes+size > qs.totalBytes {
		j.err = ErrQuota
		return nil
	}
	envB := tx.Bucket(bucketEnv)
	envB.FillPercent = envFillPercent
	seq, err := envB.NextSequence()
	if err != nil {
		return err
	}
	sb := seqBytes(seq)
	// The key names the envelope by its place (seq) and 8 random bytes,
	// so that a delete needs no index and a guessed seq deletes nothing.
	key := join(sb, rnd)
	ms := binary.BigEndian.AppendUint64(nil, uint64(j.now.UnixMilli()))
	val := make([]byte, 0, envHeadSize+len(j.env))
	val = append(append(append(append(val, key...), tag[:]...), ms...), j.env...)
	g.n, g.bytes = g.n+1, g.bytes+size
	qc.n, qc.bytes = qc.n+1, qc.bytes+size
	total.n, total.bytes = total.n+1, total.bytes+size
	expiry := tx.Bucket(bucketExpiry)
	expiry.FillPercent = envFillPercent
	for _, p := range []struct {
		b    *bolt.Bucket
		k, v []byte
	}{
		{envB, join(q[:], sb), val},
		{ids, join(q[:], id[:]), sb},
		{expiry, join(ms, q[:], sb), []byte{}},
		{grants, tag[:], g.encode()},
		{queues, q[:], qc.encode()},
		{meta, totalKey, total.encode()},
	} {
		if err := p.b.Put(p.k, p.v); err != nil {
			return err
		}
	}
	j.fresh = true
	return nil
}

// envFillPercent packs the pages of the buckets whose keys grow in order
// (a queue's envelopes, the expiry index) instead of splitting them half
// full: these pages are rarely inserted into again.
const envFillPercent = 0.95

// fetch returns q's oldest envelopes, at most max of them and about
// maxFetchBytes, leaving out those received at or before cutoff (expired:
// never served, even before the purge removes them).
func (d *db) fetch(q queueID, max int, cutoff time.Time) ([]Stored, error) {
	var out []Stored
	var size int
	err := d.b.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEnv).Cursor()
		for k, v := c.Seek(q[:]); k != nil && bytes.HasPrefix(k, q[:]) && len(out) < max; k, v = c.Next() {
			if len(v) < envHeadSize {
				continue
			}
			received := time.UnixMilli(int64(binary.BigEndian.Uint64(v[48:])))
			if !received.After(cutoff) {
				continue
			}
			if len(out) > 0 && size+len(v)-envHeadSize > maxFetchBytes {
				break
			}
			var st Stored
			copy(st.Key[:], v)
			copy(st.Tag[:], v[16:])
			st.Received = received
			st.Data = bytes.Clone(v[envHeadSize:])
			size += len(st.Data)
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// remove deletes q's envelopes named by keys; unknown keys are skipped.
func (d *db) remove(q queueID, keys [][16]byte) error {
	return d.b.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			v := tx.Bucket(bucketEnv).Get(join(q[:], k[:8]))
			if len(v) < 16 || !bytes.Equal(v[:16], k[:]) {
				continue
			}
			if err := removeOne(tx, q, bytes.Clone(k[:8])); err != nil {
				return err
			}
		}
		return nil
	})
}

// removeOne deletes the envelope q/seq and its index entries, and takes it
// off its grant's, its queue's and the total counts.
func removeOne(tx *bolt.Tx, q queueID, sb []byte) error {
	envB := tx.Bucket(bucketEnv)
	ek := join(q[:], sb)
	v := envB.Get(ek)
	if len(v) < envHeadSize+1+16 {
		return envB.Delete(ek)
	}
	// Copies: the value lives in the transaction's pages, which the
	// deletes below may change.
	tag, ms := bytes.Clone(v[16:48]), bytes.Clone(v[48:56])
	id := bytes.Clone(v[envHeadSize+1 : envHeadSize+1+16])
	size := int64(len(v) - envHeadSize)
	for _, p := range []struct {
		b *bolt.Bucket
		k []byte
	}{
		{tx.Bucket(bucketIDs), join(q[:], id)},
		{tx.Bucket(bucketExpiry), join(ms, q[:], sb)},
	} {
		if err := p.b.Delete(p.k); err != nil {
			return err
		}
	}
	grants, queues, meta := tx.Bucket(bucketGrants), tx.Bucket(bucketQueues), tx.Bucket(bucketMeta)
	if g, ok := parseGrant(grants.Get(tag)); ok && g.queue == q {
		g.n, g.bytes = max(g.n-1, 0), max(g.bytes-size, 0)
		var err error
		if g.state == grantRevoked && g.n == 0 {
			err = grants.Delete(tag)
		} else {
			err = grants.Put(tag, g.encode())
		}
		if err != nil {
			return err
		}
	}
	qc := parseCounts(queues.Get(q[:]))
	qc.n, qc.bytes = max(qc.n-1, 0), max(qc.bytes-size, 0)
	total := parseCounts(meta.Get(totalKey))
	total.n, total.bytes = max(total.n-1, 0), max(total.bytes-size, 0)
	if err := queues.Put(q[:], qc.encode()); err != nil {
		return err
	}
	if err := meta.Put(totalKey, total.encode()); err != nil {
		return err
	}
	return envB.Delete(ek)
}

// purgeBatch bounds one purge transaction.
const purgeBatch = 4096

// purge deletes every envelope received at or before cutoff, oldest first,
// and returns how many it deleted.
func (d *db) purge(cutoff time.Time) (int, error) {
	limit := uint64(max(cutoff.UnixMilli(), 0))
	total := 0
	for {
		var due [][]byte
		err := d.b.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketExpiry).Cursor()
			for k, _ := c.First(); k != nil && len(due) < purgeBatch; k, _ = c.Next() {
				if len(k) != 8+16+8 || binary.BigEndian.Uint64(k) > limit {
					break
				}
				due = append(due, bytes.Clone(k))
			}
			return nil
		})
		if err != nil || len(due) == 0 {
			return total, err
		}
		err = d.b.Update(func(tx *bolt.Tx) error {
			for _, k := range due {
				var q queueID
				copy(q[:], k[8:])
				if err := removeOne(tx, q, k[24:]); err != nil {
					return err
				}
				// An entry whose envelope is gone (never, but a torn
				// index must not make the purge loop forever).
				if err := tx.Bucket(bucketExpiry).Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(due)
		if len(due) < purgeBatch {
			return total, nil
		}
	}
}

// status returns q's counts and the mailbox's total.
func (d *db) status(q queueID) (queue, total counts, err error) {
	err = d.b.View(func(tx *bolt.Tx) error {
		queue = parseCounts(tx.Bucket(bucketQueues).Get(q[:]))
		total = parseCounts(tx.Bucket(bucketMeta).Get(totalKey))
		return nil
	})
	return queue, total, err
}
