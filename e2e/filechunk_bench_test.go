package e2e

import "testing"

// Throughput of chunk sealing and opening at FileChunkSize (MB/s is the
// plaintext rate), on one stream as a transfer runs; the per-stream key
// derivation is measured apart (BenchmarkFileStreamStart).

func BenchmarkFileChunkSeal(b *testing.B) {
	send, _ := fileKeys(b, 1<<50)
	s, err := send.NewSealer(0)
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, FileChunkSize)
	b.SetBytes(FileChunkSize)
	for b.Loop() {
		if _, err := s.Seal(pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFileChunkOpen(b *testing.B) {
	send, recv := fileKeys(b, 1<<50)
	s, err := send.NewSealer(0)
	if err != nil {
		b.Fatal(err)
	}
	// One stream of 1024 sealed chunks, opened again and again from a
	// fresh opener: an opener only moves forward.
	const n = 1024
	chunks := make([][]byte, n)
	for i := range chunks {
		if chunks[i], err = s.Seal(make([]byte, FileChunkSize)); err != nil {
			b.Fatal(err)
		}
	}
	var o *FileOpener
	b.SetBytes(FileChunkSize)
	i := 0
	for b.Loop() {
		if i%n == 0 {
			if o, err = recv.NewOpener(s.Header(), 0); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := o.Open(chunks[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFileStreamStart is the cost of starting a stream: chunk key
// derivation and AES-GCM setup.
func BenchmarkFileStreamStart(b *testing.B) {
	send, _ := fileKeys(b, 1<<20)
	for b.Loop() {
		if _, err := send.NewSealer(0); err != nil {
			b.Fatal(err)
		}
	}
}
