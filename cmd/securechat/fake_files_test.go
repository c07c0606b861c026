package main

import (
	"context"
	"fmt"
	"os"

	"github.com/securechat/securechat/p2p"
)

// fakeFiles is the fake node's file side: the calls a front-end makes and
// what they answer.
type fakeFiles struct {
	sent      []string // "to: path"
	contents  []string // the files sent, read at SendFile
	accepted  []string // file IDs
	rejected  []string // file IDs
	transfers []p2p.Transfer
	err       error // what the file calls answer, if set
	n         int
}

// fakeFileID is the nth file ID the fake hands out: 32 hex digits.
func fakeFileID(n int) string { return fmt.Sprintf("%08x%024x", 0xf11e0000+n, n) }

// SendFile records the offer, with the file's contents, and answers the
// next file ID; the peer is to as given.
func (n *fakeNode) SendFile(ctx context.Context, to, path string) (string, string, error) {
	b, rerr := os.ReadFile(path)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files.err != nil {
		return "", "", n.files.err
	}
	if rerr != nil {
		return "", "", rerr
	}
	n.files.n++
	n.files.sent = append(n.files.sent, to+": "+path)
	n.files.contents = append(n.files.contents, string(b))
	return to, fakeFileID(n.files.n), nil
}

func (n *fakeNode) AcceptFile(fileID, path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files.err != nil {
		return n.files.err
	}
	n.files.accepted = append(n.files.accepted, fileID)
	return nil
}

func (n *fakeNode) RejectFile(fileID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files.err != nil {
		return n.files.err
	}
	n.files.rejected = append(n.files.rejected, fileID)
	return nil
}

func (n *fakeNode) Transfers() []p2p.Transfer {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]p2p.Transfer(nil), n.files.transfers...)
}
