package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// countingReader hands out one byte per Read and counts them, so a test can
// see exactly how far ReadFrame read past its bufio.Reader into the stream.
type countingReader struct {
	r bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.r.Read(p[:1])
	c.n += n
	return n, err
}

func newCountingReader(b []byte) *countingReader {
	c := &countingReader{}
	c.r.Reset(b)
	return c
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tt := range []struct{ size, prefix int }{
		{1, 1}, {127, 1}, {128, 2}, {16383, 2}, {16384, 3}, {MaxFrameSize, 3},
	} {
		body := make([]byte, tt.size)
		for i := range body {
			body[i] = byte(i*7 + tt.size)
		}
		var buf bytes.Buffer
		if err := WriteFrame(&buf, body); err != nil {
			t.Fatalf("size %d: WriteFrame: %v", tt.size, err)
		}
		if buf.Len() != tt.prefix+tt.size {
			t.Fatalf("size %d: %d-byte prefix, want %d", tt.size, buf.Len()-tt.size, tt.prefix)
		}
		if !bytes.Equal(buf.Bytes(), AppendFrame(nil, body)) {
			t.Fatalf("size %d: WriteFrame and AppendFrame differ", tt.size)
		}
		br := bufio.NewReader(&buf)
		got, err := ReadFrame(br, MaxFrameSize)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("size %d: ReadFrame = %d bytes, %v", tt.size, len(got), err)
		}
		if _, err := ReadFrame(br, MaxFrameSize); err != io.EOF {
			t.Fatalf("size %d: after the frame got %v, want io.EOF", tt.size, err)
		}
	}
}

func TestFrameSequence(t *testing.T) {
	var stream []byte
	for i := 1; i <= 200; i++ {
		stream = AppendFrame(stream, bytes.Repeat([]byte{byte(i)}, i))
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	for i := 1; i <= 200; i++ {
		got, err := ReadFrame(br, 0)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, i)) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, err := ReadFrame(br, 0); err != io.EOF {
		t.Fatalf("end: got %v, want io.EOF", err)
	}
}

// TestFrameTooLargeRefusedUnread checks that an oversized length is refused
// having read nothing but the prefix, and without allocating, while the
// stream would supply the whole body.
func TestFrameTooLargeRefusedUnread(t *testing.T) {
	tests := []struct {
		name      string
		length    uint64
		max       int
		wantRead  int
		wantError error
	}{
		{"MaxFrameSize+1", MaxFrameSize + 1, MaxFrameSize, 3, ErrFrameTooLarge},
		{"over caller's max", 1001, 1000, 2, ErrFrameTooLarge},
		{"max above MaxFrameSize is clamped", MaxFrameSize + 1, 1 << 30, 3, ErrFrameTooLarge},
		{"2^21-1", 1<<21 - 1, MaxFrameSize, 3, ErrFrameTooLarge},
		{"2^21", 1 << 21, MaxFrameSize, 3, ErrFrameTooLarge},
		{"2^32-1", 1<<32 - 1, MaxFrameSize, 3, ErrFrameTooLarge},
		{"2^40", 1 << 40, MaxFrameSize, 3, ErrFrameTooLarge},
		{"2^64-1", 1<<64 - 1, MaxFrameSize, 3, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := binary.AppendUvarint(nil, tt.length)
			stream = append(stream, make([]byte, MaxFrameSize+2)...)
			src := newCountingReader(stream)
			br := bufio.NewReaderSize(src, 16)
			if _, err := ReadFrame(br, tt.max); !errors.Is(err, tt.wantError) {
				t.Fatalf("got %v, want %v", err, tt.wantError)
			}
			if src.n != tt.wantRead {
				t.Fatalf("read %d bytes from the stream, want %d (the prefix)", src.n, tt.wantRead)
			}
			allocs := testing.AllocsPerRun(20, func() {
				src.r.Reset(stream)
				br.Reset(src)
				_, _ = ReadFrame(br, tt.max)
			})
			if allocs != 0 {
				t.Fatalf("refusing allocated %.0f times", allocs)
			}
		})
	}
}

func TestFrameMalformed(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"empty stream", nil, io.EOF},
		{"zero length", []byte{0x00, 0xaa}, ErrBadFrame},
		{"non-minimal 1", []byte{0x81, 0x00, 0xaa}, ErrBadFrame},
		{"non-minimal 0", []byte{0x80, 0x00}, ErrBadFrame},
		{"non-minimal 127", []byte{0xff, 0x80, 0x00}, ErrBadFrame},
		{"prefix cut after one byte", []byte{0x80}, io.ErrUnexpectedEOF},
		{"prefix cut after two bytes", []byte{0x80, 0x80}, io.ErrUnexpectedEOF},
		{"body cut", []byte{0x05, 1, 2, 3}, io.ErrUnexpectedEOF},
		{"body missing", []byte{0x05}, io.ErrUnexpectedEOF},
		{"long body cut", append([]byte{0x80, 0x01}, make([]byte, 127)...), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.stream)), MaxFrameSize)
			if err != tt.want || got != nil {
				t.Fatalf("got %d bytes, %v; want %v", len(got), err, tt.want)
			}
		})
	}
}

// errAfterReader returns data, then err instead of io.EOF.
type errAfterReader struct {
	data []byte
	err  error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestFrameReadErrorsPassThrough(t *testing.T) {
	boom := errors.New("stream reset")
	for _, stream := range [][]byte{nil, {0x80}, {0x05, 1, 2}} {
		_, err := ReadFrame(bufio.NewReader(&errAfterReader{stream, boom}), 0)
		if err != boom {
			t.Errorf("stream %x: got %v, want the reader's error", stream, err)
		}
	}
}

// writeCounter counts Write calls.
type writeCounter struct {
	bytes.Buffer
	calls int
}

func (w *writeCounter) Write(p []byte) (int, error) { w.calls++; return w.Buffer.Write(p) }

func TestWriteFrame(t *testing.T) {
	var w writeCounter
	if err := WriteFrame(&w, make([]byte, 300)); err != nil || w.calls != 1 {
		t.Fatalf("WriteFrame: %v, %d writes (want one)", err, w.calls)
	}
	for _, tt := range []struct {
		n    int
		want error
	}{{0, ErrBadFrame}, {MaxFrameSize + 1, ErrFrameTooLarge}} {
		w.Reset()
		if err := WriteFrame(&w, make([]byte, tt.n)); !errors.Is(err, tt.want) || w.Len() != 0 {
			t.Errorf("%d-byte frame: got %v (want %v), wrote %d bytes", tt.n, err, tt.want, w.Len())
		}
	}
	for _, n := range []int{0, MaxFrameSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendFrame of %d bytes did not panic", n)
				}
			}()
			AppendFrame(nil, make([]byte, n))
		}()
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, []byte("hello")))
	f.Add(AppendFrame(AppendFrame(nil, make([]byte, 200)), []byte{1}))
	f.Add([]byte{0x80, 0x80, 0x10})
	f.Add([]byte{0x81, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, stream []byte) {
		br := bufio.NewReader(bytes.NewReader(stream))
		var again []byte
		for {
			body, err := ReadFrame(br, 1<<10)
			if err != nil {
				if body != nil {
					t.Fatal("body returned with an error")
				}
				break
			}
			if len(body) == 0 || len(body) > 1<<10 {
				t.Fatalf("%d-byte frame accepted", len(body))
			}
			again = AppendFrame(again, body)
		}
		// Only minimal encodings parse, so the frames read re-encode to
		// exactly the bytes they came from.
		if !bytes.HasPrefix(stream, again) {
			t.Fatal("accepted frames do not re-encode to their input")
		}
	})
}

// TestReadFrameInto: frames land in the caller's buffer, one after another;
// a frame longer than the buffer is refused after its prefix alone, and
// the prefix rules are ReadFrame's.
func TestReadFrameInto(t *testing.T) {
	buf := make([]byte, 1000)
	stream := AppendFrame(AppendFrame(nil, []byte("first")), bytes.Repeat([]byte{7}, 1000))
	br := bufio.NewReader(bytes.NewReader(stream))
	for _, want := range [][]byte{[]byte("first"), bytes.Repeat([]byte{7}, 1000)} {
		got, err := ReadFrameInto(br, buf)
		if err != nil || !bytes.Equal(got, want) || &got[0] != &buf[0] {
			t.Fatalf("ReadFrameInto = %d bytes, %v; want %d bytes in buf", len(got), err, len(want))
		}
	}
	if _, err := ReadFrameInto(br, buf); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	over := binary.AppendUvarint(nil, 1001)
	over = append(over, make([]byte, 1001)...)
	src := newCountingReader(over)
	if _, err := ReadFrameInto(bufio.NewReaderSize(src, 16), buf); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame over the buffer: %v, want ErrFrameTooLarge", err)
	}
	if src.n != 2 {
		t.Fatalf("read %d bytes of a refused frame, want the 2-byte prefix", src.n)
	}
	for name, b := range map[string][]byte{"zero length": {0}, "not minimal": {0x85, 0x00}} {
		if _, err := ReadFrameInto(bufio.NewReader(bytes.NewReader(b)), buf); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: %v, want ErrBadFrame", name, err)
		}
	}
	if _, err := ReadFrameInto(bufio.NewReader(bytes.NewReader([]byte{5, 1, 2})), buf); err != io.ErrUnexpectedEOF {
		t.Errorf("cut inside a frame: %v, want io.ErrUnexpectedEOF", err)
	}
}
