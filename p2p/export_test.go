package p2p

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

var (
	exportPass = []byte("home passphrase for export tests")
	backupPass = []byte("a different backup passphrase")
)

// homeWithContacts makes a home with a key file and a store holding a
// pinned, a verified-and-named and a blocked contact.
func homeWithContacts(t *testing.T) (string, []store.Contact) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	keys, err := loadKeys(Config{Home: home, Passphrase: exportPass}, testSettings(t, "home").newIdentity)
	if err != nil {
		t.Fatal(err)
	}
	peerIdent := mustFixtureIdentity(t, "peer")
	seen := time.Date(2025, 3, 1, 12, 0, 0, 42, time.UTC)
	contacts := []store.Contact{
		{PeerID: "12D3KooWaaaa", Fingerprint: peerIdent.Fingerprint(), Identity: store.EncodePublicIdentity(peerIdent.Public()),
			Name: "alice", Trust: store.TrustVerified, Addrs: []string{"/ip4/192.0.2.1/tcp/4001"}, FirstSeen: seen, LastSeen: seen},
		{PeerID: "12D3KooWbbbb", Fingerprint: e2e.Fingerprint{1}, Name: "mallory", Trust: store.TrustPinned, Blocked: true,
			FirstSeen: seen, LastSeen: seen},
		{PeerID: "12D3KooWcccc", Fingerprint: e2e.Fingerprint{2}, Trust: store.TrustPinned, PendingFingerprint: e2e.Fingerprint{3},
			FirstSeen: seen, LastSeen: seen},
	}
	st, err := openStore(home, keys.storage)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range contacts {
		if err := st.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	return home, contacts
}

func storedContacts(t *testing.T, home string, pass []byte) []store.Contact {
	t.Helper()
	h, err := OpenHome(home, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cs, err := h.contacts()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestExportImportRoundTrip(t *testing.T) {
	home, contacts := homeWithContacts(t)
	if _, err := OpenHome(home, []byte("wrong")); !errors.Is(err, e2e.ErrPassphrase) {
		t.Fatalf("OpenHome with a wrong passphrase: %v", err)
	}
	if _, err := OpenHome(t.TempDir(), exportPass); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("OpenHome on an empty home: %v", err)
	}
	h, err := OpenHome(home, exportPass)
	if err != nil {
		t.Fatal(err)
	}
	peerID, fp := h.PeerID(), h.Fingerprint()
	data, n, err := h.Export(backupPass)
	h.Close()
	if err != nil || n != len(contacts) {
		t.Fatalf("Export: %d contacts, %v", n, err)
	}

	t.Run("wrong backup passphrase", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "new")
		if _, err := Import(target, data, []byte("wrong"), exportPass); !errors.Is(err, e2e.ErrBackupPassphrase) {
			t.Fatalf("Import: %v", err)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 0 {
			t.Errorf("a failed import left %d files", len(entries))
		}
	})

	target := filepath.Join(t.TempDir(), "new")
	newPass := []byte("passphrase of the new home")
	got, err := Import(target, data, backupPass, newPass)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if got.PeerID != peerID || got.Fingerprint != fp || got.Contacts != len(contacts) {
		t.Errorf("imported %+v, want %s %s %d", got, peerID, fp, len(contacts))
	}
	h2, err := OpenHome(target, newPass)
	if err != nil {
		t.Fatal(err)
	}
	if h2.PeerID() != peerID || h2.Fingerprint() != fp {
		t.Error("the new home has another identity")
	}
	h2.Close()
	if cs := storedContacts(t, target, newPass); !reflect.DeepEqual(cs, contacts) {
		t.Errorf("contacts after import:\n%+v\nwant\n%+v", cs, contacts)
	}

	// Never over an existing identity, the source's or the target's.
	for _, dst := range []string{home, target} {
		if _, err := Import(dst, data, backupPass, newPass); !errors.Is(err, ErrIdentityExists) {
			t.Errorf("Import into %s: %v, want ErrIdentityExists", dst, err)
		}
	}
	// A key file is not a backup.
	kf, _ := os.ReadFile(filepath.Join(home, keyFileName))
	if _, err := Import(filepath.Join(t.TempDir(), "x"), kf, exportPass, newPass); !errors.Is(err, e2e.ErrBackupPassphrase) {
		t.Errorf("key file imported as a backup: %v", err)
	}
}

func TestChangePassphrase(t *testing.T) {
	home, contacts := homeWithContacts(t)
	h, err := OpenHome(home, exportPass)
	if err != nil {
		t.Fatal(err)
	}
	peerID := h.PeerID()
	// A resumption ticket does not survive the change (resume.go).
	putTicket(t, home, h.kf.StorageKey)
	newPass := []byte("the changed passphrase")
	err = h.ChangePassphrase(newPass)
	if err == nil && hasStoredTicket(t, home, h.kf.StorageKey) {
		t.Error("ticket survived a passphrase change")
	}
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenHome(home, exportPass); !errors.Is(err, e2e.ErrPassphrase) {
		t.Errorf("old passphrase after the change: %v", err)
	}
	h, err = OpenHome(home, newPass)
	if err != nil {
		t.Fatal(err)
	}
	if h.PeerID() != peerID {
		t.Error("peer ID changed with the passphrase")
	}
	h.Close()
	// The store opens unchanged: its key is inside the key file.
	if cs := storedContacts(t, home, newPass); !reflect.DeepEqual(cs, contacts) {
		t.Errorf("contacts after passwd: %+v", cs)
	}
}
