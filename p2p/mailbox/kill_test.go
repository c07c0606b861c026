package mailbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"
)

// The kill test runs the mailbox in a child process (this test binary,
// re-executed into TestKillChild), deposits into it from several streams
// at once while the owner fetches, and kills it with SIGKILL mid-flight.
// Then every acknowledged deposit must be in the store, whole, and the
// store must agree with itself.

const (
	envKillDir   = "SECURECHAT_MAILBOX_KILL_DIR"
	envKillOwner = "SECURECHAT_MAILBOX_KILL_OWNER"
)

// TestKillChild is the child's side: a mailbox that prints its address
// and serves until killed (or its stdin closes). It does nothing in a
// normal run.
func TestKillChild(t *testing.T) {
	dir, owner := os.Getenv(envKillDir), os.Getenv(envKillOwner)
	if dir == "" {
		t.Skip("the child of TestKillDuringDeposit")
	}
	id, err := peer.Decode(owner)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrs(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv, err := NewServer(h, ServerConfig{Dir: dir, Owners: []peer.ID{id}, RequestsPerSecond: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fmt.Printf("MAILBOX %s/p2p/%s\n", h.Addrs()[0], h.ID())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestKillDuringDeposit(t *testing.T) {
	t.Parallel()
	for round := 0; round < 2; round++ {
		killRound(t, 10+40*round)
	}
}

// killRound kills a child mailbox after acked acknowledged deposits.
func killRound(t *testing.T, acked int) {
	t.Helper()
	dir := t.TempDir()
	owner, sender := newHost(t), newHost(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillDir+"="+dir, envKillOwner+"="+owner.ID().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	lines := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "MAILBOX "); ok {
				lines <- a
			}
		}
	}()
	var addr string
	select {
	case addr = <-lines:
	case <-time.After(waitTimeout):
		t.Fatal("the child mailbox did not start")
	}
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []interface{ Peerstore() peerstore.Peerstore }{owner, sender} {
		h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	mb, oc, sc := info.ID, NewClient(owner), NewClient(sender)
	cp := newCap(t)
	if err := oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}

	var (
		mu   sync.Mutex
		sent = map[string]bool{} // envelope -> acknowledged
		wg   sync.WaitGroup
		ack  = make(chan struct{}, 1000)
	)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				env := fakeEnvelope(t, 2<<10)
				mu.Lock()
				sent[string(env)] = false
				mu.Unlock()
				if err := sc.Deposit(ctx, mb, cp, env); err != nil {
					return // the kill
				}
				mu.Lock()
				sent[string(env)] = true
				mu.Unlock()
				ack <- struct{}{}
			}
		}()
	}
	wg.Add(1)
	go func() { // the owner fetches meanwhile
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := oc.Fetch(ctx, mb, 16); err != nil {
				return
			}
		}
	}()
	for i := 0; i < acked; i++ {
		select {
		case <-ack:
		case <-ctx.Done():
			t.Fatalf("only %d deposits acknowledged", i)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()
	wg.Wait()

	d, err := openDB(dir)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer d.close()
	checkConsistent(t, d)
	held := map[string]bool{}
	q := d.queue(owner.ID())
	for {
		got, err := d.fetch(q, MaxFetch, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			held[string(s.Data)] = true
		}
		if len(got) < MaxFetch {
			break
		}
		keys := make([][16]byte, len(got))
		for i, s := range got {
			keys[i] = s.Key
		}
		if err := d.remove(q, keys); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	nAcked, unacked := 0, 0
	for env, ok := range sent {
		switch {
		case ok && !held[env]:
			t.Error("an acknowledged deposit is lost")
		case ok:
			nAcked++
		case held[env]:
			unacked++ // stored, its answer lost with the process: fine
		}
	}
	// Keyed by their whole bytes: a torn or mixed envelope is no key.
	for env := range held {
		if _, ok := sent[env]; !ok {
			t.Error("the store holds an envelope that was not sent whole")
		}
	}
	t.Logf("killed after %d acknowledged deposits (%d stored unacknowledged, %d in flight lost)",
		nAcked, unacked, len(sent)-nAcked-unacked)
}
