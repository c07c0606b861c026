package p2p

import (
	"slices"
	"sync"
	"time"

	"github.com/securechat/securechat/p2p/store"
)

// contactCacheTTL bounds how long the cached contact list is used without a
// write through the node: a store method added later that changes contacts
// behind the cache's back is then seen within it.
const contactCacheTTL = time.Minute

// contactCache is the node's store with its contacts' list kept decrypted
// in memory for the code that reads it on every wake-up or stream (the
// redialer, handshake admission, name checks): reading the list costs one
// decryption per contact. Every contact write through it (PutContact,
// DeleteContact, Forget) drops the list; the next read loads it again.
type contactCache struct {
	store.Store

	mu     sync.Mutex
	gen    uint64 // bumped by every write
	list   []store.Contact
	byID   map[string]int
	loaded time.Time
}

func newContactCache(st store.Store) *contactCache { return &contactCache{Store: st} }

// PutContact writes c and drops the cached list.
func (cc *contactCache) PutContact(c store.Contact) error {
	err := cc.Store.PutContact(c)
	cc.invalidate()
	return err
}

// DeleteContact deletes the contact and drops the cached list.
func (cc *contactCache) DeleteContact(peerID string) error {
	err := cc.Store.DeleteContact(peerID)
	cc.invalidate()
	return err
}

// Forget deletes everything kept about the peer and drops the cached list.
func (cc *contactCache) Forget(peerID string, keep *store.Contact) error {
	err := cc.Store.Forget(peerID, keep)
	cc.invalidate()
	return err
}

func (cc *contactCache) invalidate() {
	cc.mu.Lock()
	cc.gen++
	cc.list, cc.byID = nil, nil
	cc.mu.Unlock()
}

// snapshot returns the contacts, sorted by peer ID, and an index by peer
// ID. Both are shared: callers only read them (a Contact's slices
// included).
func (cc *contactCache) snapshot() ([]store.Contact, map[string]int, error) {
	cc.mu.Lock()
	if cc.byID != nil && time.Since(cc.loaded) < contactCacheTTL {
		list, byID := cc.list, cc.byID
		cc.mu.Unlock()
		return list, byID, nil
	}
	gen := cc.gen
	cc.mu.Unlock()
	list, err := cc.Store.Contacts()
	if err != nil && len(list) == 0 {
		return nil, nil, err
	}
	list = slices.Clip(list)
	byID := make(map[string]int, len(list))
	for i, c := range list {
		byID[c.PeerID] = i
	}
	cc.mu.Lock()
	if cc.gen == gen && err == nil {
		// Only a list no write overtook is kept.
		cc.list, cc.byID, cc.loaded = list, byID, time.Now()
	}
	cc.mu.Unlock()
	return list, byID, err
}

// contactFor returns the cached contact with the given peer ID.
func (cc *contactCache) contactFor(peerID string) (store.Contact, bool) {
	list, byID, err := cc.snapshot()
	if err != nil && byID == nil {
		return store.Contact{}, false
	}
	i, ok := byID[peerID]
	if !ok {
		return store.Contact{}, false
	}
	return list[i], true
}
