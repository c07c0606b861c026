package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"
)

// Shared test fixtures of package e2e: a stand-in for the libp2p host key,
// its HostVerifier, and RSA identities cached once per test binary. Any test
// file of the package may use them.

// update makes vector tests rewrite their files in testdata/ instead of
// checking them. It is the one -update flag of the package.
var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

// testHostKeyPrefix is libp2p's protobuf encoding of an Ed25519 public key
// header (KeyType Ed25519, 32-byte Data), so testHost.PublicKey has the shape
// of a real marshalled libp2p key.
var testHostKeyPrefix = []byte{0x08, 0x01, 0x12, 0x20}

// testHost is an Ed25519 host key standing in for the libp2p host. Its peer
// ID is built the way libp2p builds Ed25519 peer IDs: the identity multihash
// (0x00, length 0x24) of the marshalled public key.
type testHost struct{ priv ed25519.PrivateKey }

// newTestHost returns a host whose key comes from seed, or a random one if
// seed is nil.
func newTestHost(tb testing.TB, seed []byte) *testHost {
	tb.Helper()
	if seed == nil {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			tb.Fatal(err)
		}
	}
	return &testHost{priv: ed25519.NewKeyFromSeed(seed)}
}

func (h *testHost) PublicKey() []byte {
	return append(bytes.Clone(testHostKeyPrefix), h.priv.Public().(ed25519.PublicKey)...)
}

func (h *testHost) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(h.priv, msg), nil }

// peerID returns the binary peer ID of the host.
func (h *testHost) peerID() []byte { return testPeerIDOf(h.PublicKey()) }

func testPeerIDOf(hostKey []byte) []byte {
	return append([]byte{0x00, byte(len(hostKey))}, hostKey...)
}

// testVerifyHost is the [HostVerifier] matching testHost: the peer ID must be
// the identity multihash of the host key, and sig a valid Ed25519 signature.
func testVerifyHost(peerID, hostKey, msg, sig []byte) error {
	pub, ok := bytes.CutPrefix(hostKey, testHostKeyPrefix)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return errors.New("bad host key")
	}
	if subtle.ConstantTimeCompare(peerID, testPeerIDOf(hostKey)) != 1 {
		return errors.New("peer ID does not match host key")
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		return errors.New("bad host signature")
	}
	return nil
}

// testIdentityNames name the cached identities. Their keys are stored in
// testdata/handshake_identity_<name>.hex (Identity.Encode, hex), so the test
// binary does not spend seconds generating RSA keys and the handshake vector
// has fixed inputs. A missing file is generated (and written with -update).
var testIdentityNames = [...]string{"a", "b", "c"}

var testIdentities struct {
	once sync.Once
	ids  [len(testIdentityNames)]*Identity
	err  error
}

func testIdentityPath(name string) string {
	return "testdata/handshake_identity_" + name + ".hex"
}

// testIdentity returns cached identity i (0, 1 or 2); distinct indexes are
// distinct identities.
func testIdentity(tb testing.TB, i int) *Identity {
	tb.Helper()
	testIdentities.once.Do(func() {
		for j, name := range testIdentityNames {
			id, err := loadTestIdentity(testIdentityPath(name))
			if err != nil {
				testIdentities.err = err
				return
			}
			testIdentities.ids[j] = id
		}
	})
	if testIdentities.err != nil {
		tb.Fatalf("test identity: %v", testIdentities.err)
	}
	return testIdentities.ids[i]
}

func loadTestIdentity(path string) (*Identity, error) {
	return loadOrMakeIdentity(path, GenerateIdentity)
}

// wrapHex writes b as hex in lines of 64 digits.
func wrapHex(b []byte) string {
	s := hex.EncodeToString(b)
	var sb strings.Builder
	for len(s) > 64 {
		sb.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	sb.WriteString(s + "\n")
	return sb.String()
}

// testPeer is a node as the handshake sees it.
type testPeer struct {
	id     *Identity
	host   *testHost
	peerID []byte
	bundle *Bundle
}

// newTestPeerWith makes a peer with cached identity idx and a host key from
// hostSeed (random if nil).
func newTestPeerWith(tb testing.TB, idx int, hostSeed []byte) *testPeer {
	tb.Helper()
	p := &testPeer{id: testIdentity(tb, idx), host: newTestHost(tb, hostSeed)}
	p.peerID = p.host.peerID()
	var err error
	if p.bundle, err = NewBundle(p.id, p.peerID, p.host); err != nil {
		tb.Fatalf("NewBundle: %v", err)
	}
	return p
}

var testPeerCount struct {
	sync.Mutex
	byTest map[string]int
}

// newTestPeer returns a fresh peer: a random host key (so a new peer ID) and
// a cached identity. Within one test (or subtest) the first three calls get
// three distinct identities; later calls reuse them with new peer IDs.
func newTestPeer(tb testing.TB) (id *Identity, peerID []byte, bundle *Bundle) {
	tb.Helper()
	testPeerCount.Lock()
	if testPeerCount.byTest == nil {
		testPeerCount.byTest = make(map[string]int)
	}
	n := testPeerCount.byTest[tb.Name()]
	testPeerCount.byTest[tb.Name()] = n + 1
	testPeerCount.Unlock()
	p := newTestPeerWith(tb, n%len(testIdentityNames), nil)
	return p.id, p.peerID, p.bundle
}

// shakeReader returns a deterministic stream: SHAKE128 of label. Vector tests
// use it as HandshakeConfig.Rand.
func shakeReader(label string) *sha3.SHAKE {
	s := sha3.NewSHAKE128()
	s.Write([]byte(label))
	return s
}
