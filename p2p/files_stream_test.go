package p2p

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/files"
)

// streamPair makes a sealer and an opener of one file of size bytes, from
// the two ends of a live session.
func streamPair(tb testing.TB, ends [2]*e2e.Session, size uint64) (*e2e.FileSealer, func(h e2e.FileStreamHeader) *e2e.FileOpener) {
	tb.Helper()
	o, err := e2e.NewFileOffer("f", size, [32]byte{})
	if err != nil {
		tb.Fatal(err)
	}
	sk, err := ends[0].SendFileKey(o)
	if err != nil {
		tb.Fatal(err)
	}
	rk, err := ends[1].RecvFileKey(o)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := sk.NewSealer(0)
	if err != nil {
		tb.Fatal(err)
	}
	return s, func(h e2e.FileStreamHeader) *e2e.FileOpener {
		op, err := rk.NewOpener(h, 0)
		if err != nil {
			tb.Fatal(err)
		}
		return op
	}
}

// sessionEnds connects two nodes and returns both ends of their session.
func sessionEnds(t *testing.T) [2]*e2e.Session {
	t.Helper()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	sa, sb := a.liveSession(b.host.ID()), b.liveSession(a.host.ID())
	if sa == nil || sb == nil {
		t.Fatal("no live session")
	}
	return [2]*e2e.Session{sa.sec, sb.sec}
}

// runPipe sends content through Send and Receive over a socket pair into a
// partial file and returns the receive error.
func runPipe(tb testing.TB, ends [2]*e2e.Session, content []byte, edit func([]byte) []byte) (*files.Partial, error) {
	tb.Helper()
	sealer, opener := streamPair(tb, ends, uint64(len(content)))
	c1, c2 := net.Pipe()
	sendErr := make(chan error, 1)
	go func() {
		var w io.Writer = c1
		if edit != nil {
			w = editWriter{c1, edit}
		}
		err := files.Send(w, bytes.NewReader(content), sealer, nil, nil)
		_ = c1.Close()
		sendErr <- err
	}()
	br := bufio.NewReader(c2)
	frame, err := e2e.ReadFrame(br, e2e.MaxFileFrameSize)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := e2e.ParseFileStreamHeader(frame)
	if err != nil {
		tb.Fatal(err)
	}
	part, err := files.OpenPartial(files.PartialPath(tb.TempDir(), "k"), int64(len(content)), 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	err = files.Receive(br, opener(h), part, func() { _ = c2.Close() }, nil)
	_ = c2.Close()
	<-sendErr
	return part, err
}

type editWriter struct {
	w    io.Writer
	edit func([]byte) []byte
}

func (e editWriter) Write(b []byte) (int, error) {
	if _, err := e.w.Write(e.edit(bytes.Clone(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

func TestFileStreamLoops(t *testing.T) {
	ends := sessionEnds(t)
	for _, size := range []int{0, 1, e2e.FileChunkSize, 5*e2e.FileChunkSize + 3} {
		content := make([]byte, size)
		_, _ = rand.Read(content)
		part, err := runPipe(t, ends, content, nil)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		path, err := part.Finish(sha256.Sum256(content), "f", "")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, content) {
			t.Fatalf("%d bytes differ", size)
		}
		_ = os.Remove(path)
	}
	// Cut after the header and two chunks: ErrCut, the chunks kept.
	content := make([]byte, 4*e2e.FileChunkSize)
	cut := 0
	part, err := runPipe(t, ends, content, func(b []byte) []byte {
		keep := max(0, min(len(b), 58+2*(e2e.FileChunkSize+19)-cut))
		cut += len(b)
		return b[:keep]
	})
	if !errors.Is(err, files.ErrCut) || part.Chunks() != 2 {
		t.Fatalf("cut stream: %v, %d chunks kept", err, part.Chunks())
	}
}
