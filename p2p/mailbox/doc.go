// Package mailbox is the securechat mailbox: a node that holds sealed
// envelopes (e2e.SealEnvelope) for its owners while they are offline, and
// the client that owners and senders use to reach it, over the libp2p
// protocol [ProtocolID]. The bytes are in e2e/PROTOCOL.md, section
// "Mailbox protocol"; what a mailbox learns is in docs/SECURITY.md.
//
// An owner grants a [Capability] (a random bearer token) per contact and
// gives it to the contact inside their end-to-end session; the contact
// deposits envelopes under it. Only the owners named in [ServerConfig]
// (told apart by the authenticated peer of the stream, never by bytes)
// grant, revoke, fetch, delete, ask the status and watch. Deposits are
// bounded per capability and in total, in bytes and in count; envelopes
// must be an e2e size bucket; an envelope is kept for a TTL (30 days); an
// envelope ID already held for the owner is acknowledged and stored once;
// an acknowledged deposit is fsynced in a bbolt file.
//
// The package never imports package p2p; the node (package p2p) uses it.
//
// Files:
//
//   - mailbox.go: [Capability], [Tag], [Stored], [Status], the errors.
//   - wire.go: the requests and answers, their encoders and strict parsers.
//   - server.go: [Server], [ServerConfig], the stream handler and its bounds.
//   - watch.go: live watch streams, both sides.
//   - client.go: [Client].
//   - db.go: the bbolt file and its layout.
//   - queue.go: what each request does to the store; quotas and expiry.
package mailbox
