package files

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/securechat/securechat/e2e"
)

// Errors of partial files.
var (
	// ErrCorrupt: the whole file's SHA-256 is not the one offered.
	ErrCorrupt = errors.New("files: the file's SHA-256 does not match the offer")
	// ErrNoSpace: the disk (or the process's file-size limit) is full.
	ErrNoSpace = errors.New("files: no space left for the file")
	// ErrNoFreeName: every " (n)" name up to the limit is taken.
	ErrNoFreeName = errors.New("files: no free name for the file")
)

// maxNumbered bounds the " (n)" names tried before giving up.
const maxNumbered = 1000

// PartialPrefix starts the name of every partial file: hidden, and never a
// name SanitizeName gives (those never start with a dot).
const PartialPrefix = ".securechat-"

// A Partial is a file being received: a hidden file, mode 0600, in the
// folder the file will end up in, written in order and hashed as it is
// written, renamed to its real name only once whole and its SHA-256
// matches ([Partial.Finish]). It is not safe for concurrent use.
type Partial struct {
	f    *os.File
	path string
	size int64
	n    int64 // bytes written and hashed
	h    hash.Hash
}

// PartialPath is the hidden partial file of transfer key (a name made of
// hex digits) in dir.
func PartialPath(dir, key string) string {
	return filepath.Join(dir, PartialPrefix+key+".part")
}

// OpenPartial opens (creating it, 0600, if missing) the partial file at
// path for a file of size bytes, and resumes it: the bytes it already
// holds are kept up to the last whole chunk (all of them if it holds the
// whole file), hashed again, and, when check is not empty, the hash of the
// first at bytes must equal check (a [Partial.Checkpoint] taken earlier),
// else the file starts over from nothing. Symbolic links are not followed.
func OpenPartial(path string, size int64, at int64, check []byte) (*Partial, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return nil, err
	}
	p := &Partial{f: f, path: path, size: size, h: sha256.New()}
	if err := p.resume(at, check); err != nil {
		_ = f.Close()
		return nil, err
	}
	return p, nil
}

func (p *Partial) resume(at int64, check []byte) error {
	st, err := p.f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("files: %s is not a regular file", p.path)
	}
	keep := min(st.Size(), p.size)
	if keep < p.size {
		keep -= keep % e2e.FileChunkSize
	}
	if len(check) > 0 && (at > keep || at < 0) {
		keep = 0 // the checkpoint's bytes are gone
	}
	if keep > 0 {
		if _, err := p.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		ok, hashed := len(check) == 0, int64(0)
		if !ok {
			if _, err := io.CopyN(p.h, p.f, at); err != nil {
				return err
			}
			hashed = at
			state, err := p.h.(encoding.BinaryMarshaler).MarshalBinary()
			ok = err == nil && subtle.ConstantTimeCompare(state, check) == 1
		}
		if ok {
			if _, err := io.CopyN(p.h, p.f, keep-hashed); err != nil {
				return err
			}
		} else {
			keep = 0
			p.h.Reset()
		}
	}
	if err := p.f.Truncate(keep); err != nil {
		return err
	}
	if _, err := p.f.Seek(keep, io.SeekStart); err != nil {
		return err
	}
	p.n = keep
	return nil
}

// Len returns the bytes the partial file holds.
func (p *Partial) Len() int64 { return p.n }

// Chunks returns how many whole chunks the partial file holds: the index
// of the first chunk to ask for, or the file's chunk count when it is
// whole.
func (p *Partial) Chunks() uint64 {
	if p.n == p.size && p.size > 0 {
		return e2e.FileChunks(uint64(p.size))
	}
	return uint64(p.n / e2e.FileChunkSize)
}

// Write appends b, which must not take the file past its size. A full
// disk is [ErrNoSpace].
func (p *Partial) Write(b []byte) (int, error) {
	if int64(len(b)) > p.size-p.n {
		return 0, fmt.Errorf("files: write past the end of the file")
	}
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if err != nil {
		if IsNoSpace(err) {
			return n, fmt.Errorf("%w: %w", ErrNoSpace, err)
		}
		return n, err
	}
	return n, nil
}

// IsNoSpace reports whether err means the disk, a quota or the process's
// file-size limit is full.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) || isQuota(err)
}

// Checkpoint returns the byte count and the hash state at that point, for
// [OpenPartial] to check the kept bytes against after a restart. It does
// not sync: a process killed keeps what it wrote (the page cache has it),
// and after a power loss that lost some of it the check fails and the file
// starts over, so a sync every checkpoint (which stalled the transfer for
// the disk's write-back) would buy nothing.
func (p *Partial) Checkpoint() (int64, []byte, error) {
	state, err := p.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return 0, nil, err
	}
	return p.n, state, nil
}

// Finish checks the whole file's SHA-256 against want, syncs it and gives
// it its real name: dest if not empty (which must not exist), else name in
// the partial file's folder, or the first free "name (n)". It never
// replaces a file. A mismatch removes the partial file and is
// [ErrCorrupt]. On success the Partial is closed and the path returned.
func (p *Partial) Finish(want [32]byte, name, dest string) (string, error) {
	if p.n != p.size {
		return "", fmt.Errorf("files: the file is not whole")
	}
	var sum [32]byte
	p.h.Sum(sum[:0])
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		p.Remove()
		return "", ErrCorrupt
	}
	if err := p.f.Sync(); err != nil {
		return "", err
	}
	if err := p.f.Close(); err != nil {
		return "", err
	}
	if dest != "" {
		return dest, place(p.path, dest)
	}
	dir := filepath.Dir(p.path)
	for i := 0; i < maxNumbered; i++ {
		path := filepath.Join(dir, Numbered(name, i))
		err := place(p.path, path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", ErrNoFreeName
}

// place renames from to a new file at to without ever replacing one: to is
// first created empty and exclusively (a name taken meanwhile is
// fs.ErrExist), then the rename takes over that empty file of ours.
func place(from, to string) error {
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return err
	}
	_ = f.Close()
	if err := os.Rename(from, to); err != nil {
		_ = os.Remove(to)
		return err
	}
	return nil
}

// Close closes the partial file and keeps it, for a later resume.
func (p *Partial) Close() error { return p.f.Close() }

// Unlink deletes the partial file's name while another goroutine may
// still write to it; that one then calls Remove, which closes it.
func (p *Partial) Unlink() { _ = os.Remove(p.path) }

// Remove closes and deletes the partial file.
func (p *Partial) Remove() {
	_ = p.f.Close()
	_ = os.Remove(p.path)
}
