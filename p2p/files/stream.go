package files

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/securechat/securechat/e2e"
)

// Pipelining of a file stream. The sender seals on one goroutine while
// another writes, and gathers several chunk frames into each Write (one
// yamux frame run, one Noise or QUIC burst, one system call for 256 KiB);
// the receiver reads and opens on one goroutine while another hashes and
// writes to disk. At most pipeDepth batches wait between the two, so the
// memory a transfer holds is bounded whatever the file's size.
const (
	// WriteBatch is how many bytes of frames the sender gathers per Write.
	WriteBatch = 256 << 10
	// pipeDepth is how many batches (sender) or chunks (receiver, times
	// 4) may wait between the two goroutines.
	pipeDepth = 4
)

// Errors of the stream loops.
var (
	// ErrBadStream: the peer sent a chunk that failed authentication, a
	// frame too long or malformed, or bytes past the final chunk.
	ErrBadStream = errors.New("files: the file stream carried a bad chunk")
	// ErrCut: the stream ended before the final chunk.
	ErrCut = errors.New("files: the file stream ended early")
	// ErrRead: the sender could not read its file.
	ErrRead = errors.New("files: cannot read the file")
	// ErrWrite: the receiver could not write its file.
	ErrWrite = errors.New("files: cannot write the file")
)

// Send writes a file stream to w: s's header frame, then every chunk from
// s.Next() to the final one, read from r (positioned at that chunk's first
// byte). progress is called after each Write with the file bytes written
// so far on this stream (plaintext). Errors reading r are [ErrRead]; errors writing w
// are returned as they are. Send returns when the final chunk is written,
// or at the first error, or when stop is closed (then with ErrCut).
func Send(w io.Writer, r io.Reader, s *e2e.FileSealer, stop <-chan struct{}, progress func(int64)) error {
	full := make(chan batch, pipeDepth)
	free := make(chan []byte, pipeDepth+1)
	for range pipeDepth + 1 {
		free <- make([]byte, 0, WriteBatch+e2e.MaxFileFrameSize+8)
	}
	quit := make(chan struct{})
	var perr error
	done := make(chan struct{})
	go func() { // the sealer: owned by Send, which waits for it
		defer close(done)
		defer close(full)
		perr = sealLoop(r, s, free, full, quit)
	}()
	var sent int64
	var werr error
loop:
	for {
		select {
		case b, ok := <-full:
			if !ok {
				break loop
			}
			if _, err := w.Write(b.b); err != nil {
				werr = err
				break loop
			}
			sent += b.pt
			if progress != nil {
				progress(sent)
			}
			free <- b.b[:0]
		case <-stop:
			werr = ErrCut
			break loop
		}
	}
	close(quit)
	<-done
	if werr != nil {
		return werr
	}
	return perr
}

// A batch is frames for one Write and the file bytes they carry.
type batch struct {
	b  []byte
	pt int64
}

// sealLoop reads, seals and frames chunks into batches until the final
// chunk.
func sealLoop(r io.Reader, s *e2e.FileSealer, free <-chan []byte, full chan<- batch, quit <-chan struct{}) error {
	pt := make([]byte, e2e.FileChunkSize)
	var b []byte
	var n0 int64
	select {
	case b = <-free:
	case <-quit:
		return nil
	}
	h := s.Header()
	b = e2e.AppendFrame(b, h.Encode())
	for !s.Done() {
		n := s.ChunkLen()
		if _, err := io.ReadFull(r, pt[:n]); err != nil {
			return fmt.Errorf("%w: %v", ErrRead, err)
		}
		// The frame is sealed in place: its length is known in advance.
		b = binary.AppendUvarint(b, uint64(n+e2e.MaxFileFrameSize-e2e.FileChunkSize))
		var err error
		if b, err = s.SealTo(b, pt[:n]); err != nil {
			return err
		}
		n0 += int64(n)
		if len(b) >= WriteBatch || s.Done() {
			select {
			case full <- batch{b, n0}:
				n0 = 0
			case <-quit:
				return nil
			}
			if s.Done() {
				return nil
			}
			select {
			case b = <-free:
			case <-quit:
				return nil
			}
		}
	}
	return nil
}

// Receive reads a file stream's chunks from r (after its header, which
// the caller parsed to make o), opens each and writes its plaintext to w,
// until the final chunk, then requires the stream to end (a byte more is
// [ErrBadStream]). progress is called after each chunk is written, with
// the index of the next chunk and the plaintext bytes written on this
// stream. A stream that ends or fails before the final chunk is [ErrCut];
// a chunk that does not open, or a frame over the limit, is
// [ErrBadStream]; a failed write is [ErrWrite] (wrapping w's error). The
// chunks before a failure are written all the same. When a write fails,
// Receive calls abort, which must make a blocked read of r return (reset
// the stream), before it waits for its reader to end.
func Receive(r *bufio.Reader, o *e2e.FileOpener, w io.Writer, abort func(), progress func(next uint64, n int64)) error {
	type chunk struct {
		pt, buf []byte
		next    uint64
	}
	ch := make(chan chunk, 4*pipeDepth)
	// Frames are read into these buffers and opened in place; the writer
	// hands each back once written.
	free := make(chan []byte, 4*pipeDepth+2)
	for range cap(free) {
		free <- make([]byte, e2e.MaxFileFrameSize)
	}
	quit := make(chan struct{})
	var rerr error
	done := make(chan struct{})
	go func() { // the reader and opener: owned by Receive, which waits for it
		defer close(done)
		defer close(ch)
		for !o.Done() {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			frame, err := e2e.ReadFrameInto(r, buf[:e2e.MaxFileFrameSize])
			if err != nil {
				if errors.Is(err, e2e.ErrFrameTooLarge) || errors.Is(err, e2e.ErrBadFrame) {
					rerr = ErrBadStream
				} else {
					rerr = fmt.Errorf("%w: %v", ErrCut, err)
				}
				return
			}
			pt, err := o.OpenTo(frame[:0], frame)
			if err != nil {
				rerr = ErrBadStream
				return
			}
			select {
			case ch <- chunk{pt, buf, o.Next()}:
			case <-quit:
				return
			}
		}
		// The final chunk came: the sender must end its side now.
		if _, err := r.ReadByte(); err == nil {
			rerr = ErrBadStream
		} else if !errors.Is(err, io.EOF) {
			rerr = fmt.Errorf("%w: %v", ErrCut, err)
		}
	}()
	var n int64
	var werr error
	for c := range ch {
		if _, err := w.Write(c.pt); err != nil {
			werr = fmt.Errorf("%w: %w", ErrWrite, err)
			break
		}
		n += int64(len(c.pt))
		if progress != nil {
			progress(c.next, n)
		}
		free <- c.buf
	}
	close(quit)
	if werr != nil && abort != nil {
		abort()
	}
	<-done
	if werr != nil {
		return werr
	}
	return rerr
}
