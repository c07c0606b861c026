package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bucket names. They are stored in plaintext (bbolt needs them), so they
// say only what kind of records a bucket holds.
var (
	bucketMeta     = []byte("meta")
	bucketContacts = []byte("contacts")
	bucketOutbox   = []byte("outbox")
	bucketHistory  = []byte("history")
	bucketIDs      = []byte("ids")
	bucketRecv     = []byte("received")
)

// metaSchemaKey is the meta record holding the sealed schema version. Open
// reads it first: it is what tells a wrong storage key from a right one.
var metaSchemaKey = []byte("schema")

// schemaVersion is the record layout this code reads and writes.
//
// Version 1: bucket "contacts", record key HMAC(index key, peer ID), value
// sealed contact encoding v1 ([decodeContactV1]).
//
// Version 2 adds the message buckets "outbox", "history" and "ids" (see
// messages.go for their keys) and the meta record "seq"; values are sealed
// message encoding v1 (history and outbox: a full copy of the message with
// its delivery state) and ids entry v1 (from me, seq). Migration from 1:
// [migrateV1].
//
// Version 3 writes each message once and keeps its delivery state apart
// from its text, so that a receipt rewrites 11 bytes instead of the whole
// message:
//
//	history  message encoding v2 ([appendMessage]): peer ID, message ID,
//	         from me, seq, sent at, text; no state
//	ids      ids entry v2 ([encodeIDEntry]): from me, state, seq; the one
//	         place the delivery state is kept (incoming: always delivered)
//	outbox   pointer ([encodeOutboxPointer]): peer ID and message ID of the
//	         history record at the same seq
//
// Record keys, the sealing and the meta records are unchanged. Migration
// from 2: [migrateV2].
//
// Version 4 keeps the peer's public identity in its contact, so that the
// safety number can be shown while the peer is offline:
//
//	contacts  contact encoding v2 ([encodeContact]): v1 plus a final vec16
//	          identity ([EncodePublicIdentity]), empty until the peer's
//	          first session with the pinned key
//
// Everything else is unchanged. Migration from 3: [migrateV3] (every
// contact rewritten as v2 with the identity empty).
//
// Version 5 bounds the dedupe set and binds the trust records together:
//
//	received  per peer, a ring of the last messages received from it (see
//	          received.go): HMAC(received, peer ID) -> u64 count;
//	          HMAC(received, peer ID) || u64 slot -> received entry v1
//	          ([encodeRecvEntry]: message ID, seq). Past
//	          [maxReceivedPerPeer] messages the oldest received message
//	          leaves history, ids and the ring.
//	meta      "trust": the trust digest over every contacts record
//	          (trust.go), kept in step by every contact write and checked
//	          by Open.
//
// Migration from 4: [migrateV4] (the index built from history, older
// received messages beyond the bound dropped); the trust digest is computed
// by Open after the migrations, like on every upgrade from then on.
//
// Version 6 keeps the user's own label for a contact and the node's own
// name:
//
//	contacts  contact encoding v3 ([encodeContact]): v2 plus a final vec16
//	          label, empty when the user gave none
//	meta      "name": the node's own nickname ([Store.SetOwnName]), absent
//	          until one is saved
//
// Migration from 5: [migrateV5] (every contact rewritten as v3 with the
// label empty; the trust digest is computed afresh by Open).
//
// Version 7 adds offline delivery, resumption and files, each in buckets
// of its own (sealed values under HMAC keys, described where they are
// written), and one delivery state:
//
//	mailbox   the owner's prekeys, capabilities and opened envelope IDs,
//	          and a contact's mailbox info and prekeys (mailbox.go)
//	tickets   resumption tickets held, one per peer (tickets.go)
//	issued    resumption tickets this node issued and not yet seen used
//	files     file transfers: offers, progress and where a partial file
//	          is (files.go)
//	ids       delivery state 4, deposited ([StateDeposited]): a message
//	          stored by its peer's mailbox, still in the outbox
//	received  the ring holds 16384 messages per peer (was 4096); a ring of
//	          4096 carries on as it is, since 16384 is a multiple of it
//
// Migration from 6: [migrateV6], which has nothing to rewrite (Open
// creates the new buckets before migrations run); the bump keeps an older
// securechat, which would refuse a deposited state as corrupt, from
// opening the store at all with a clear error.
const schemaVersion = 7

// A migration upgrades the store's records from one schema version to the
// next. It runs inside Open's single update transaction, together with every
// other migration and the version bump, so a crash midway leaves the old
// version whole.
type migration func(tx sealedTx) error

// A schema is what Open makes the store conform to.
type schema struct {
	version uint32
	// buckets lists the record buckets besides meta. Adding one (issue 4:
	// outbox, history) is one line here; Open creates missing buckets.
	buckets [][]byte
	// migrations[n] upgrades version n to n+1.
	migrations map[uint32]migration
}

// currentSchema is the schema Open and OpenMemory use.
var currentSchema = schema{
	version: schemaVersion,
	buckets: [][]byte{bucketContacts, bucketOutbox, bucketHistory, bucketIDs, bucketRecv,
		bucketMailbox, bucketTickets, bucketIssued, bucketFiles},
	migrations: map[uint32]migration{1: migrateV1, 2: migrateV2, 3: migrateV3, 4: migrateV4, 5: migrateV5, 6: migrateV6},
}

// errNoMeta means a store has record buckets but no schema record: it was
// damaged, or is not a securechat store.
var errNoMeta = errors.New("store: schema record missing")

// initSchema brings a store to sch: a new, empty store gets its buckets and
// schema record; an older one is migrated; a newer one is refused.
func initSchema(tx sealedTx, sch schema) error {
	if !tx.hasBucket(bucketMeta) {
		// Only a store with no buckets at all is new. Record buckets
		// without meta mean damage, and starting afresh over them
		// would silently orphan the user's data.
		for _, b := range sch.buckets {
			if tx.hasBucket(b) {
				return errNoMeta
			}
		}
		if err := tx.createBucket(bucketMeta); err != nil {
			return err
		}
		if err := createBuckets(tx, sch); err != nil {
			return err
		}
		if err := tx.resetTrustDigest(); err != nil {
			return err
		}
		return putVersion(tx, sch.version)
	}

	v, err := getVersion(tx)
	if err != nil {
		return err
	}
	if v > sch.version {
		return fmt.Errorf("%w (store schema %d, this securechat knows %d)", ErrSchemaTooNew, v, sch.version)
	}
	// The trust records are checked before anything is migrated, so a
	// migration never launders a removed pin into a fresh digest.
	if v >= trustSchemaVersion {
		if err := tx.checkTrust(); err != nil {
			return err
		}
	}
	// Buckets are created before migrations run, so a migration may fill
	// a bucket that its version introduced.
	if err := createBuckets(tx, sch); err != nil {
		return err
	}
	if v == sch.version {
		return nil
	}
	for ; v < sch.version; v++ {
		m, ok := sch.migrations[v]
		if !ok {
			return fmt.Errorf("store: no migration from schema %d to %d", v, v+1)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("migrate store schema %d to %d: %w", v, v+1, err)
		}
	}
	// Migrations may rewrite contacts; the digest covers what they left.
	if err := tx.resetTrustDigest(); err != nil {
		return err
	}
	return putVersion(tx, sch.version)
}

func createBuckets(tx sealedTx, sch schema) error {
	for _, b := range sch.buckets {
		if err := tx.createBucket(b); err != nil {
			return err
		}
	}
	return nil
}

func getVersion(tx sealedTx) (uint32, error) {
	raw, err := tx.get(bucketMeta, metaSchemaKey)
	if err != nil {
		return 0, err
	}
	if raw == nil {
		return 0, errNoMeta
	}
	pt, err := tx.s.open(bucketMeta, metaSchemaKey, raw)
	if err != nil {
		// The first record read decides whether the key is right. A
		// damaged meta record looks the same, and says so in the error.
		return 0, ErrWrongKey
	}
	if len(pt) != 4 {
		return 0, fmt.Errorf("%w: schema record", ErrCorrupt)
	}
	v := binary.BigEndian.Uint32(pt)
	if v == 0 {
		return 0, fmt.Errorf("%w: schema version 0", ErrCorrupt)
	}
	return v, nil
}

func putVersion(tx sealedTx, v uint32) error {
	return tx.putSealed(bucketMeta, metaSchemaKey, binary.BigEndian.AppendUint32(nil, v))
}

// sealedTx is a kv transaction plus the sealer: what schema code and
// migrations work with. Raw get/put stay reachable for code that must move
// records without opening them.
type sealedTx struct {
	kvTx
	s *sealer
	// trust is nil at a schema older than trustSchemaVersion; see
	// [trustMAC].
	trust *trustMAC
}

// getSealed returns the opened value stored under key, or ok false if there
// is none. A value that fails to open is ErrCorrupt.
func (t sealedTx) getSealed(bucket, key []byte) (pt []byte, ok bool, err error) {
	raw, err := t.get(bucket, key)
	if err != nil || raw == nil {
		return nil, false, err
	}
	pt, err = t.s.open(bucket, key, raw)
	if err != nil {
		return nil, false, err
	}
	return pt, true, nil
}

// putSealed seals plaintext for its place (bucket, key) and stores it.
func (t sealedTx) putSealed(bucket, key, plaintext []byte) error {
	return t.put(bucket, key, t.s.seal(bucket, key, plaintext))
}
