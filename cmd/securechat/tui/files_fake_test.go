package tui

import (
	"context"
	"fmt"
	"os"

	"github.com/securechat/securechat/p2p"
)

// fakeFiles is the fake node's file side: the calls the UI makes and what
// they answer.
type fakeFiles struct {
	sentFiles []string // "to: path"
	pasted    []string // the contents of the files sent, read at SendFile
	accepted  []string // file IDs
	rejected  []string // file IDs
	transfers []p2p.Transfer
	fileErr   error // what the file calls answer, if set
	nfiles    int
}

// fakeFileID is the nth file ID the fake hands out: 32 hex digits.
func fakeFileID(n int) string { return fmt.Sprintf("%08x%024x", 0xf11e0000+n, n) }

func (f *fakeNode) SendFile(ctx context.Context, to, path string) (string, string, error) {
	b, rerr := os.ReadFile(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files.fileErr != nil {
		return "", "", f.files.fileErr
	}
	if rerr != nil {
		return "", "", rerr
	}
	f.files.nfiles++
	f.files.sentFiles = append(f.files.sentFiles, to+": "+path)
	f.files.pasted = append(f.files.pasted, string(b))
	return to, fakeFileID(f.files.nfiles), nil
}

func (f *fakeNode) AcceptFile(fileID, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files.fileErr != nil {
		return f.files.fileErr
	}
	f.files.accepted = append(f.files.accepted, fileID)
	return nil
}

func (f *fakeNode) RejectFile(fileID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files.fileErr != nil {
		return f.files.fileErr
	}
	f.files.rejected = append(f.files.rejected, fileID)
	return nil
}

func (f *fakeNode) Transfers() []p2p.Transfer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]p2p.Transfer(nil), f.files.transfers...)
}
