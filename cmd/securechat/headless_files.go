package main

import (
	"context"
	"errors"
	"io/fs"
	"sync"

	"github.com/securechat/securechat/p2p"
)

// The file commands of the headless API (send_file, accept_file,
// reject_file) and the file events, as docs/HEADLESS.md has them.

// Error codes of the file commands.
const (
	codeUnknownFile = "unknown_file" // accept_file, reject_file: no current transfer has that file_id
	codeFileState   = "file_state"   // accept_file of an outgoing or already accepted transfer
	codeBadPath     = "bad_path"     // send_file: no such file, unreadable, or not a regular file; accept_file: path unusable
	codeNoSpace     = "no_space"     // accept_file: not enough free space in the download folder
)

// fileNode is the part of the node the file commands need.
type fileNode interface {
	SendFile(ctx context.Context, to, path string) (peerID, fileID string, err error)
	AcceptFile(fileID, path string) error
	RejectFile(fileID string) error
	Transfers() []p2p.Transfer
}

var _ fileNode = (*p2p.Node)(nil)

type fileOfferEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	FileID string `json:"file_id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type fileProgressEvent struct {
	Event    string `json:"event"`
	PeerID   string `json:"peer_id"`
	FileID   string `json:"file_id"`
	Bytes    int64  `json:"bytes"`
	Size     int64  `json:"size"`
	Outgoing bool   `json:"outgoing"`          // extension: this node sends the file
	Waiting  string `json:"waiting,omitempty"` // extension: why the transfer is paused
	Ref      string `json:"ref,omitempty"`
}

type fileDoneEvent struct {
	Event    string `json:"event"`
	PeerID   string `json:"peer_id"`
	FileID   string `json:"file_id"`
	SHA256   string `json:"sha256"`
	Path     string `json:"path"`
	Outgoing bool   `json:"outgoing"` // extension
}

type fileFailedEvent struct {
	Event    string `json:"event"`
	PeerID   string `json:"peer_id"`
	FileID   string `json:"file_id"`
	Reason   string `json:"reason"`
	Outgoing bool   `json:"outgoing"` // extension
	Ref      string `json:"ref,omitempty"`
}

// fileEventJSON is eventJSON for the file events.
func fileEventJSON(ev p2p.Event) any {
	switch e := ev.(type) {
	case p2p.FileOffered:
		return fileOfferEvent{"file_offer", e.Peer, e.FileID, e.Name, e.Size, e.SHA256}
	case p2p.FileProgress:
		return fileProgressEvent{Event: "file_progress", PeerID: e.Peer, FileID: e.FileID, Bytes: e.Bytes, Size: e.Size, Outgoing: e.Outgoing, Waiting: e.Waiting}
	case p2p.FileDone:
		return fileDoneEvent{"file_done", e.Peer, e.FileID, e.SHA256, e.Path, e.Outgoing}
	case p2p.FileFailed:
		return fileFailedEvent{Event: "file_failed", PeerID: e.Peer, FileID: e.FileID, Reason: e.Reason, Outgoing: e.Outgoing}
	}
	return nil
}

// files runs send_file, accept_file and reject_file. send_file and
// accept_file are answered by a file_progress carrying the ref (bytes so
// far, and why the transfer waits); reject_file by the file_failed of the
// transfer it ended.
func (h *headless) files(ctx context.Context, c command) {
	fn, ok := h.node.(fileNode)
	if !ok {
		h.fail(c.Ref, codeUnknownCommand, "this node does not transfer files")
		return
	}
	var err error
	id, peerID := c.FileID, ""
	switch c.Cmd {
	case "send_file":
		if c.Path == "" {
			h.fail(c.Ref, codeBadRequest, "empty path")
			return
		}
		peerID, id, err = fn.SendFile(ctx, c.To, c.Path)
	case "accept_file":
		err = fn.AcceptFile(c.FileID, c.Path)
	case "reject_file":
		var t p2p.Transfer
		t, ok = findTransfer(fn, c.FileID)
		// The node raises file_failed too: the pump drops that one, so
		// the answer, with the ref, is the only one.
		h.answered.add(c.FileID)
		if err = fn.RejectFile(c.FileID); err != nil || !ok {
			h.answered.take(c.FileID)
		}
		if err == nil && ok {
			reason := p2p.FileReasonCancelled
			if !t.Outgoing && t.State == p2p.TransferOffered {
				reason = p2p.FileReasonRejected
			}
			h.out.emit(fileFailedEvent{Event: "file_failed", PeerID: t.Peer, FileID: t.ID, Reason: reason, Outgoing: t.Outgoing, Ref: c.Ref})
			return
		}
	}
	if err != nil {
		h.fail(c.Ref, fileErrorCode(err), oneLine(err.Error()))
		return
	}
	t, ok := findTransfer(fn, id)
	if !ok { // it ended already (an empty file, a quick peer): its events say how
		t = p2p.Transfer{ID: id, Peer: peerID}
	}
	h.out.emit(fileProgressEvent{Event: "file_progress", PeerID: t.Peer, FileID: t.ID, Bytes: t.Bytes, Size: t.Size, Outgoing: t.Outgoing, Waiting: t.Waiting, Ref: c.Ref})
}

func findTransfer(fn fileNode, id string) (p2p.Transfer, bool) {
	for _, t := range fn.Transfers() {
		if t.ID == id {
			return t, true
		}
	}
	return p2p.Transfer{}, false
}

// fileErrorCode maps a file command's error to its code.
func fileErrorCode(err error) string {
	switch {
	case errors.Is(err, p2p.ErrUnknownFile):
		return codeUnknownFile
	case errors.Is(err, p2p.ErrFileState):
		return codeFileState
	case errors.Is(err, p2p.ErrFileTooLarge):
		return codeTooLarge
	case errors.Is(err, p2p.ErrNoSpace):
		return codeNoSpace
	case errors.Is(err, p2p.ErrNotRegularFile), errors.Is(err, p2p.ErrFilePath), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return codeBadPath
	}
	return errorCode(err)
}

// answeredFiles are the transfers whose file_failed the headless API wrote
// itself, as the answer to reject_file: the node's own is dropped.
type answeredFiles struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *answeredFiles) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = make(map[string]bool)
	}
	a.ids[id] = true
}

// take reports whether id was added, and forgets it.
func (a *answeredFiles) take(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.ids[id]
	delete(a.ids, id)
	return ok
}
