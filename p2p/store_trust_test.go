package p2p

import (
	"errors"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p/store"
	bolt "go.etcd.io/bbolt"
)

// TestStoreTrustChangedStopsStart: a contact record deleted from the store
// file (a block the attacker wants gone) reaches openStore's caller (New) as
// store.ErrTrustChanged, so the node refuses to start instead of running
// without the block.
func TestStoreTrustChangedStopsStart(t *testing.T) {
	home := t.TempDir()
	var key [32]byte
	key[0] = 7
	st, err := openStore(home, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Contact{{PeerID: "a", Trust: store.TrustPinned, Blocked: true}, {PeerID: "b", Trust: store.TrustVerified}} {
		if err := st.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	db, err := bolt.Open(home+"/"+storeName, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("contacts")).Cursor()
		k, _ := c.First()
		return c.Bucket().Delete(k)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := openStore(home, key); !errors.Is(err, store.ErrTrustChanged) {
		if err == nil {
			st.Close()
		}
		t.Fatalf("openStore = %v, want store.ErrTrustChanged", err)
	}
}
