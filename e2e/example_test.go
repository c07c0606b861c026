package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/securechat/securechat/e2e"
)

// The examples use the package's test identities (testdata/, hex of
// Identity.Encode) instead of generating RSA-3072 keys, which takes seconds,
// and stand in for the libp2p host with an Ed25519 key, as the node does.

// loadIdentity reads testdata/handshake_identity_<name>.hex.
func loadIdentity(name string) *e2e.Identity {
	b, err := os.ReadFile("testdata/handshake_identity_" + name + ".hex")
	if err != nil {
		log.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		log.Fatal(err)
	}
	id, err := e2e.ParseIdentity(raw)
	if err != nil {
		log.Fatal(err)
	}
	return id
}

// ed25519Prefix is libp2p's protobuf header of a marshalled Ed25519 public
// key (KeyType Ed25519, 32-byte Data).
var ed25519Prefix = []byte{0x08, 0x01, 0x12, 0x20}

// host is an Ed25519 libp2p host key, as an [e2e.HostSigner].
type host struct{ priv ed25519.PrivateKey }

func newHost(seed byte) host {
	return host{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

func (h host) PublicKey() []byte {
	return append(bytes.Clone(ed25519Prefix), h.priv.Public().(ed25519.PublicKey)...)
}

func (h host) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(h.priv, msg), nil }

// peerID is the binary libp2p peer ID of the host: the identity multihash
// of its marshalled public key.
func (h host) peerID() []byte { return peerIDOf(h.PublicKey()) }

func peerIDOf(hostKey []byte) []byte { return append([]byte{0x00, byte(len(hostKey))}, hostKey...) }

// verifyHost is the [e2e.HostVerifier] for such hosts.
func verifyHost(peerID, hostKey, msg, sig []byte) error {
	pub, ok := bytes.CutPrefix(hostKey, ed25519Prefix)
	if !ok || len(pub) != ed25519.PublicKeySize ||
		subtle.ConstantTimeCompare(peerID, peerIDOf(hostKey)) != 1 ||
		!ed25519.Verify(pub, msg, sig) {
		return errors.New("bad host key or signature")
	}
	return nil
}

// config returns the handshake config of identity name on host h, talking
// to remote.
func config(name string, h host, remote []byte) e2e.HandshakeConfig {
	id := loadIdentity(name)
	bundle, err := e2e.NewBundle(id, h.peerID(), h)
	if err != nil {
		log.Fatal(err)
	}
	return e2e.HandshakeConfig{
		Identity: id, Bundle: bundle,
		LocalPeerID: h.peerID(), RemotePeerID: remote,
		VerifyHost: verifyHost,
	}
}

// sessionPair runs the handshake in memory, message by message, and
// returns both ends' sessions.
func sessionPair() (alice, bob *e2e.Session) {
	ha, hb := newHost(1), newHost(2)
	ini, err := e2e.NewInitiator(config("a", ha, hb.peerID()))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := e2e.NewResponder(config("b", hb, ha.peerID()))
	if err != nil {
		log.Fatal(err)
	}
	// Four messages, alternating; a real node sends each as one frame.
	from, to := ini, resp
	for !ini.Done() || !resp.Done() {
		msg, err := from.WriteMessage()
		if err != nil {
			log.Fatal(err)
		}
		if err := to.ReadMessage(msg); err != nil {
			log.Fatal(err)
		}
		from, to = to, from
	}
	if alice, err = ini.Session(); err != nil {
		log.Fatal(err)
	}
	if bob, err = resp.Session(); err != nil {
		log.Fatal(err)
	}
	return alice, bob
}

// A new identity is two RSA-3072 key pairs (signing and wrapping); it takes
// a second or more, so this example is compiled but not run. Encode is
// secret: the node keeps it in the passphrase-sealed key file.
func ExampleGenerateIdentity() {
	id, err := e2e.GenerateIdentity()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("fingerprint:", id.Fingerprint())
	again, err := e2e.ParseIdentity(id.Encode())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(again.Fingerprint().Equal(id.Fingerprint()))
}

// A fingerprint names a public identity; its string form parses back, and
// Short is for display beside a name only.
func ExampleParseIdentity() {
	id := loadIdentity("a")
	fp := id.Fingerprint()
	fmt.Println(fp.Short())
	parsed, err := e2e.ParseFingerprint(fp.String())
	fmt.Println(parsed.Equal(fp), err)
	fmt.Println(id.Public().Fingerprint() == fp)
	// Output:
	// 6b0ed8a78be0dea2
	// true <nil>
	// true
}

// The handshake is driven message by message (a node uses Handshake.Run
// over a stream instead); each side then holds a Session.
func ExampleNewInitiator() {
	alice, bob := sessionPair()
	fmt.Println(alice.Initiator(), bob.Initiator())
	fmt.Println(alice.ID() == bob.ID())
	fmt.Println(alice.PeerBundle().Identity().Equal(loadIdentity("b").Public()))
	// Output:
	// true false
	// true
	// true
}

// Seal turns a message into one record; the peer's Open authenticates it
// and advances the ratchet. Records must be opened in order.
func ExampleSession_Seal() {
	alice, bob := sessionPair()
	for _, text := range []string{"hello", "how are you?"} {
		rec, err := alice.Seal([]byte(text))
		if err != nil {
			log.Fatal(err)
		}
		typ, pt, err := bob.Open(rec)
		fmt.Printf("%s %q %v\n", typ, pt, err)
	}
	// A record opened twice, or altered, is refused.
	rec, _ := bob.Seal([]byte("fine"))
	rec[len(rec)-1] ^= 1
	_, _, err := alice.Open(rec)
	fmt.Println(errors.Is(err, e2e.ErrAuth))
	// Output:
	// data "hello" <nil>
	// data "how are you?" <nil>
	// true
}

// Frames carry handshake messages and records on a stream: a varint length,
// then the body.
func ExampleReadFrame() {
	var stream bytes.Buffer
	for _, p := range []string{"first", "second"} {
		if err := e2e.WriteFrame(&stream, []byte(p)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("% x\n", stream.Bytes()[:6])
	r := bufio.NewReader(&stream)
	for {
		p, err := e2e.ReadFrame(r, e2e.MaxFrameSize)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s\n", p)
	}
	// Output:
	// 05 66 69 72 73 74
	// first
	// second
	// EOF
}

// Both people see the same safety number, whichever side computes it;
// reading it out to each other verifies both identities at once.
func ExampleSafetyNumber() {
	a, b := loadIdentity("a").Public(), loadIdentity("b").Public()
	pa, pb := newHost(1).peerID(), newHost(2).peerID()
	mine := e2e.SafetyNumber(a, pa, b, pb)
	theirs := e2e.SafetyNumber(b, pb, a, pa)
	fmt.Println(mine == theirs, len(mine))
	fmt.Println(e2e.FormatSafetyNumber(mine)[:17])
	// Output:
	// true 60
	// 01650 93951 66300
}
