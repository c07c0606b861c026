package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/securechat/securechat/e2e"
)

// newHostileNode starts a test node whose handshake and frame deadlines
// are 1.5 s instead of 10 s, so that the hostile cases need not wait for
// the real values.
func newHostileNode(t *testing.T, name string) *testNode {
	t.Helper()
	s := testSettings(t, name)
	s.handshakeTimeout, s.frameTimeout = 1500*time.Millisecond, 1500*time.Millisecond
	return newTestNodeWith(t, name, s)
}

// attacker is a bare libp2p host connected to the victim.
type attacker struct {
	host.Host
	victim peer.ID
	id     *e2e.Identity // its RSA identity, chosen at its first handshake
}

func newAttacker(t *testing.T, v *testNode) *attacker {
	t.Helper()
	r := rawHost(t)
	info, err := peer.AddrInfoFromP2pAddr(v.addr(t, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.Connect(ctx, *info); err != nil {
		t.Fatal(err)
	}
	return &attacker{Host: r, victim: info.ID}
}

// stream opens a chat stream to the victim, or returns nil if the victim's
// limits refused it.
func (a *attacker) stream() network.Stream {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.NewStream(ctx, a.victim, protocol.ID(e2e.ProtocolID))
	if err != nil {
		return nil
	}
	return s
}

// initiator returns a real initiator handshake from the attacker's own
// identity, for messages of valid structure.
func (a *attacker) initiator(t *testing.T) *e2e.Handshake {
	t.Helper()
	if a.id == nil {
		a.id = mustFixtureIdentity(t, "attacker")
	}
	id := a.id
	b, err := e2e.NewBundle(id, []byte(a.ID()), hostSigner{a.Peerstore().PrivKey(a.ID())})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e2e.NewInitiator(e2e.HandshakeConfig{Identity: id, Bundle: b,
		LocalPeerID: []byte(a.ID()), RemotePeerID: []byte(a.victim), VerifyHost: verifyHost})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func frame(b []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(b))), b...) }

// waitReset reports whether the victim ended s (reset or closed) within d.
func waitReset(s network.Stream, d time.Duration) bool {
	_ = s.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1024)
	for {
		if _, err := s.Read(buf); err != nil {
			return !isTimeout(err)
		}
	}
}

// msg1Parts splits a valid message 1 into its offsets: the ephemeral key
// and the bundle (see e2e/PROTOCOL.md).
func msg1Parts(m []byte) (eph, bundle int) {
	eph = 2 + 2*int(m[1])
	return eph, eph + 32 + 32 + 2
}

// withHugeKey rewrites message 1 so that its bundle carries an 8192-bit
// signing key (a random odd modulus: the policy must refuse it before any
// arithmetic, so no private key is needed).
func withHugeKey(t *testing.T, m []byte) []byte {
	t.Helper()
	_, off := msg1Parts(m)
	b := m[off:]
	rd := func(i int) (int, int) { n := int(binary.BigEndian.Uint16(b[i:])); return i + 2, i + 2 + n }
	_, peerEnd := rd(1)
	sigStart, sigEnd := rd(peerEnd)
	nBig, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 8192))
	if err != nil {
		t.Fatal(err)
	}
	nBig.SetBit(nBig, 8191, 1).SetBit(nBig, 0, 1)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: nBig, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	nb := append([]byte{}, b[:sigStart-2]...)
	nb = binary.BigEndian.AppendUint16(nb, uint16(len(der)))
	nb = append(nb, der...)
	nb = append(nb, b[sigEnd:]...)
	out := append([]byte{}, m[:off-2]...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(nb)))
	return append(out, nb...)
}

// chatter keeps two honest nodes talking and measures the round trip from
// Send to Delivered.
type chatter struct {
	mu        sync.Mutex
	sent      map[string]time.Time // message ID -> when Send was called
	delivered map[string]time.Time // message ID -> when its Delivered was seen
	errs      int
	stop      chan struct{}
	done      sync.WaitGroup
	from      *testNode
	to        *testNode
}

func startChatter(a, b *testNode) *chatter {
	c := &chatter{sent: map[string]time.Time{}, delivered: map[string]time.Time{}, stop: make(chan struct{}), from: a, to: b}
	c.done.Add(2)
	go func() { // sender
		defer c.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			id, err := a.Send(context.Background(), b.PeerID(), fmt.Sprintf("honest %d", i))
			c.mu.Lock()
			if err != nil {
				c.errs++
			} else {
				c.sent[id] = t0
			}
			c.mu.Unlock()
		}
	}()
	go func() { // watcher of Delivered events
		defer c.done.Done()
		// A Delivered can be seen before Send returned its ID, so every
		// one is kept and matched at the end (rtts). After stop, the
		// watcher waits a bounded time for the last receipts; a missing
		// one then fails the test instead of hanging it.
		var deadline <-chan time.Time
		seen := 0
		for {
			evs := a.ev.snapshot()
			now := time.Now()
			c.mu.Lock()
			for _, e := range evs[seen:] {
				if d, ok := e.(Delivered); ok && d.PeerID == b.PeerID() {
					c.delivered[d.ID] = now
				}
			}
			complete := len(c.delivered) >= len(c.sent)
			c.mu.Unlock()
			seen = len(evs)
			select {
			case <-c.stop:
				if complete {
					return
				}
				if deadline == nil {
					deadline = time.After(waitTimeout)
				}
			default:
			}
			select {
			case <-time.After(5 * time.Millisecond):
			case <-deadline:
				return
			case <-a.ev.done:
				return
			}
		}
	}()
	return c
}

// rtts returns the round trips of the delivered messages. Call it after
// done.
func (c *chatter) rtts() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for id, t0 := range c.sent {
		if t1, ok := c.delivered[id]; ok {
			out = append(out, t1.Sub(t0))
		}
	}
	return out
}

// heapSampler records the peak HeapInuse of the test process.
func heapSampler() (peak func() uint64, stop func()) {
	var max atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max.Load() {
				max.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return max.Load, func() { once.Do(func() { close(quit); <-done }) }
}

// TestHostilePeers runs every hostile case of docs/SECURITY.md against one
// victim node over real hosts on 127.0.0.1 while two honest nodes (the
// victim and bob) keep chatting: every honest message must be delivered,
// the honest session must stay up, and the process heap stays bounded.
//
// It does not run in parallel with other tests: it bounds the heap of the
// whole process, and its flood bound allows only a token or two of refill
// while the flood runs.
func TestHostilePeers(t *testing.T) {
	peak, stopHeap := heapSampler()
	defer stopHeap()
	v, bob := newHostileNode(t, "victim"), newHostileNode(t, "bob")
	bob.connect(t, v)
	chat := startChatter(bob, v)
	start := time.Now()
	failedBefore := func() int { return v.ev.count(isAlert(AlertHandshakeFailed)) }

	t.Run("garbage on many streams", func(t *testing.T) {
		var wg sync.WaitGroup
		for h := 0; h < 4; h++ {
			a := newAttacker(t, v)
			wg.Add(1)
			go func() {
				defer wg.Done()
				junk := make([]byte, 2048)
				for i := 0; i < 25; i++ {
					if s := a.stream(); s != nil {
						_, _ = rand.Read(junk)
						_, _ = s.Write(junk)
						waitReset(s, 5*time.Second)
						_ = s.Reset()
					}
				}
			}()
		}
		wg.Wait()
	})

	t.Run("handshake frames", func(t *testing.T) {
		a := newAttacker(t, v)
		hugeKey := withHugeKey(t, mustMsg1(t, a.initiator(t)))
		lowOrder := mustMsg1(t, a.initiator(t))
		eph, _ := msg1Parts(lowOrder)
		copy(lowOrder[eph:eph+32], make([]byte, 32)) // the all-zero low-order point
		cases := []struct {
			name string
			send []byte
		}{
			{"varint 2^40", binary.AppendUvarint(nil, 1<<40)},
			{"one byte over the cap", binary.AppendUvarint(nil, e2e.MaxHandshakeMessage+1)},
			{"truncated", frame(mustMsg1(t, a.initiator(t)))[:100]},
			{"RSA-8192 key in the bundle", frame(hugeKey)},
			{"low-order X25519 point", frame(lowOrder)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := failedBefore()
				s := a.stream()
				if s == nil {
					t.Fatal("stream refused")
				}
				_, _ = s.Write(tc.send)
				if !waitReset(s, 5*time.Second) {
					t.Fatal("victim did not reset the stream")
				}
				v.ev.waitN(t, "handshake_failed", before+1, isAlert(AlertHandshakeFailed))
			})
		}
	})

	t.Run("idle streams", func(t *testing.T) {
		a := newAttacker(t, v)
		var streams []network.Stream
		for i := 0; i < 300; i++ {
			if s := a.stream(); s != nil {
				streams = append(streams, s)
			}
		}
		open := 0
		for _, c := range v.host.Network().ConnsToPeer(a.ID()) {
			for _, s := range c.GetStreams() {
				if s.Protocol() == protocol.ID(e2e.ProtocolID) {
					open++
				}
			}
		}
		t.Logf("300 idle streams asked, %d opened on the attacker's side, %d held by the victim", len(streams), open)
		if open > chatStreamsPerPeer {
			t.Fatalf("victim holds %d chat streams of one peer, cap %d", open, chatStreamsPerPeer)
		}
		for _, s := range streams {
			_ = s.Reset()
		}
	})

	t.Run("slow sender", func(t *testing.T) {
		a := newAttacker(t, v)
		s := a.stream()
		if s == nil {
			t.Fatal("stream refused")
		}
		m := frame(mustMsg1(t, a.initiator(t)))
		t0 := time.Now()
		cut := make(chan bool, 1)
		go func() { cut <- waitReset(s, 10*time.Second) }()
	loop:
		for i := 0; i < 10; i++ { // one byte a second
			if _, err := s.Write(m[i : i+1]); err != nil {
				break
			}
			select {
			case <-cut:
				cut <- true
				break loop
			case <-time.After(time.Second):
			}
		}
		if !<-cut {
			t.Fatal("slow handshake not cut")
		}
		t.Logf("slow handshake cut after %v", time.Since(t0).Round(100*time.Millisecond))
	})

	t.Run("handshake flood with bad signatures", func(t *testing.T) {
		refused := v.admission.refusedCount()
		var wg sync.WaitGroup
		var completed, noStream, noM2 atomic.Int64
		for h := 0; h < 3; h++ {
			a := newAttacker(t, v)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				hs := a.initiator(t)
				go func() {
					defer wg.Done()
					s := a.stream()
					if s == nil {
						noStream.Add(1) // refused by the resource manager
						return
					}
					defer s.Reset()
					_ = s.SetDeadline(time.Now().Add(10 * time.Second))
					m1, _ := hs.WriteMessage()
					if e2e.WriteFrame(s, m1) != nil {
						return
					}
					m2, err := e2e.ReadFrame(bufio.NewReader(s), e2e.MaxHandshakeMessage)
					if err != nil || hs.ReadMessage(m2) != nil {
						noM2.Add(1) // reset before any RSA work
						return
					}
					m3, err := hs.WriteMessage()
					if err != nil {
						return
					}
					m3[len(m3)-100] ^= 1 // inside the PSS signature
					_ = e2e.WriteFrame(s, m3)
					completed.Add(1)
					waitReset(s, 5*time.Second)
				}()
			}
		}
		wg.Wait()
		r := v.admission.refusedCount() - refused
		t.Logf("flood: 60 handshakes from 3 peers: %d reached message 3 (RSA work); %d streams not opened, %d reset before message 2 (%d of them by admission, the rest by the resource manager)",
			completed.Load(), noStream.Load(), noM2.Load(), r)
		// Whichever defense refuses first (the resource manager's
		// per-peer stream limit or the admission gate), at most a
		// per-peer burst of floods reaches the RSA work. The bound
		// allows each bucket a token or two of refill while the flood
		// runs; it does not depend on timing otherwise.
		if limit := int64(3 * (peerHandshakeBurst + 2)); completed.Load() > limit {
			t.Fatalf("%d of 60 flooding handshakes reached the RSA work, want at most %d", completed.Load(), limit)
		}
		// An honest newcomer still gets in.
		carol := newHostileNode(t, "carol")
		carol.connect(t, v)
	})

	t.Run("inside a session", func(t *testing.T) {
		cases := []struct {
			name   string
			attack func(ss *session)
			reason string
		}{
			{"varint 2^40", func(ss *session) { _, _ = ss.st.Write(binary.AppendUvarint(nil, 1<<40)) }, "error"},
			{"one byte over the cap", func(ss *session) { _, _ = ss.st.Write(binary.AppendUvarint(nil, e2e.MaxFrameSize+1)) }, "error"},
			{"truncated frame", func(ss *session) {
				_, _ = ss.st.Write(append(binary.AppendUvarint(nil, 100), make([]byte, 50)...))
				_ = ss.st.CloseWrite()
			}, ""},
			{"slow sender mid-frame", func(ss *session) {
				_, _ = ss.st.Write(binary.AppendUvarint(nil, 1000))
				for i := 0; i < 4; i++ {
					time.Sleep(time.Second)
					if _, err := ss.st.Write([]byte{0}); err != nil {
						return
					}
				}
			}, "timeout"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				m := newHostileNode(t, "mallory")
				m.connect(t, v)
				m.mu.Lock()
				ss := m.peers[v.host.ID()].current
				m.mu.Unlock()
				ss.wmu.Lock()
				tc.attack(ss)
				ss.wmu.Unlock()
				d := v.ev.wait(t, "mallory's session down", func(e Event) bool {
					d, ok := e.(SessionDown)
					return ok && d.PeerID == m.PeerID()
				}).(SessionDown)
				if tc.reason != "" && d.Reason != tc.reason {
					t.Fatalf("session down %q, want %q", d.Reason, tc.reason)
				}
			})
		}
	})

	close(chat.stop)
	attackTime := time.Since(start)
	chat.done.Wait()
	stopHeap()

	if k := v.ev.count(func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == bob.PeerID() }); k != 0 {
		t.Fatalf("the honest session went down %d times", k)
	}
	rtts := chat.rtts()
	chat.mu.Lock()
	defer chat.mu.Unlock()
	if chat.errs != 0 || len(rtts) != len(chat.sent) {
		t.Fatalf("honest chat: %d sent, %d delivered, %d send errors", len(chat.sent), len(rtts), chat.errs)
	}
	got := v.ev.count(func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.PeerID == bob.PeerID() })
	if got != len(chat.sent) {
		t.Fatalf("victim shows %d honest messages of %d", got, len(chat.sent))
	}
	slices.Sort(rtts)
	p := func(q float64) time.Duration {
		return rtts[int(q*float64(len(rtts)-1))].Round(time.Millisecond)
	}
	heap := peak()
	t.Logf("under attack for %v: %d/%d honest messages delivered; round trip send->delivered p50 %v, p95 %v, max %v; process peak HeapInuse %.1f MiB",
		attackTime.Round(time.Second), len(rtts), len(chat.sent), p(0.5), p(0.95), p(1), float64(heap)/(1<<20))
	// A generous bound: the process holds the victim, bob, carol, four
	// mallories and seven attacker hosts.
	if heap > 256<<20 {
		t.Fatalf("peak heap %d MiB", heap>>20)
	}
}

func mustMsg1(t *testing.T, hs *e2e.Handshake) []byte {
	t.Helper()
	m, err := hs.WriteMessage()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
