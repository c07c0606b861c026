package mailbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	bolt "go.etcd.io/bbolt"
)

// The mailbox's bbolt file, Dir/mailbox.db. Every committed transaction is
// fsynced, so a deposit acknowledged after its commit is on disk. What it
// holds: envelopes (sealed by their senders), capability tags, sizes and
// times. No sender peer ID ever reaches it; owners appear only as queue
// names, an HMAC of their peer ID under a random key of this file.
//
//	meta    "version" -> u8(1)
//	        "queuekey" -> 32 random bytes
//	        "total" -> u64 count || u64 bytes
//	grants  tag (32) -> queue (16) || u8 state || u32 count || u64 bytes
//	queues  queue (16) -> u32 count || u64 bytes
//	env     queue (16) || u64 seq -> key (16) || tag (32) || u64 received ms || envelope
//	        (key = u64 seq || 8 random bytes)
//	ids     queue (16) || envelope ID (16) -> u64 seq
//	expiry  u64 received ms || queue (16) || u64 seq -> empty
//
// seq is the env bucket's sequence, so a queue's envelopes are in the
// order they arrived.
var (
	bucketMeta   = []byte("meta")
	bucketGrants = []byte("grants")
	bucketQueues = []byte("queues")
	bucketEnv    = []byte("env")
	bucketIDs    = []byte("ids")
	bucketExpiry = []byte("expiry")
	allBuckets   = [][]byte{bucketMeta, bucketGrants, bucketQueues, bucketEnv, bucketIDs, bucketExpiry}
)

const (
	dbVersion    = 1
	dbFile       = "mailbox.db"
	grantActive  = 1
	grantRevoked = 2
	grantSize    = 16 + 1 + 4 + 8
	countsSize   = 4 + 8
	envHeadSize  = 16 + 32 + 8
)

// pageSize is the store's page size, fixed when the file is made. bbolt
// keeps at least three entries apart when it splits a page, so 4 KiB pages
// hold one envelope of the common 2 KiB bucket (half wasted), 16 KiB pages
// five, 32 KiB pages thirteen: 2.7 KiB on disk per 2 KiB envelope, at the
// same deposit rate (docs/PERFORMANCE.md, "Mailbox").
const pageSize = 32 << 10

// queueID names an owner's queue on disk.
type queueID [16]byte

// db is the mailbox's storage.
type db struct {
	b        *bolt.DB
	queueKey []byte
}

// openDB opens or creates Dir/mailbox.db with a 0700 directory and a 0600
// file.
func openDB(dir string) (*db, error) {
	if dir == "" {
		return nil, errors.New("mailbox: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	path := filepath.Join(dir, dbFile)
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, PageSize: pageSize})
	if err != nil {
		return nil, fmt.Errorf("mailbox: open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	d := &db{b: b}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			if err := meta.Put([]byte("version"), []byte{dbVersion}); err != nil {
				return err
			}
		case len(v) != 1 || v[0] != dbVersion:
			return fmt.Errorf("unknown version %x", v)
		}
		if k := meta.Get([]byte("queuekey")); k != nil {
			if len(k) != 32 {
				return errors.New("bad queue key")
			}
			d.queueKey = bytes.Clone(k)
			return nil
		}
		d.queueKey = make([]byte, 32)
		if _, err := rand.Read(d.queueKey); err != nil {
			return err
		}
		return meta.Put([]byte("queuekey"), d.queueKey)
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("mailbox: open %s: %w", path, err)
	}
	return d, nil
}

func (d *db) close() error { return d.b.Close() }

// queue returns the queue name of owner.
func (d *db) queue(owner peer.ID) queueID {
	m := hmac.New(sha256.New, d.queueKey)
	m.Write([]byte("securechat-v1 mailbox queue"))
	m.Write([]byte(owner))
	var q queueID
	copy(q[:], m.Sum(nil))
	return q
}

// counts is a number of envelopes and their bytes.
type counts struct {
	n     int64
	bytes int64
}

func parseCounts(v []byte) counts {
	if len(v) != countsSize {
		return counts{}
	}
	return counts{n: int64(binary.BigEndian.Uint32(v)), bytes: int64(binary.BigEndian.Uint64(v[4:]))}
}

func (c counts) encode() []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, countsSize), uint32(c.n))
	return binary.BigEndian.AppendUint64(b, uint64(c.bytes))
}

// grant is a grants record.
type grant struct {
	queue queueID
	state byte
	counts
}

func parseGrant(v []byte) (grant, bool) {
	var g grant
	if len(v) != grantSize {
		return g, false
	}
	copy(g.queue[:], v)
	g.state = v[16]
	g.counts = parseCounts(v[17:])
	return g, g.state == grantActive || g.state == grantRevoked
}

func (g grant) encode() []byte {
	b := append(append(make([]byte, 0, grantSize), g.queue[:]...), g.state)
	return append(b, g.counts.encode()...)
}

// totalKey is the meta key of the mailbox's total counts.
var totalKey = []byte("total")

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
