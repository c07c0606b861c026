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

// deposit stores env under cp, received at now. It returns whether the
// envelope was new (false: an envelope with its ID is already in the
// owner's queue, and nothing changed). The transaction commits with an
// fsync before deposit returns.
func (d *db) deposit(cp Capability, env []byte, now time.Time, qs quotas) (queueID, bool, error) {
	tag := cp.Tag()
	id, _, err := e2e.EnvelopeHeader(env)
	if err != nil {
		return queueID{}, false, ErrProtocol
	}
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return queueID{}, false, err
	}
	var q queueID
	fresh := false
	err = d.b.Update(func(tx *bolt.Tx) error {
		grants := tx.Bucket(bucketGrants)
		g, ok := parseGrant(grants.Get(tag[:]))
		if !ok || g.state != grantActive {
			return ErrCapability
		}
		q = g.queue
		ids := tx.Bucket(bucketIDs)
		if ids.Get(join(q[:], id[:])) != nil {
			return nil // idempotent: already held
		}
		meta, queues := tx.Bucket(bucketMeta), tx.Bucket(bucketQueues)
		total, qc := parseCounts(meta.Get(totalKey)), parseCounts(queues.Get(q[:]))
		size := int64(len(env))
		if g.n+1 > qs.capEnvelopes || g.bytes+size > qs.capBytes ||
			total.n+1 > qs.totalEnvelopes || total.bytes+size > qs.totalBytes {
			return ErrQuota
		}
		envB := tx.Bucket(bucketEnv)
		seq, err := envB.NextSequence()
		if err != nil {
			return err
		}
		sb := seqBytes(seq)
		ms := uint64(now.UnixMilli())
		val := make([]byte, 0, envHeadSize+len(env))
		val = append(append(append(val, key[:]...), tag[:]...), binary.BigEndian.AppendUint64(nil, ms)...)
		val = append(val, env...)
		g.n, g.bytes = g.n+1, g.bytes+size
		qc.n, qc.bytes = qc.n+1, qc.bytes+size
		total.n, total.bytes = total.n+1, total.bytes+size
		for _, p := range []struct {
			b    *bolt.Bucket
			k, v []byte
		}{
			{envB, join(q[:], sb), val},
			{tx.Bucket(bucketKeys), join(q[:], key[:]), sb},
			{ids, join(q[:], id[:]), sb},
			{tx.Bucket(bucketExpiry), join(binary.BigEndian.AppendUint64(nil, ms), q[:], sb), []byte{}},
			{grants, tag[:], g.encode()},
			{queues, q[:], qc.encode()},
			{meta, totalKey, total.encode()},
		} {
			if err := p.b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		fresh = true
		return nil
	})
	return q, fresh, err
}

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
			sb := tx.Bucket(bucketKeys).Get(join(q[:], k[:]))
			if len(sb) != 8 {
				continue
			}
			if err := removeOne(tx, q, bytes.Clone(sb)); err != nil {
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
	key, tag, ms := bytes.Clone(v[:16]), bytes.Clone(v[16:48]), bytes.Clone(v[48:56])
	id := bytes.Clone(v[envHeadSize+1 : envHeadSize+1+16])
	size := int64(len(v) - envHeadSize)
	for _, p := range []struct {
		b *bolt.Bucket
		k []byte
	}{
		{tx.Bucket(bucketKeys), join(q[:], key)},
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
