// Command securechat is a serverless, end-to-end encrypted chat in one binary.
//
// Run it with no arguments for the full-screen interface on a terminal (a
// plain line interface when stdin or stdout is a pipe), with --headless for
// the JSON Lines API that scripts use, or with one of the subcommands id,
// invite, doctor, passwd, export, import, version and help (docs/INTERFACE.md
// lists them). The public contract (flags, exit codes,
// events and commands) is docs/INTERFACE.md; this package only wires that contract
// to the [p2p.Node] and never touches libp2p streams itself.
//
// # Headless API: choices beyond docs/INTERFACE.md
//
// Extension events (docs/INTERFACE.md allows more events and fields):
//
//   - "verified" {peer_id, fingerprint, ref} answers a successful verify.
//   - "key_trusted" {peer_id, fingerprint, ref} answers trust_new_key.
//   - "blocked" {peer_id, ref} answers block; "unblocked" {peer_id, ref}
//     answers unblock.
//   - "forgotten" {peer_id, ref} answers forget.
//   - "labelled" {peer_id, label, ref} answers label.
//   - "name_set" {name, ref} answers nick.
//   - "safety_number" {peer_id, safety_number, ref} answers safety_number:
//     60 digits in groups of 5 separated by spaces.
//   - "name_changed" {peer_id, name}: a peer announced a new name in its
//     session (its new name comes with session_up otherwise).
//   - "peers" entries carry "key_changed" (bool): a new key awaits
//     trust_new_key; "blocked" (bool); "label" (the user's own name for
//     the peer, "" if none).
//   - "error" events for dials carry "addr"; their message is one line
//     for people ([p2p.DescribeDialError]), go-libp2p's text is logged.
//
// Extension commands: "trust_new_key" {peer_id, fingerprint} accepts a
// peer's changed key; fingerprint must be the new one. "unblock"
// {peer_id} undoes block (messages queued for a blocked peer stay in the
// outbox and go out after it). "forget" {peer_id} deletes the contact, its
// history and its outbox (a blocked peer stays blocked). "label" {peer_id,
// label} sets the user's own name for a contact ("" removes it). "nick"
// {name} changes, saves and announces the own name (--name given
// explicitly also saves it; without --name the saved name is used).
// "safety_number" {peer_id}. The commands naming a peer take what send's
// "to" takes, labels included.
//
// Error codes: "bad_json" (not one JSON object), "bad_request" (a required
// field is missing or not a string, an empty text, a malformed
// fingerprint), "unknown_command", "unknown_peer", "bad_address",
// "dial_failed", "too_large" (text over 64 KiB or line over 1 MiB),
// "key_changed", "fingerprint_mismatch", "queue_full", "ambiguous_peer" (a
// name or part of an ID that matches several peers; the message lists
// them), "blocked" (send to a blocked peer), "nothing_to_accept"
// (trust_new_key while the key did not change), "invalid_name" (a nick or
// label that is not 1-32 printable characters), "no_session"
// (safety_number for a peer never online under its pinned key),
// "closed", "timeout", "internal".
//
// Other choices: field names match exactly (case-sensitive) and unknown
// fields are ignored; blank lines are ignored; a successful connect is
// answered by "connected" {peer_id, conn}, at once for a peer already in
// session; send's "to" and history's "peer_id" take anything the UI's /msg
// takes (p2p.MatchPeer: peer ID or its start or end, fingerprint or its
// first 16+ hex digits, name, name~fingerprint); sent_at is RFC 3339 in UTC to
// the second; logs go to stderr at WARN (DEBUG with SECURECHAT_DEBUG=1),
// and the node's logs during a failed start are dropped so the failure is
// one line.
//
// An empty passphrase is refused with exit status 1 (a bad secret, not a
// malformed command line).
package main
