// Package p2p is a securechat node: a go-libp2p host on which peers run the
// end-to-end protocol of package e2e (e2e/PROTOCOL.md) over a
// /securechat/1.0.0 stream, with trust on first use, an outbox of messages
// waiting for receipts, redial of known peers, and an encrypted store
// (package p2p/store; the key file is package p2p/keystore). [New] starts a
// node; its methods are the whole public surface (api.go lists them), and
// it reports what happens as [Event]s on [Node.Events].
//
// A program that owns its terminal calls [RouteLibraryLogs] once before
// its first node, so that go-libp2p's own logs follow [Config.Logger].
//
// Files:
//
//   - api.go: [Config], [PeerInfo], the exported errors and limits.
//   - node.go: [Node], [New], start and Close, peer state, event emission.
//   - settings.go: a node's internal timings and key source (tests
//     shorten them per node).
//   - events.go: the [Event] types.
//   - connect.go: [Node.Connect] and the dial of one peer.
//   - peeraddrs.go: the addresses each side announces in its sessions
//     (ADDRS), stored with the contact, and [Node.ConnectPeer], which
//     dials a contact by name at them.
//   - ports.go: the listen ports a persistent node keeps across restarts.
//   - send.go: [Node.Send] and [Node.SendTo].
//   - peermatch.go: which contact a name given by the user means.
//   - handler.go: the incoming stream handler, the handshake, and a
//     session's registration, tie-break and end.
//   - session.go: a live session: its reader, writer, heartbeats and
//     record deadlines.
//   - batch.go: records sealed and written together.
//   - payload.go: the chat payloads inside records (HELLO, message,
//     receipt, addresses, TICKET, NAME).
//   - resume.go: session resumption: tickets issued to contacts, kept
//     sealed in the store, presented on the next dial.
//   - nick.go: the own name: saved in the store, [Node.SetName] and its
//     NAME announcement, a peer's NAME ([NameChanged]).
//   - contacts.go: labels ([Node.SetLabel]), [Node.Unblock] and
//     [Node.Forget].
//   - peeraddrs.go: the ADDRS payload, which addresses go to which peer,
//     and how a contact's stored addresses are merged.
//   - ports.go: the listen ports kept across restarts.
//   - trust.go: trust on first use, key changes, names, verification,
//     blocking and safety numbers.
//   - stranger.go: peers that are no contacts yet, in memory and bounded,
//     and their promotion to contacts.
//   - pin.go: a session is used only under its peer's pin.
//   - names.go: look-alike names (format characters, confusable
//     skeletons).
//   - contactcache.go: the contact list cached in memory for the redialer,
//     admission and name checks.
//   - outbox.go, outqueue.go: messages waiting for their receipt, in the
//     store and mirrored in memory; the send window a Send waits on while
//     the session is up (backpressure), and the offline cap.
//   - history.go: [Node.History].
//   - mailbox.go: offline delivery's state and loop, the mailbox server
//     (Config.ServeMailbox) and [Node.Mailboxes]; mailbox_owner.go: the
//     owner grants capabilities, sends MAILBOX, fetches, opens, stores,
//     deletes; mailbox_sender.go: a contact's mailbox, and deposits after
//     10 s without a session ([Deposited]); mailbox_payload.go: MAILBOX,
//     PREKEYS and the plaintext inside an envelope; prekeys.go: the
//     owner's prekeys, capabilities and opened envelope IDs.
//   - redial.go: redial of known peers with backoff.
//   - host.go: the libp2p host, its resource manager and limits.
//   - gater.go: the connection gater that enforces blocks.
//   - ratelimit.go: admission of responder handshakes (token buckets).
//   - limits.go: every bound on what a peer can make the node spend.
//   - logging.go: go-libp2p's logs routed to the node's logger, and the
//     rate limit of log lines that peers cause.
//   - keys.go: the key file and fresh keys.
//   - export.go: passwd, export and import of a home while no node runs.
//   - invite.go: this node's invite, and connecting through one (its
//     fingerprint pinned first).
//   - reachability.go, path.go: relay reservations, observed addresses and
//     reachability; a session moved from a relayed to a direct connection.
//   - autonat.go: AutoNAT v2, a server on relays and a client on nodes
//     with relays only; its verdict is the node's reachability.
//   - doctor.go: [Node.Diagnostics], what `securechat doctor` prints.
//   - dialerr.go: a failed dial in one human line ([DescribeDialError]).
//   - discovery.go: the node's side of mDNS discovery.
//   - sanitize.go: remote names and texts made safe for a terminal.
//   - files.go: the file-transfer API ([Node.SendFile], [Node.AcceptFile],
//     [Node.RejectFile], [Node.Transfers]); fileevents.go: its events.
//   - filesession.go: offers, accepts and rejects inside the session.
//   - filestream.go: file streams (/securechat/file/1.0.0), sending,
//     receiving, waiting for a direct connection, retries.
//   - filestate.go: the table of transfers; filestore.go: their records
//     in the store, for resuming.
//
// Names, partial files, free space and the chunk loops of file streams
// live in package p2p/files.
//
// The mailbox service and its client (the /securechat/mailbox/1.0.0
// protocol, its bbolt queue) live in package p2p/mailbox; circuit relay
// service caps and the reservation keeper in p2p/relay.
//
// LAN discovery over mDNS lives in package p2p/mdns.
package p2p
