package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/securechat/securechat/e2e"
)

// A file transfer: the offer and the accept travel in DATA records of the
// chat session; the file goes over a stream of its own (here a buffer), as
// a header frame and one frame per chunk, under a key both sides derive
// from the session and the offer.
func ExampleSession_SendFileKey() {
	alice, bob := sessionPair()
	file := bytes.Repeat([]byte("quarterly numbers\n"), 5000) // 90000 bytes: two chunks

	// Alice offers the file; Bob accepts it from the start (chunk 0).
	offer, err := e2e.NewFileOffer("numbers.txt", uint64(len(file)), sha256.Sum256(file))
	if err != nil {
		log.Fatal(err)
	}
	got := exchange(alice, bob, offer.Encode(), e2e.ParseFileOffer)
	accept := exchange(bob, alice, e2e.FileAccept{ID: got.ID, From: 0}.Encode(), e2e.ParseFileAccept)

	// Alice streams the chunks Bob asked for.
	sendKey, err := alice.SendFileKey(offer)
	if err != nil {
		log.Fatal(err)
	}
	defer sendKey.Wipe()
	sealer, err := sendKey.NewSealer(accept.From)
	if err != nil {
		log.Fatal(err)
	}
	var stream bytes.Buffer
	e2e.WriteFrame(&stream, sealer.Header().Encode())
	for !sealer.Done() {
		off := sealer.Next() * e2e.FileChunkSize
		chunk, err := sealer.Seal(file[off : off+uint64(sealer.ChunkLen())])
		if err != nil {
			log.Fatal(err)
		}
		e2e.WriteFrame(&stream, chunk)
	}

	// Bob reads the stream with the file frame limit and checks the whole
	// file's SHA-256 against the offer before showing it as done.
	r := bufio.NewReader(&stream)
	hb, err := e2e.ReadFrame(r, e2e.MaxFileFrameSize)
	if err != nil {
		log.Fatal(err)
	}
	header, err := e2e.ParseFileStreamHeader(hb)
	if err != nil {
		log.Fatal(err)
	}
	recvKey, err := bob.RecvFileKey(got)
	if err != nil {
		log.Fatal(err)
	}
	defer recvKey.Wipe()
	opener, err := recvKey.NewOpener(header, accept.From)
	if err != nil {
		log.Fatal(err)
	}
	var received []byte
	for !opener.Done() {
		chunk, err := e2e.ReadFrame(r, e2e.MaxFileFrameSize)
		if err != nil {
			log.Fatal(err) // a stream cut before the final chunk
		}
		pt, err := opener.Open(chunk)
		if err != nil {
			log.Fatal(err)
		}
		received = append(received, pt...)
	}
	fmt.Println(got.Name, len(received), sha256.Sum256(received) == got.SHA256)
	// Output: numbers.txt 90000 true
}

// exchange seals a file record into a DATA record from one side and parses
// it on the other.
func exchange[T any](from, to *e2e.Session, rec []byte, parse func([]byte) (T, error)) T {
	sealed, err := from.Seal(rec)
	if err != nil {
		log.Fatal(err)
	}
	_, pt, err := to.Open(sealed)
	if err != nil {
		log.Fatal(err)
	}
	v, err := parse(pt)
	if err != nil {
		log.Fatal(err)
	}
	return v
}
