package p2p

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p/store"
)

// TestRedialConcurrencyCap: with many recent contacts whose address
// accepts TCP and then says nothing (every dial hangs until its timeout),
// the redialer never runs more than maxRedialsInFlight dials at once.
func TestRedialConcurrencyCap(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	// Cleanups run last first: the node closes before the listener.
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	v := newTestNode(t, "victim")
	addr := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	const k = 3 * maxRedialsInFlight
	var fp [32]byte
	for i := range k {
		id := testPeerID(t)
		fp[0] = byte(i + 1)
		if err := v.store.PutContact(store.Contact{PeerID: id.String(), Fingerprint: fp, Trust: TrustPinned,
			Addrs: []string{addr}, FirstSeen: time.Now(), LastSeen: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	v.redial.kick()
	most := 0
	deadline := time.Now().Add(3 * redialFirst)
	for time.Now().Before(deadline) || most == 0 {
		v.redial.mu.Lock()
		most = max(most, v.redial.inflight)
		v.redial.mu.Unlock()
		if time.Now().After(deadline.Add(waitTimeout)) {
			t.Fatal("no redial started")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("%d contacts due: at most %d redials at once", k, most)
	if most > maxRedialsInFlight {
		t.Fatalf("%d redials at once, cap %d", most, maxRedialsInFlight)
	}
}
