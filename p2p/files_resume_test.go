package p2p

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// fileHome is a persistent node that can be closed and started again on the
// same home (store, downloads, port), as after a crash or a restart.
type fileHome struct {
	t         *testing.T
	name, dir string
	keys      nodeKeys
	set       settings
	port      string
	cur       *testNode
}

func newFileHome(t *testing.T, name string, set settings) *fileHome {
	t.Helper()
	keys, err := freshKeys(set.newIdentity)
	if err != nil {
		t.Fatal(err)
	}
	h := &fileHome{t: t, name: name, dir: t.TempDir(), keys: keys, set: set, port: "0"}
	h.start()
	return h
}

func (h *fileHome) downloads() string { return filepath.Join(h.dir, "downloads") }

func (h *fileHome) start() {
	t := h.t
	t.Helper()
	st, err := store.Open(filepath.Join(h.dir, storeName), h.keys.storage)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	listen := []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/" + h.port)}
	n, err := start(context.Background(), Config{ListenAddrs: listen, Name: h.name, Home: h.dir}, h.set, h.keys, st)
	if err != nil {
		st.Close()
		t.Fatalf("start %s: %v", h.name, err)
	}
	h.cur = wrap(t, n)
	if h.port == "0" {
		h.port = strings.Split(h.cur.addr(t, "tcp").String(), "/")[4]
	}
}

func (h *fileHome) stop() {
	h.t.Helper()
	if err := h.cur.Close(); err != nil {
		h.t.Fatalf("close %s: %v", h.name, err)
	}
	<-h.cur.ev.done
}

// resumeCase sends a file of 96 chunks from a to b, slowed down on b's side,
// stops one side at about half way, starts it again, and checks that the
// file completes identical and that the sender was asked for no chunk b
// had already verified.
func resumeCase(t *testing.T, stopSender bool) {
	var mu sync.Mutex
	var froms []uint64
	aset := testSettings(t, "alice")
	aset.fileRetry = 100 * time.Millisecond
	aset.fileTest = &fileTestHooks{sealed: func(from uint64, _ bool) {
		mu.Lock()
		froms = append(froms, from)
		mu.Unlock()
	}}
	bset := testSettings(t, "bob")
	bset.fileRetry = 100 * time.Millisecond
	bset.fileTest = &fileTestHooks{recvDelay: 3 * time.Millisecond}
	a, b := newFileHome(t, "alice", aset), newFileHome(t, "bob", bset)
	a.cur.connect(t, b.cur)
	const chunks = 96
	path, content := writeTestFile(t, "big.bin", chunks*e2e.FileChunkSize-100)
	_, id, err := a.cur.SendFile(context.Background(), b.cur.PeerID(), path)
	if err != nil {
		t.Fatal(err)
	}
	b.cur.ev.wait(t, "offer", isFileOffered(id))
	if err := b.cur.AcceptFile(id, ""); err != nil {
		t.Fatal(err)
	}
	half := int64(len(content) / 2)
	b.cur.ev.wait(t, "half way", func(e Event) bool {
		p, ok := e.(FileProgress)
		return ok && p.FileID == id && p.Bytes >= half
	})
	var held int64
	if stopSender {
		a.stop()
	} else {
		b.stop()
		for _, tr := range b.cur.Transfers() {
			held = tr.Bytes
		}
		// The kept partial file is hidden, 0600, in the download folder.
		ents, _ := os.ReadDir(b.downloads())
		if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".securechat-") {
			t.Fatalf("download folder after the stop: %v", ents)
		}
	}
	// The node that restarted dials: the other one's dialer may be in
	// its backoff.
	if stopSender {
		a.start()
		a.cur.connect(t, b.cur)
	} else {
		b.start()
		b.cur.connect(t, a.cur)
	}
	done := b.cur.ev.wait(t, "file done", isFileDone(id)).(FileDone)
	a.cur.ev.wait(t, "file done (sender)", isFileDone(id))
	got, err := os.ReadFile(done.Path)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("resumed file differs (%d bytes, %v)", len(got), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(froms) < 2 || froms[0] != 0 {
		t.Fatalf("streams started at chunks %v", froms)
	}
	last := froms[len(froms)-1]
	if last == 0 || last < uint64(held/e2e.FileChunkSize) {
		t.Errorf("resumed at chunk %d, but %d bytes were verified before the stop", last, held)
	}
	t.Logf("streams from chunks %v; %d bytes held at the stop", froms, held)
}

func TestFileResumeReceiverRestart(t *testing.T) { resumeCase(t, false) }

func TestFileResumeSenderRestart(t *testing.T) { resumeCase(t, true) }

// TestFileToOfflinePeer offers a file to a contact that is offline: the
// offer waits, survives the sender's restart, and goes out when a session
// comes up.
func TestFileToOfflinePeer(t *testing.T) {
	a, b := newFileHome(t, "alice", testSettings(t, "alice")), newFileHome(t, "bob", testSettings(t, "bob"))
	a.cur.connect(t, b.cur)
	b.stop()
	path, content := writeTestFile(t, "later.txt", 70000)
	_, id, err := a.cur.SendFile(context.Background(), b.cur.PeerID(), path)
	if err != nil {
		t.Fatal(err)
	}
	if tr := a.cur.Transfers(); len(tr) != 1 || tr[0].State != TransferOffered || tr[0].Waiting != WaitingAccept {
		t.Fatalf("transfers: %+v", tr)
	}
	a.stop()
	a.start()
	b.start()
	b.cur.connect(t, a.cur)
	b.cur.ev.wait(t, "offer", isFileOffered(id))
	if err := b.cur.AcceptFile(id, ""); err != nil {
		t.Fatal(err)
	}
	done := b.cur.ev.wait(t, "done", isFileDone(id)).(FileDone)
	a.cur.ev.wait(t, "done (sender)", isFileDone(id))
	if got, _ := os.ReadFile(done.Path); !bytes.Equal(got, content) || filepath.Base(done.Path) != "later.txt" {
		t.Fatalf("got %s (%d bytes)", done.Path, len(got))
	}
}
