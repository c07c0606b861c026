package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzLineReader: whatever the input, the headless line reader returns lines
// of at most max bytes without their line ending, reports each longer line
// once as errLineTooLong, never stops early, and ends with io.EOF.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"cmd\":\"peers\"}\n{\"cmd\":\"quit\"}\r\n"), 16)
	f.Add([]byte("a\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc"), 8)
	f.Add([]byte("\r\n\n\r"), 1)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		lr := newLineReader(bytes.NewReader(in), max)
		lines := 0
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatal("reader does not advance")
			}
			line, err := lr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, errLineTooLong) {
				lines++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(line) > max || bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("line %q (max %d)", line, max)
			}
			lines++
		}
		if want := bytes.Count(in, []byte("\n")); lines < want || lines > want+1 {
			t.Fatalf("%d lines from %d newlines", lines, want)
		}
	})
}
