package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxInputLine is the longest headless command line, 1 MiB, line ending
// excluded. A longer line is answered with "too_large" and skipped.
const maxInputLine = 1 << 20

// readChunk is the reader's buffer: lines are read in pieces this big, so a
// line that turns out too long costs at most this much while it is skipped.
const readChunk = 64 << 10

// errLineTooLong reports a line over the limit; it has been skipped and the
// reader is at the start of the next line.
var errLineTooLong = errors.New("line too long")

// lineReader reads newline-terminated lines of bounded length. Unlike
// bufio.Scanner it survives an over-long line: it discards the rest of that
// line in chunks, without buffering it, and carries on with the next.
type lineReader struct {
	r   *bufio.Reader
	max int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, readChunk), max: max}
}

// next returns the next line without its "\n" or "\r\n", errLineTooLong for
// a skipped line, or io.EOF (or a read error) at the end. A last line
// without a newline still counts. The returned slice is the caller's.
func (l *lineReader) next() ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			// Allow for the "\r\n" that is stripped below.
			if len(line)+len(chunk) > l.max+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if !tooLong && len(line) == 0 {
				return nil, io.EOF
			}
		case err != nil:
			return nil, err
		}
		if tooLong {
			return nil, errLineTooLong
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > l.max {
			return nil, errLineTooLong
		}
		return line, nil
	}
}
