package p2p

// The events of file transfers (files.go). A transfer is named by its file
// ID, 32 hex digits, chosen by the sender and unique per sender; on the
// receiving side (peer, file ID) names it.

// FileOffered reports a file the peer offers (receiving side). Nothing is
// written until [Node.AcceptFile]; [Node.RejectFile] refuses it. Name is
// the sender's claim, already sanitized for a terminal and a file system
// (p2p/files.SanitizeName); SHA256 is 64 hex digits.
type FileOffered struct {
	Peer, FileID, Name string
	Size               int64
	SHA256             string
}

// FileProgress reports that a transfer moved on, on both sides, at most
// ten times a second per transfer, and whenever Waiting changes. Waiting
// is "" while data flows, else why it is paused (for example
// [WaitingDirect]).
type FileProgress struct {
	Peer, FileID string
	Bytes, Size  int64
	Outgoing     bool
	Waiting      string
}

// FileDone reports a transfer that completed with its SHA-256 checked, on
// both sides. Path is where the receiver saved the file (the sender's
// own path on the sending side).
type FileDone struct {
	Peer, FileID, SHA256, Path string
	Outgoing                   bool
}

// FileFailed reports a transfer that ended without the file, on both
// sides: Reason is one of the FileReason* constants.
type FileFailed struct {
	Peer, FileID, Reason string
	Outgoing             bool
}

func (FileOffered) isEvent()  {}
func (FileProgress) isEvent() {}
func (FileDone) isEvent()     {}
func (FileFailed) isEvent()   {}

// Reasons a [FileFailed] gives. The first five are also the protocol's
// reject reasons (e2e.FileReason), whichever side ended the transfer.
const (
	FileReasonRejected  = "rejected"  // the receiver declined the offer
	FileReasonCancelled = "cancelled" // a user cancelled, on either side
	FileReasonFailed    = "failed"    // the sender could not read or the receiver could not store the file
	FileReasonCorrupt   = "corrupt"   // a chunk was refused or the whole file's SHA-256 did not match
	FileReasonTooLarge  = "too_large" // over the receiver's --max-file-size
	FileReasonNoSpace   = "no_space"  // the receiver's disk is full (the peer sees failed)
	FileReasonChanged   = "changed"   // the sender's file changed on disk before it was sent whole
)

// Reasons a [FileProgress] gives for a paused transfer.
const (
	// WaitingPeer: the peer is offline; the transfer goes on when a
	// session with it is up again.
	WaitingPeer = "waiting for the peer"
	// WaitingDirect: the only connection is a limited relayed one, which
	// file data never uses; it goes on over a direct connection.
	WaitingDirect = "waiting for a direct connection"
	// WaitingAccept: the offer awaits the receiver's answer.
	WaitingAccept = "waiting for the receiver to accept"
)

// FileReasonTooMany is the receiver's reason for an offer refused because
// the peer has too many unanswered offers (a flood).
const FileReasonTooMany = "too_many_offers"
