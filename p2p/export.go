package p2p

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/keystore"
	"github.com/securechat/securechat/p2p/store"
)

// This file holds what `securechat passwd`, `export` and `import` do to a
// home while no node runs on it. The caller keeps other processes off the
// home (the command's lock file); the store's own file lock backs that up.

// ErrNoIdentity is returned by [OpenHome] when the home holds no key file.
var ErrNoIdentity = errors.New("p2p: no identity in this home")

// ErrIdentityExists is returned by [Import] when the home already holds a
// key file or a store: an import never replaces an identity.
var ErrIdentityExists = errors.New("p2p: the home already holds an identity")

// A HomeIdentity is a home's unlocked key file, for maintenance while no
// node runs on it. Call Close to wipe the secrets it holds.
type HomeIdentity struct {
	home   string
	kf     *e2e.KeyFile
	peerID string
}

// OpenHome unlocks the key file in home with passphrase. A wrong passphrase
// or a damaged key file gives an error wrapping [e2e.ErrPassphrase], a home
// without a key file [ErrNoIdentity].
func OpenHome(home string, passphrase []byte) (*HomeIdentity, error) {
	path := filepath.Join(home, keyFileName)
	if ok, err := keystore.Exists(path); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoIdentity, home)
	}
	kf, err := keystore.Load(path, passphrase)
	if err != nil {
		return nil, err
	}
	id, err := hostPeerID(kf.HostKey)
	if err != nil {
		return nil, err
	}
	return &HomeIdentity{home: home, kf: kf, peerID: id}, nil
}

// hostPeerID is the peer ID of a marshalled host key.
func hostPeerID(raw []byte) (string, error) {
	hk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return "", fmt.Errorf("key file: host key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(hk)
	if err != nil {
		return "", fmt.Errorf("key file: host key: %w", err)
	}
	return id.String(), nil
}

// PeerID is the libp2p peer ID of the home's host key.
func (h *HomeIdentity) PeerID() string { return h.peerID }

// Fingerprint is the fingerprint of the home's RSA identity.
func (h *HomeIdentity) Fingerprint() e2e.Fingerprint { return h.kf.Identity.Fingerprint() }

// ChangePassphrase rewrites the key file under newPassphrase, atomically
// ([keystore.Replace]). The secrets do not change: the store is sealed under
// the storage key inside the key file, not under the passphrase, so it needs
// no rewriting, and the peer ID and fingerprint stay the same. Resumption
// tickets are removed first (resume.go): whoever had the old passphrase
// and a copy of the store gets no resumption out of it afterwards.
func (h *HomeIdentity) ChangePassphrase(newPassphrase []byte) error {
	if err := h.clearTickets(); err != nil {
		return err
	}
	return keystore.Replace(filepath.Join(h.home, keyFileName), newPassphrase, h.kf)
}

// clearTickets removes every resumption ticket from the home's store, if
// it has one.
func (h *HomeIdentity) clearTickets() error {
	path := filepath.Join(h.home, storeName)
	if ok, err := keystore.Exists(path); err != nil || !ok {
		return err
	}
	st, err := openStore(h.home, h.kf.StorageKey)
	if err != nil {
		return err
	}
	if err := st.ClearTickets(); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// Export returns the identity and every contact (pins, trust levels, blocks,
// names, addresses) sealed under backupPassphrase as an [e2e.Backup] file.
// The history and the outbox stay behind. It also reports how many contacts
// went in.
func (h *HomeIdentity) Export(backupPassphrase []byte) ([]byte, int, error) {
	contacts, err := h.contacts()
	if err != nil {
		return nil, 0, err
	}
	b := &e2e.Backup{Keys: h.kf, Records: make([][]byte, 0, len(contacts))}
	for _, c := range contacts {
		r, err := store.MarshalContact(c)
		if err != nil {
			return nil, 0, fmt.Errorf("export contact %s: %w", c.PeerID, err)
		}
		b.Records = append(b.Records, r)
	}
	data, err := b.Seal(backupPassphrase)
	if err != nil {
		return nil, 0, err
	}
	return data, len(contacts), nil
}

// contacts reads the contacts from the home's store, or none if the home has
// no store yet. A damaged record fails the export rather than leaving a
// contact (a pin, a block) silently behind.
func (h *HomeIdentity) contacts() ([]store.Contact, error) {
	path := filepath.Join(h.home, storeName)
	if ok, err := keystore.Exists(path); err != nil || !ok {
		return nil, err
	}
	st, err := openStore(h.home, h.kf.StorageKey)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	cs, err := st.Contacts()
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// Close wipes the storage key; the RSA and host keys are left to the
// garbage collector, as everywhere else.
func (h *HomeIdentity) Close() {
	clear(h.kf.StorageKey[:])
	clear(h.kf.HostKey)
}

// Imported describes what [Import] restored.
type Imported struct {
	PeerID      string
	Fingerprint e2e.Fingerprint
	Contacts    int
}

// Import restores a backup made by [HomeIdentity.Export] into home, which
// must hold no key file and no store ([ErrIdentityExists]); it is created
// 0700 if missing. The backup opens with backupPassphrase (a wrong one, or a
// damaged file, wraps [e2e.ErrBackupPassphrase]); the new key file is sealed
// under passphrase. The store is written first and the key file last, so a
// failure part way leaves no identity behind (the store it made is removed).
func Import(home string, backup, backupPassphrase, passphrase []byte) (Imported, error) {
	keyPath, storePath := filepath.Join(home, keyFileName), filepath.Join(home, storeName)
	for _, p := range []string{keyPath, storePath} {
		if ok, err := keystore.Exists(p); err != nil {
			return Imported{}, err
		} else if ok {
			return Imported{}, fmt.Errorf("%w: %s exists", ErrIdentityExists, p)
		}
	}
	b, err := e2e.OpenBackup(backup, backupPassphrase)
	if err != nil {
		return Imported{}, err
	}
	defer clear(b.Keys.StorageKey[:])
	peerID, err := hostPeerID(b.Keys.HostKey)
	if err != nil {
		return Imported{}, fmt.Errorf("%w: %v", e2e.ErrBackupPassphrase, err)
	}
	contacts := make([]store.Contact, 0, len(b.Records))
	for i, r := range b.Records {
		c, err := store.UnmarshalContact(r)
		if err != nil {
			return Imported{}, fmt.Errorf("%w: contact %d: %v", e2e.ErrBackupPassphrase, i, err)
		}
		contacts = append(contacts, c)
	}
	if err := os.MkdirAll(home, keystore.DirMode); err != nil {
		return Imported{}, fmt.Errorf("create home: %w", err)
	}
	if err := writeContacts(home, b.Keys.StorageKey, contacts); err != nil {
		os.Remove(storePath)
		return Imported{}, err
	}
	if err := keystore.Create(keyPath, passphrase, b.Keys); err != nil {
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, keystore.ErrExists) {
			os.Remove(storePath)
		}
		return Imported{}, err
	}
	return Imported{PeerID: peerID, Fingerprint: b.Keys.Identity.Fingerprint(), Contacts: len(contacts)}, nil
}

// writeContacts creates the store in home and puts every contact in it.
func writeContacts(home string, key [32]byte, contacts []store.Contact) error {
	st, err := openStore(home, key)
	if err != nil {
		return err
	}
	for _, c := range contacts {
		if err := st.PutContact(c); err != nil {
			st.Close()
			return fmt.Errorf("import contact %s: %w", c.PeerID, err)
		}
	}
	return st.Close()
}
