package e2e

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// Fuzz targets of file transfer: every record parser never panics, and what
// it accepts re-encodes to the same bytes (one encoding); opening a chunk
// accepts nothing but what was sealed. Seeds come from the vector file and
// from sampleFileRecords.

// fileVectorSeed returns a value of testdata/filetransfer.txt.
func fileVectorSeed(f *testing.F, key string) []byte {
	f.Helper()
	b, err := os.ReadFile(fileVectorPath)
	if err != nil {
		f.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), key+": "); ok {
			seed, err := hex.DecodeString(v)
			if err != nil {
				f.Fatalf("%s: %v", key, err)
			}
			return seed
		}
	}
	f.Fatalf("%s lacks %q", fileVectorPath, key)
	return nil
}

func fuzzFileRecord(f *testing.F, typ byte, vectorKey string) {
	f.Add(sampleFileRecords(f)[typ])
	f.Add(fileVectorSeed(f, vectorKey))
	f.Add([]byte{typ})
	p := fileRecordParsers[typ]
	f.Fuzz(func(t *testing.T, b []byte) {
		enc, err := p.parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("%s accepted %x, which re-encodes as %x", p.name, b, enc)
		}
	})
}

func FuzzParseFileOffer(f *testing.F)        { fuzzFileRecord(f, FileOfferType, "offer") }
func FuzzParseFileAccept(f *testing.F)       { fuzzFileRecord(f, FileAcceptType, "accept") }
func FuzzParseFileReject(f *testing.F)       { fuzzFileRecord(f, FileRejectType, "reject") }
func FuzzParseFileStreamHeader(f *testing.F) { fuzzFileRecord(f, FileStreamType, "stream header") }

// FuzzOpenFileChunk feeds an opener of a fixed stream a first chunk: only
// the chunk sealed for that place opens, and its plaintext is the file's.
func FuzzOpenFileChunk(f *testing.F) {
	const size = 40
	file := vectorFileBytes(size)
	send, recv := fileKeys(f, size)
	h, chunks := sealFile(f, send, file, 0)
	f.Add(chunks[0])
	f.Add(fileVectorSeed(f, "chunk 1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, c []byte) {
		o := mustOpener(t, recv, h)
		pt, err := o.Open(c)
		if err != nil {
			if err != ErrAuth || pt != nil {
				t.Fatalf("Open = %x, %v; want nil, ErrAuth", pt, err)
			}
			return
		}
		if !bytes.Equal(c, chunks[0]) || !bytes.Equal(pt, file) || !o.Done() {
			t.Fatalf("opened a chunk that was never sealed: %x", c)
		}
	})
}
