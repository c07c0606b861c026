package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// Tests of chunk sealing and opening.

// fileKeys returns the sender's and the receiver's key of a fresh offer of
// size bytes.
func fileKeys(t testing.TB, size uint64) (send, recv *FileKey) {
	t.Helper()
	send, recv, _ = fileKeysBothWays(t, size)
	return send, recv
}

// fileKeysBothWays also returns the key of the same offer sent the other
// way (by the responder).
func fileKeysBothWays(t testing.TB, size uint64) (send, recv, reverse *FileKey) {
	t.Helper()
	si, sr := exporterSessions(t)
	o := testOffer(t, size)
	return mustFileKey(t, si.SendFileKey, o), mustFileKey(t, sr.RecvFileKey, o), mustFileKey(t, sr.SendFileKey, o)
}

func testFileBytes(t testing.TB, size uint64) []byte {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sealFile seals file from chunk first on and returns the header and chunks.
func sealFile(t testing.TB, k *FileKey, file []byte, first uint64) (FileStreamHeader, [][]byte) {
	t.Helper()
	s, err := k.NewSealer(first)
	if err != nil {
		t.Fatalf("NewSealer(%d): %v", first, err)
	}
	var chunks [][]byte
	for !s.Done() {
		off := s.Next() * FileChunkSize
		c, err := s.Seal(file[off : off+uint64(s.ChunkLen())])
		if err != nil {
			t.Fatalf("Seal chunk %d: %v", s.Next(), err)
		}
		chunks = append(chunks, c)
	}
	return s.Header(), chunks
}

func mustOpener(t testing.TB, k *FileKey, h FileStreamHeader) *FileOpener {
	t.Helper()
	o, err := k.NewOpener(h, h.First)
	if err != nil {
		t.Fatalf("NewOpener: %v", err)
	}
	return o
}

func TestFileChunkRoundTrip(t *testing.T) {
	for _, size := range []uint64{0, 1, FileChunkSize - 1, FileChunkSize, FileChunkSize + 1, 3*FileChunkSize + 7} {
		for _, first := range []uint64{0, FileChunks(size) - 1} {
			send, recv := fileKeys(t, size)
			file := testFileBytes(t, size)
			h, chunks := sealFile(t, send, file, first)
			if uint64(len(chunks)) != FileChunks(size)-first {
				t.Fatalf("size %d from %d: %d chunks", size, first, len(chunks))
			}
			// The header travels encoded.
			h, err := ParseFileStreamHeader(h.Encode())
			if err != nil {
				t.Fatal(err)
			}
			o := mustOpener(t, recv, h)
			var got []byte
			for i, c := range chunks {
				if len(c) > MaxFileFrameSize {
					t.Fatalf("chunk of %d bytes over the frame limit", len(c))
				}
				if o.Done() {
					t.Fatalf("size %d: done before chunk %d", size, i)
				}
				pt, err := o.Open(c)
				if err != nil {
					t.Fatalf("size %d: Open chunk %d: %v", size, o.Next(), err)
				}
				got = append(got, pt...)
			}
			if !o.Done() || o.Next() != FileChunks(size) {
				t.Fatalf("size %d: not done after the final chunk", size)
			}
			if !bytes.Equal(got, file[first*FileChunkSize:]) {
				t.Fatalf("size %d from chunk %d: plaintext differs", size, first)
			}
		}
	}
}

func TestFileChunks(t *testing.T) {
	// A chunk frame must pass the frame layer's hard limit.
	if MaxFileFrameSize > MaxFrameSize {
		t.Fatalf("MaxFileFrameSize %d is over MaxFrameSize %d", MaxFileFrameSize, MaxFrameSize)
	}
	for _, c := range []struct{ size, want uint64 }{
		{0, 1}, {1, 1}, {FileChunkSize, 1}, {FileChunkSize + 1, 2},
		{1 << 40, 1 << 24}, {1<<64 - 1, 1 << 48},
	} {
		if got := FileChunks(c.size); got != c.want {
			t.Errorf("FileChunks(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

// checkRefused opens c as the opener's next chunk and expects ErrAuth, then
// checks that the opener stays failed.
func checkRefused(t testing.TB, o *FileOpener, c []byte, valid []byte) {
	t.Helper()
	if pt, err := o.Open(c); err != ErrAuth || pt != nil {
		t.Fatalf("Open = %d bytes, %v; want exactly ErrAuth", len(pt), err)
	}
	if _, err := o.Open(valid); err != ErrAuth {
		t.Fatalf("Open after a failure = %v, want ErrAuth", err)
	}
}

func TestFileChunkEveryByteFlipped(t *testing.T) {
	// A small file (one final chunk) flipped at every byte, and a full
	// chunk flipped at sampled bytes, tag included.
	for _, size := range []uint64{300, FileChunkSize + 1} {
		send, recv := fileKeys(t, size)
		h, chunks := sealFile(t, send, testFileBytes(t, size), 0)
		c := chunks[0]
		for i := 0; i < len(c); i++ {
			if len(c) > 1000 && i > 64 && i < len(c)-64 && i%997 != 0 {
				continue
			}
			for _, bit := range []int{0, 7} {
				checkRefused(t, mustOpener(t, recv, h), flipBit(c, 8*i+bit), c)
			}
		}
	}
}

func TestFileChunkMisplaced(t *testing.T) {
	const size = 3*FileChunkSize + 10
	send, recv, reverse := fileKeysBothWays(t, size)
	file := testFileBytes(t, size)
	h, chunks := sealFile(t, send, file, 0)
	_, other := sealFile(t, send, file, 0) // same file, another stream

	// Valid up to the chunk before the tested position.
	openerAt := func(t *testing.T, n int) *FileOpener {
		o := mustOpener(t, recv, h)
		for _, c := range chunks[:n] {
			if _, err := o.Open(c); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	t.Run("replayed", func(t *testing.T) { checkRefused(t, openerAt(t, 2), chunks[1], chunks[2]) })
	t.Run("reordered", func(t *testing.T) { checkRefused(t, openerAt(t, 1), chunks[2], chunks[1]) })
	t.Run("skipped", func(t *testing.T) { checkRefused(t, openerAt(t, 0), chunks[1], chunks[0]) })
	t.Run("another stream", func(t *testing.T) { checkRefused(t, openerAt(t, 1), other[1], chunks[1]) })
	t.Run("after final", func(t *testing.T) { checkRefused(t, openerAt(t, 4), chunks[3], chunks[3]) })
	t.Run("short", func(t *testing.T) { checkRefused(t, openerAt(t, 1), chunks[1][:len(chunks[1])-1], chunks[1]) })
	t.Run("long", func(t *testing.T) { checkRefused(t, openerAt(t, 3), append(bytes.Clone(chunks[3]), 0), chunks[3]) })
	t.Run("empty", func(t *testing.T) { checkRefused(t, openerAt(t, 0), nil, chunks[0]) })
	t.Run("truncated stream", func(t *testing.T) {
		if o := openerAt(t, 3); o.Done() {
			t.Fatal("a stream cut before its final chunk is done")
		}
	})
	t.Run("header at another index", func(t *testing.T) {
		// A header changed in transit to start one chunk later: the
		// opener then expects chunk 1 and gets chunk 0.
		h2 := h
		h2.First = 1
		checkRefused(t, mustOpener(t, recv, h2), chunks[0], chunks[1])
	})
	t.Run("header with another salt", func(t *testing.T) {
		h2 := h
		h2.Salt[0] ^= 1
		checkRefused(t, mustOpener(t, recv, h2), chunks[0], chunks[0])
	})
	t.Run("other direction's key", func(t *testing.T) {
		checkRefused(t, mustOpener(t, reverse, h), chunks[0], chunks[0])
	})

	// Below the stream API: the associated data binds index, file ID and
	// the final flag, even under the same chunk key.
	f, err := newFileStream(recv, &h)
	if err != nil {
		t.Fatal(err)
	}
	open := func(id FileID, index uint64, final bool, c []byte) bool {
		g := *f
		g.id = id
		_, ok := g.openChunk(nil, index, final, c)
		return ok
	}
	var otherID FileID
	otherID[15] = 1
	small := f.sealChunk(nil, 7, false, []byte("x"))
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"as sealed", open(h.ID, 1, false, chunks[1]) && open(h.ID, 3, true, chunks[3])},
		{"at another index", !open(h.ID, 2, false, chunks[1])},
		{"moved to another file ID", !open(otherID, 1, false, chunks[1])},
		{"non-final presented as final", !open(h.ID, 1, true, chunks[1])},
		{"final presented as non-final", !open(h.ID, 3, false, chunks[3])},
		{"small chunk at its index", open(h.ID, 7, false, small)},
		{"index differing in the high bytes", !open(h.ID, 7|1<<56, false, small)},
		{"shorter than a tag", !open(h.ID, 7, false, small[:15])},
	} {
		if !c.ok {
			t.Errorf("%s: wrong result", c.name)
		}
	}
}

func TestFileSealerMisuse(t *testing.T) {
	const size = FileChunkSize + 5
	send, recv := fileKeys(t, size)
	if _, err := send.NewSealer(2); !errors.Is(err, ErrFileRecord) {
		t.Errorf("NewSealer past the end = %v, want ErrFileRecord", err)
	}
	s, err := send.NewSealer(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(make([]byte, 5)); err == nil {
		t.Error("sealed a short non-final chunk")
	}
	if _, err := s.Seal(make([]byte, FileChunkSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(make([]byte, FileChunkSize)); err == nil {
		t.Error("sealed a final chunk of the wrong length")
	}
	if _, err := s.Seal(make([]byte, 5)); err != nil || !s.Done() || s.ChunkLen() != 0 {
		t.Fatalf("final chunk: %v", err)
	}
	if _, err := s.Seal(nil); err == nil {
		t.Error("sealed past the final chunk")
	}

	// Two streams of one file from the same index use different keys:
	// the same plaintext seals differently.
	a, _ := send.NewSealer(0)
	b, _ := send.NewSealer(0)
	ca, _ := a.Seal(make([]byte, FileChunkSize))
	cb, _ := b.Seal(make([]byte, FileChunkSize))
	if a.Header().Salt == b.Header().Salt || bytes.Equal(ca, cb) {
		t.Fatal("two streams share a chunk key")
	}

	h := s.Header()
	for _, c := range []struct {
		name  string
		h     FileStreamHeader
		first uint64
	}{
		{"another file", FileStreamHeader{ID: FileID{1}, Salt: h.Salt}, 0},
		{"not the index asked for", FileStreamHeader{ID: h.ID, First: 1, Salt: h.Salt}, 0},
		{"past the end", FileStreamHeader{ID: h.ID, First: 2, Salt: h.Salt}, 2},
	} {
		if _, err := recv.NewOpener(c.h, c.first); !errors.Is(err, ErrFileRecord) {
			t.Errorf("NewOpener, %s: %v, want ErrFileRecord", c.name, err)
		}
	}
	if _, err := send.newSealer(failReader{}, 0); err == nil {
		t.Error("NewSealer without randomness succeeded")
	}
}

// TestFileChunkToBuffers: SealTo appends the same chunk Seal returns, and
// OpenTo opens in place, into the frame's own buffer.
func TestFileChunkToBuffers(t *testing.T) {
	const size = 2*FileChunkSize + 9
	send, recv := fileKeys(t, size)
	file := testFileBytes(t, size)
	h, chunks := sealFile(t, send, file, 0)
	// A second sealer with the first one's salt seals the same bytes.
	s, err := send.NewSealer(0)
	if err != nil {
		t.Fatal(err)
	}
	s.f, err = newFileStream(send, &h)
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, recv, h)
	prefix := []byte("frame prefix")
	for i, want := range chunks {
		off := s.Next() * FileChunkSize
		got, err := s.SealTo(bytes.Clone(prefix), file[off:off+uint64(s.ChunkLen())])
		if err != nil || !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
			t.Fatalf("SealTo chunk %d differs from Seal (%v)", i, err)
		}
		buf := bytes.Clone(want)
		pt, err := o.OpenTo(buf[:0], buf)
		if err != nil || !bytes.Equal(pt, file[off:off+uint64(len(pt))]) || &pt[:1][0] != &buf[:1][0] {
			t.Fatalf("OpenTo chunk %d: %v", i, err)
		}
	}
}
