package store

import (
	"errors"
	"slices"
	"strings"
	"sync"
)

// kv is the raw storage below the sealing layer: named buckets mapping byte
// keys to byte values, read in view transactions and written in update
// transactions. It knows nothing of sealing, records or schema, so each
// backend stays a thin adapter and the security logic exists once, in
// [sealedStore].
type kv interface {
	// view runs fn in a read-only transaction.
	view(fn func(kvTx) error) error
	// update runs fn in a read-write transaction: if fn returns an error
	// (or panics), none of its writes take effect.
	update(fn func(kvTx) error) error
	// batch is update for the message path: the backend may commit fn
	// together with concurrent batch calls in one transaction (one fsync
	// for all; groupcommit.go). fn may then run more than once, so it
	// must set its results from what it reads, never accumulate them.
	batch(fn func(kvTx) error) error
	// close releases the storage; later transactions fail with ErrClosed.
	close() error
}

// kvTx is one transaction. Slices it returns are valid only until the
// transaction ends and must not be modified. put takes ownership of value:
// the caller must never modify it again (bbolt keeps referring to it until
// the commit, the memory backend keeps it for good). Every caller passes a
// freshly sealed value, so neither backend copies it.
type kvTx interface {
	// get returns nil if the key is absent.
	get(bucket, key []byte) ([]byte, error)
	put(bucket, key, value []byte) error
	// delete of an absent key is not an error.
	delete(bucket, key []byte) error
	// forEach visits every pair in the bucket, in no promised order. fn
	// must not write to the same bucket: collect first, then write.
	forEach(bucket []byte, fn func(key, value []byte) error) error
	// scan visits the pairs whose key starts with prefix and is >= start,
	// in ascending key order, until fn returns errStop (which scan turns
	// into nil) or another error. fn must not write to the bucket.
	scan(bucket, prefix, start []byte, fn func(key, value []byte) error) error
	hasBucket(bucket []byte) bool
	// createBucket is a no-op if the bucket exists.
	createBucket(bucket []byte) error
}

// errNoBucket means a bucket the schema promises is missing: the store was
// damaged or edited by hand.
var errNoBucket = errors.New("store: bucket missing")

// errStop ends a scan early without an error.
var errStop = errors.New("store: stop scan")

// memKV is the --ephemeral backend: maps in memory, nothing on disk. One
// RWMutex serialises writers against everything, which matches bbolt's
// single-writer model and is plenty for a chat client.
type memKV struct {
	mu      sync.RWMutex
	buckets map[string]map[string][]byte // nil once closed
}

func newMemKV() *memKV {
	return &memKV{buckets: make(map[string]map[string][]byte)}
}

func (m *memKV) view(fn func(kvTx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.buckets == nil {
		return ErrClosed
	}
	return fn(&memTx{m: m})
}

func (m *memKV) update(fn func(kvTx) error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		return ErrClosed
	}
	// Room for the undo entries of a typical update (a message and its
	// index entries), so the log does not grow write by write.
	tx := &memTx{m: m, writable: true, log: make([]undo, 0, 8)}
	// Writes go straight into the maps and leave an undo log; on error or
	// panic the log is replayed backwards, so a failed update leaves the
	// maps as they were, like a bbolt rollback.
	committed := false
	defer func() {
		if !committed {
			tx.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	return nil
}

// batch is update: the memory backend has no commit to share.
func (m *memKV) batch(fn func(kvTx) error) error { return m.update(fn) }

func (m *memKV) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buckets = nil
	return nil
}

// undo restores one bucket entry (or removes a bucket the transaction
// created, when isBucket is set) to its state before a write.
type undo struct {
	bucket, key string
	value       []byte
	existed     bool
	isBucket    bool
}

type memTx struct {
	m        *memKV
	writable bool
	log      []undo
}

var errReadOnly = errors.New("store: write in a read-only transaction")

func (t *memTx) bucket(name []byte) (map[string][]byte, error) {
	b, ok := t.m.buckets[string(name)]
	if !ok {
		return nil, errNoBucket
	}
	return b, nil
}

func (t *memTx) get(bucket, key []byte) ([]byte, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil, err
	}
	return b[string(key)], nil
}

func (t *memTx) put(bucket, key, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	k := string(key)
	old, existed := b[k]
	t.log = append(t.log, undo{bucket: string(bucket), key: k, value: old, existed: existed})
	// No copy: put owns value (see kvTx).
	b[k] = value
	return nil
}

func (t *memTx) delete(bucket, key []byte) error {
	if !t.writable {
		return errReadOnly
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if old, ok := b[string(key)]; ok {
		t.log = append(t.log, undo{bucket: string(bucket), key: string(key), value: old, existed: true})
		delete(b, string(key))
	}
	return nil
}

func (t *memTx) forEach(bucket []byte, fn func(key, value []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	// Map order is fine: the sealed layer sorts by decoded content, since
	// HMAC record keys carry no useful order anyway.
	for k, v := range b {
		if err := fn([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (t *memTx) scan(bucket, prefix, start []byte, fn func(key, value []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	var keys []string
	for k := range b {
		if strings.HasPrefix(k, string(prefix)) && k >= string(start) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), b[k]); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t *memTx) hasBucket(bucket []byte) bool {
	_, ok := t.m.buckets[string(bucket)]
	return ok
}

func (t *memTx) createBucket(bucket []byte) error {
	if !t.writable {
		return errReadOnly
	}
	if len(bucket) == 0 {
		return errors.New("store: empty bucket name")
	}
	if t.hasBucket(bucket) {
		return nil
	}
	t.m.buckets[string(bucket)] = make(map[string][]byte)
	t.log = append(t.log, undo{bucket: string(bucket), isBucket: true})
	return nil
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		switch {
		case u.isBucket:
			delete(t.m.buckets, u.bucket)
		case u.existed:
			t.m.buckets[u.bucket][u.key] = u.value
		default:
			delete(t.m.buckets[u.bucket], u.key)
		}
	}
	t.log = nil
}
