package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/keystore"
	"github.com/securechat/securechat/p2p/store"
)

// File names inside Config.Home.
const (
	keyFileName = "identity.key"
	storeName   = "store.db"
)

// ErrNoPassphrase is returned by [New] when a persistent node has no
// passphrase: an empty passphrase is refused.
var ErrNoPassphrase = errors.New("p2p: a passphrase is required")

// loadKeys unlocks the key file in cfg.Home, creating it on first start, or
// makes fresh keys in memory for an ephemeral node. newIdentity makes the
// RSA identity of fresh keys.
func loadKeys(cfg Config, newIdentity func() (*e2e.Identity, error)) (nodeKeys, error) {
	if cfg.Ephemeral {
		return freshKeys(newIdentity)
	}
	if cfg.Home == "" {
		return nodeKeys{}, errors.New("p2p: no home directory")
	}
	if len(cfg.Passphrase) == 0 {
		return nodeKeys{}, ErrNoPassphrase
	}
	if err := os.MkdirAll(cfg.Home, keystore.DirMode); err != nil {
		return nodeKeys{}, fmt.Errorf("create home: %w", err)
	}
	path := filepath.Join(cfg.Home, keyFileName)
	exists, err := keystore.Exists(path)
	if err != nil {
		return nodeKeys{}, err
	}
	if exists {
		kf, err := keystore.Load(path, cfg.Passphrase)
		if err != nil {
			return nodeKeys{}, err
		}
		hk, err := crypto.UnmarshalPrivateKey(kf.HostKey)
		if err != nil {
			return nodeKeys{}, fmt.Errorf("key file: host key: %w", err)
		}
		return nodeKeys{host: hk, id: kf.Identity, storage: kf.StorageKey}, nil
	}
	keys, err := freshKeys(newIdentity)
	if err != nil {
		return nodeKeys{}, err
	}
	raw, err := crypto.MarshalPrivateKey(keys.host)
	if err != nil {
		return nodeKeys{}, fmt.Errorf("marshal host key: %w", err)
	}
	kf := &e2e.KeyFile{HostKey: raw, Identity: keys.id, StorageKey: keys.storage}
	if err := keystore.Create(path, cfg.Passphrase, kf); err != nil {
		return nodeKeys{}, err
	}
	return keys, nil
}

// freshKeys makes a new host key, RSA identity (with newIdentity) and
// storage key.
func freshKeys(newIdentity func() (*e2e.Identity, error)) (nodeKeys, error) {
	raw, err := keystore.GenerateHostKey()
	if err != nil {
		return nodeKeys{}, err
	}
	hk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nodeKeys{}, fmt.Errorf("host key: %w", err)
	}
	id, err := newIdentity()
	if err != nil {
		return nodeKeys{}, fmt.Errorf("generate identity: %w", err)
	}
	k := nodeKeys{host: hk, id: id}
	if _, err := rand.Read(k.storage[:]); err != nil {
		return nodeKeys{}, err
	}
	return k, nil
}

// openStore opens the store file in home.
func openStore(home string, key [32]byte) (store.Store, error) {
	st, err := store.Open(filepath.Join(home, storeName), key)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}
