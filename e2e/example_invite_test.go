package e2e_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/securechat/securechat/e2e"
)

// exampleIdentity loads one of the test identities kept in testdata.
func exampleIdentity() *e2e.Identity {
	b, err := os.ReadFile("testdata/handshake_identity_a.hex")
	if err != nil {
		panic(err)
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		panic(err)
	}
	id, err := e2e.ParseIdentity(raw)
	if err != nil {
		panic(err)
	}
	return id
}

// An invite made by one node is parsed, and verified, by another, which then
// knows the fingerprint the peer must present at the first session.
func ExampleParseInvite() {
	id := exampleIdentity()
	// A libp2p peer ID and one address, /ip4/198.51.100.7/tcp/4001, in
	// their binary forms; the node (package p2p) supplies real ones.
	peerID, _ := hex.DecodeString("0024080112206ee6cbfc4c753d7e3bcb41fc01062662e3a2144f3dcd9d1703652e1b87a2731e")
	addr, _ := hex.DecodeString("04c6336407060fa1")

	inv, err := e2e.NewInvite(id, peerID, "alice", [][]byte{addr})
	if err != nil {
		panic(err)
	}
	text := inv.Encode() // one line to hand over

	got, err := e2e.ParseInvite(text)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(strings.HasPrefix(text, e2e.InvitePrefix), len(text) <= e2e.MaxInviteLen)
	fmt.Println(got.Name(), len(got.Addrs()), got.Fingerprint() == id.Fingerprint())

	_, err = e2e.ParseInvite(text[:len(text)-1])
	fmt.Println(err)
	// Output:
	// true true
	// alice 1 true
	// e2e: invalid invite
}
