// Package e2e is securechat's end-to-end layer: RSA identities, the
// four-message handshake, the Double Ratchet session and the frames that carry
// them. It is pure cryptography over bytes: it never imports libp2p, the
// network or the file system, so every part can be tested with bytes alone.
// The exact bytes are specified in PROTOCOL.md beside this file.
//
// # What it adds over libp2p's Noise
//
// libp2p already encrypts each connection with Noise (TCP) or TLS 1.3 (QUIC),
// authenticated by the peers' host keys. That protects one hop. This layer
// protects the message itself, end to end, under keys that only the two
// people's nodes hold, so that a relay, a mailbox node or a stored history
// sees ciphertext only. It also gives each person a long-term RSA identity
// whose fingerprint they can verify once and be warned about when it changes,
// forward secrecy (ephemeral X25519 in the handshake) and post-compromise
// security (a Double Ratchet that heals after one round trip).
//
// # What it protects
//
//   - Confidentiality and integrity of every message (AES-256-GCM, one key
//     and nonce per message, the header and session ID as associated data).
//   - Mutual authentication by RSA identities bound to both libp2p peer IDs
//     as each side sees its own connection, so a third party cannot splice
//     two sessions together (identity misbinding, unknown key share).
//   - Detection of any replayed, reordered, dropped or truncated record: the
//     stream is ordered, so any gap ends the session.
//   - Files: each chunk is AES-256-GCM under a key derived from the live
//     session and the ratchet-protected offer, with the file ID, chunk index
//     and a final flag as associated data, so chunks cannot be moved,
//     replayed or cut off unnoticed.
//
// # What it does not protect
//
//   - Message length: records are not padded; a file's size shows in its
//     chunk frames.
//   - Timing, and who talks to whom: both are visible to the network.
//   - A compromised endpoint: keys in memory are readable by the process.
//
// # Resumption
//
// A live session issues its peer a one-time [Ticket] ([Session.IssueTicket],
// [Session.AcceptTicket]) whose secret both derive from the session's
// exporter secret. The next connection resumes with it ([RunInitiator],
// [RunResponder]) in one round trip and no RSA operation: the ticket secret
// and a fresh X25519 exchange feed the key schedule, the transcript binds
// both peer IDs and both fingerprints, and both sides send a finished MAC.
// A responder that cannot use the ticket answers RETRY and the full
// handshake follows on the same stream.
//
// # Mailbox envelopes
//
// For an owner who is offline, a contact seals a message with
// [SealEnvelope] to one of the owner's signed X25519 prekeys ([PrekeyBundle],
// handed over in a session), and a mailbox node holds it. The mailbox learns
// the envelope's size bucket, its prekey and envelope IDs and when it came
// and went; not the text, its exact length, or the sender, whom the owner
// authenticates by a signature inside the encryption ([OpenEnvelope]).
//
// Every authentication failure returns one error per layer
// ([ErrHandshake], [ErrAuth], [ErrEnvelope]) that never says which check failed.
package e2e
