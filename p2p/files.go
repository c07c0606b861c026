package p2p

import (
	"context"
	"errors"
)

// This file is the public surface of file transfers: [Node.SendFile],
// [Node.AcceptFile], [Node.RejectFile] and [Node.Transfers]. The flow and
// bytes are e2e/PROTOCOL.md's "File transfer"; the node's part (offers in
// the chat session, data on its own stream, resume) is filesession.go,
// filestream.go and filestore.go; names, partial files and the stream
// loops are package p2p/files.

// FileProtocolID is the protocol of file streams: one stream per transfer
// attempt, next to the chat stream, so that chat keeps flowing.
const FileProtocolID = "/securechat/file/1.0.0"

// DefaultMaxFileSize is the default of [Config.MaxFileSize]: 4 GiB.
const DefaultMaxFileSize = 4 << 30

// Errors of the file API. The headless API maps each to an error code.
var (
	// ErrUnknownFile: no current transfer has that file ID.
	ErrUnknownFile = errors.New("p2p: no transfer with that file ID")
	// ErrFileState: the transfer is not in a state that allows this (an
	// accept of an outgoing transfer or of one already accepted).
	ErrFileState = errors.New("p2p: the transfer cannot do that now")
	// ErrNotRegularFile: SendFile was given a directory, a device or
	// anything else that is not a regular file.
	ErrNotRegularFile = errors.New("p2p: not a regular file")
	// ErrFileTooLarge: the offer is over [Config.MaxFileSize].
	ErrFileTooLarge = errors.New("p2p: file over the maximum file size")
	// ErrNoSpace: the download folder's file system has no room for the
	// file.
	ErrNoSpace = errors.New("p2p: not enough free space for the file")
	// ErrFilePath: AcceptFile's path is not usable (its folder is missing,
	// or a file is already there).
	ErrFilePath = errors.New("p2p: cannot save the file at that path")
)

// Transfer states, as [Transfer] gives them.
const (
	TransferOffered   = "offered"   // awaiting the receiver's answer
	TransferAccepted  = "accepted"  // accepted; data flows or waits (see Waiting)
	TransferVerifying = "verifying" // every chunk arrived; the SHA-256 is checked
)

// A Transfer is one current file transfer, as [Node.Transfers] lists it.
type Transfer struct {
	ID       string // file ID, 32 hex digits
	Peer     string // peer ID
	Name     string // sanitized name (the receiver's; the sender's base name)
	Size     int64
	Bytes    int64 // bytes moved and verified so far
	Outgoing bool
	State    string // TransferOffered, TransferAccepted, TransferVerifying
	Waiting  string // "" or why it is paused (WaitingPeer, WaitingDirect, WaitingAccept)
}

// SendFile offers the regular file at path to the peer to (a peer ID or
// fingerprint, as [Node.Send]). It hashes the file first (which takes a
// while for a large file; ctx bounds it), then offers it at once if a
// session is up, else when the next one comes up; the offer and the
// transfer's progress are kept in the store, so both survive a restart.
// Progress and the end come as [FileProgress], [FileDone] or [FileFailed].
func (n *Node) SendFile(ctx context.Context, to, path string) (peerID, fileID string, err error) {
	return n.sendFile(ctx, to, path)
}

// AcceptFile accepts an offer ([FileOffered]) and starts receiving.
// path "" saves the file under [Config.Downloads] with the offer's
// sanitized name (a " (1)"-style suffix if taken); otherwise path is where
// the file goes, in an existing folder, and must not exist yet. The size
// cap and the free space are checked first ([ErrFileTooLarge],
// [ErrNoSpace]).
func (n *Node) AcceptFile(fileID, path string) error {
	return n.acceptFile(fileID, path)
}

// RejectFile refuses an offer, or cancels a transfer in either
// direction; the peer is told (at once, or on the next session) and both
// sides raise [FileFailed].
func (n *Node) RejectFile(fileID string) error {
	return n.rejectFile(fileID)
}

// Transfers lists the current transfers (offered, accepted or being
// verified; not those that ended), oldest first.
func (n *Node) Transfers() []Transfer {
	return n.transfers()
}
