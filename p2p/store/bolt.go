package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// lockTimeout bounds how long Open waits for bbolt's file lock. Without it a
// second securechat on the same home directory would hang forever; with it,
// it fails with [ErrInUse] after a second.
const lockTimeout = time.Second

// fileMode keeps the store readable by its owner only. The values are sealed,
// but record counts, sizes and times are still the user's business.
const fileMode = 0o600

// Open opens the bbolt store at path, creating it (mode 0600) if it does not
// exist; the directory must exist. key is the 32-byte storage key from the
// key file. Open fails with [ErrWrongKey] if key does not open the store,
// with [ErrSchemaTooNew] if a newer securechat wrote it, and with [ErrInUse]
// if another process has it open. An older schema is migrated in place, in
// one transaction.
func Open(path string, key [32]byte) (Store, error) {
	s, err := openBolt(path, key, lockTimeout, currentSchema)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openBolt is Open with the lock timeout and the schema as parameters, so
// tests can exercise migrations and lock contention quickly.
func openBolt(path string, key [32]byte, timeout time.Duration, sch schema) (*sealedStore, error) {
	// The freelist is not written with each commit (a busy store's freelist
	// is pages of its own on every fsync); bbolt rebuilds it from the
	// pages at Open instead. A hash map freelist allocates in O(1).
	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: timeout,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s, err := newSealedStore(&boltKV{db: db}, key, sch)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.lazy.on = true // every commit is an fsync (lazy.go)
	return s, nil
}

// boltKV adapts a bbolt database to [kv]. Each update is one bbolt Update
// transaction: bbolt commits it with a single fsynced meta page write, so a
// crash leaves either all of it or none.
type boltKV struct {
	db *bolt.DB
	// commits counts the update transactions that committed (each an
	// fsync), so tests and benchmarks can see which calls write.
	commits atomic.Uint64
	group   groupCommit // batch's writers (groupcommit.go)
}

func (b *boltKV) view(fn func(kvTx) error) error {
	return boltErr(b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) }))
}

func (b *boltKV) update(fn func(kvTx) error) error {
	err := b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
	if err == nil {
		b.commits.Add(1)
	}
	return boltErr(err)
}

func (b *boltKV) close() error { return b.db.Close() }

// boltErr turns bbolt's "not open" into the package's ErrClosed, so both
// backends fail alike after Close.
func boltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

type boltTx struct {
	tx *bolt.Tx
}

func (t boltTx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.tx.Bucket(name)
	if b == nil {
		return nil, errNoBucket
	}
	return b, nil
}

func (t boltTx) get(bucket, key []byte) ([]byte, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil, err
	}
	return b.Get(key), nil
}

func (t boltTx) put(bucket, key, value []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

func (t boltTx) delete(bucket, key []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Delete(key)
}

func (t boltTx) forEach(bucket []byte, fn func(key, value []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	// A nested bucket shows up with a nil value; the schema has none, and
	// a nil value fails to open like any other damaged record.
	return b.ForEach(fn)
}

func (t boltTx) scan(bucket, prefix, start []byte, fn func(key, value []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if bytes.Compare(start, prefix) < 0 {
		start = prefix
	}
	c := b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t boltTx) hasBucket(bucket []byte) bool { return t.tx.Bucket(bucket) != nil }

func (t boltTx) createBucket(bucket []byte) error {
	_, err := t.tx.CreateBucketIfNotExists(bucket)
	return err
}

// Commits returns how many write transactions the bbolt store s has
// committed since it was opened (each ends in an fsync), and false for a
// store without a file. The benchmarks count fsyncs per message with it.
func Commits(s Store) (uint64, bool) {
	ss, ok := s.(*sealedStore)
	if !ok {
		return 0, false
	}
	b, ok := ss.kv.(*boltKV)
	if !ok {
		return 0, false
	}
	return b.commits.Load(), true
}
