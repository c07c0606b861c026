package e2e_test

import (
	"fmt"
	"log"
	"time"

	"github.com/securechat/securechat/e2e"
)

// An owner hands a contact a prekey bundle inside their session; later,
// while the owner is offline, the contact seals a message to one of the
// prekeys for a mailbox to hold. The owner opens it, checks that the
// envelope ID is new and the sender a contact, and deletes the one-time
// prekey.
func ExampleSealEnvelope() {
	owner, sender := loadIdentity("b"), loadIdentity("a")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	// Owner: make prekeys, keep the private parts, send the bundle.
	oneTime, err := e2e.GeneratePrekeys(owner, 2, now)
	if err != nil {
		log.Fatal(err)
	}
	last, err := e2e.GenerateLastResortPrekey(owner, now)
	if err != nil {
		log.Fatal(err)
	}
	held := map[e2e.PrekeyID]*e2e.PrivatePrekey{last.ID(): last}
	var pubs []*e2e.Prekey
	for _, k := range oneTime {
		held[k.ID()] = k
		pubs = append(pubs, k.Public())
	}
	bundle, err := e2e.NewPrekeyBundle(owner.Public(), pubs, last.Public())
	if err != nil {
		log.Fatal(err)
	}

	// Contact: verify the bundle against the identity its session
	// authenticated, then seal to a one-time prekey.
	got, err := e2e.ParsePrekeyBundle(bundle.Bytes(), owner.Public())
	if err != nil {
		log.Fatal(err)
	}
	env, err := e2e.SealEnvelope(sender, owner.Public(), got.OneTime()[0], []byte("see you at eight"), now.Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the mailbox sees", len(env), "bytes")

	// Owner, back online: refuse a seen ID before opening, open, delete
	// the one-time prekey.
	seen := map[e2e.EnvelopeID]bool{}
	id, _, err := e2e.EnvelopeHeader(env)
	if err != nil || seen[id] {
		log.Fatal("refused")
	}
	msg, err := e2e.OpenEnvelope(owner, func(id e2e.PrekeyID) *e2e.PrivatePrekey { return held[id] }, env)
	if err != nil {
		log.Fatal(err)
	}
	seen[msg.ID] = true
	if !held[msg.Prekey].Public().LastResort() {
		delete(held, msg.Prekey) // a one-time prekey opens one envelope only
	}
	fmt.Println(msg.Sender.Fingerprint() == sender.Fingerprint(), string(msg.Plaintext))
	// Output:
	// the mailbox sees 2048 bytes
	// true see you at eight
}
