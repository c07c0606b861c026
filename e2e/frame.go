package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// MaxFrameSize is the largest frame body accepted on a chat stream (256 KiB).
// The length prefix is checked against it before a single byte of the body is
// read or allocated, so a peer cannot make us reserve memory it never sends.
const MaxFrameSize = 256 << 10

// maxVarintLen bounds the length prefix: MaxFrameSize needs 3 bytes, so any
// prefix longer than that is refused without reading on.
const maxVarintLen = 3

// ErrFrameTooLarge is returned when a length prefix exceeds the limit.
var ErrFrameTooLarge = errors.New("e2e: frame too large")

// ErrBadFrame is returned for a malformed length prefix (non-minimal or
// overlong varint) or a zero-length frame.
var ErrBadFrame = errors.New("e2e: malformed frame")

// ReadFrame reads one frame, an unsigned varint length and that many bytes,
// and returns its body. Frames longer than max (which must not exceed
// MaxFrameSize) fail with [ErrFrameTooLarge] before the body is allocated.
// A clean end of stream before the first byte is io.EOF; an end inside a
// frame is io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readLength(r, max)
	if err != nil {
		return nil, err
	}
	return readBody(r, make([]byte, n))
}

// ReadFrameInto is [ReadFrame] into buf, for a reader of many frames that
// reuses its buffers: the largest frame accepted is len(buf) (at most
// MaxFrameSize), and the body returned is a prefix of buf.
func ReadFrameInto(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := readLength(r, len(buf))
	if err != nil {
		return nil, err
	}
	return readBody(r, buf[:n])
}

// readBody fills body from r; an end of stream inside it is
// io.ErrUnexpectedEOF.
func readBody(r *bufio.Reader, body []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

func readLength(r *bufio.Reader, max int) (int, error) {
	if max <= 0 || max > MaxFrameSize {
		max = MaxFrameSize
	}
	var n uint64
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			// A final zero byte after the first means a non-minimal
			// encoding: one length, one encoding.
			if b == 0 && i > 0 {
				return 0, ErrBadFrame
			}
			break
		}
		if i+1 == maxVarintLen {
			return 0, ErrFrameTooLarge // 2^21 or more: refused unread
		}
	}
	if n > uint64(max) {
		return 0, ErrFrameTooLarge
	}
	if n == 0 {
		return 0, ErrBadFrame
	}
	return int(n), nil
}

// AppendFrame appends p as one frame to dst. It panics if p is empty or
// longer than MaxFrameSize, which would be a bug in the caller.
func AppendFrame(dst, p []byte) []byte {
	if len(p) == 0 || len(p) > MaxFrameSize {
		panic("e2e: frame size out of range")
	}
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	return append(dst, p...)
}

// WriteFrame writes p as one frame with a single Write call, so the length
// and body leave together.
func WriteFrame(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return ErrBadFrame
	}
	if len(p) > MaxFrameSize {
		return ErrFrameTooLarge
	}
	_, err := w.Write(AppendFrame(make([]byte, 0, len(p)+maxVarintLen), p))
	return err
}
