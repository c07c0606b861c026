package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// fakeNode is a chatNode without keys or sockets. Its behaviour is set by
// its fields before use.
type fakeNode struct {
	mu         sync.Mutex
	events     chan p2p.Event
	peers      []p2p.PeerInfo
	connectErr error
	conn       string // the Conn a successful Connect reports; "" is direct
	sendErr    error
	verifyErr  error
	safetyErr  error
	sentTo     []string
	connects   []string
	invites    []string // ConnectInvite's invites
	inviteErr  error    // what Invite and ConnectInvite answer, if set
	diag       p2p.Diagnostics
	blocked    []string
	unblocked  []string
	forgotten  []string
	name       string // SetName's; Name answers it ("me" before)
	history    map[string][]p2p.HistoryEntry
	closed     bool
	closeOnce  sync.Once
	// waitSend, if set, is what WaitSend does, and SendTo first, as the
	// node's Send waits for room too (it runs without n.mu); else neither
	// waits.
	waitSend func(ctx context.Context) error
	// panics makes the next calls of the named methods ("Peers",
	// "Addrs", "SendTo", "Close" after closing) panic, once per count: a bug in a front-end's
	// event handling, injected.
	panics map[string]int
	files  fakeFiles // fake_files_test.go
}

// maybePanic panics if a panic of method is due; n.mu is held.
func (n *fakeNode) maybePanic(method string) {
	if n.panics[method] > 0 {
		n.panics[method]--
		panic("injected panic in " + method)
	}
}

var _ chatNode = (*fakeNode)(nil)

// fakeSafetyNumber is what the fake's SafetyNumber answers.
const fakeSafetyNumber = "012340123401234012340123401234012340123401234012340123401234"

const (
	fakePeerA = "12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	fakePeerB = "12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
)

var (
	fakeFPA = e2e.Fingerprint{0xaa, 1}
	fakeFPB = e2e.Fingerprint{0xbb, 2}
)

func newFakeNode() *fakeNode {
	n := &fakeNode{events: make(chan p2p.Event, 64)}
	n.events <- p2p.Ready{PeerID: "12D3KooWSelf", Fingerprint: e2e.Fingerprint{1}, Name: "me", Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWSelf"}}
	return n
}

func (n *fakeNode) Events() <-chan p2p.Event { return n.events }

// Connect answers connectErr, or the peer the address names over conn.
func (n *fakeNode) Connect(ctx context.Context, addr multiaddr.Multiaddr) (p2p.Connected, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.connects = append(n.connects, addr.String())
	if n.connectErr != nil {
		return p2p.Connected{}, n.connectErr
	}
	id, err := addr.ValueForProtocol(multiaddr.P_P2P)
	if err != nil {
		return p2p.Connected{}, p2p.ErrBadAddress
	}
	conn := n.conn
	if conn == "" {
		conn = p2p.ConnDirect
	}
	return p2p.Connected{PeerID: id, Conn: conn}, nil
}

// ConnectInvite answers inviteErr or connectErr, or the invite's peer
// over conn. The invite is parsed as the real node does.
// ConnectPeer resolves query among the peers as the real node does and
// "dials" it: connectErr if set, else a session at once. A peer without
// addresses is not modelled.
func (n *fakeNode) ConnectPeer(ctx context.Context, query string) (p2p.Connected, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.connects = append(n.connects, "peer:"+query)
	p, err := p2p.MatchPeer(n.peers, query)
	if err != nil {
		return p2p.Connected{}, err
	}
	if n.connectErr != nil {
		return p2p.Connected{}, n.connectErr
	}
	return p2p.Connected{PeerID: p.PeerID, Conn: p2p.ConnDirect}, nil
}

func (n *fakeNode) ConnectInvite(ctx context.Context, invite string) (p2p.Connected, error) {
	inv, err := p2p.ParseInvite(invite)
	if err != nil {
		return p2p.Connected{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.invites = append(n.invites, invite)
	if n.inviteErr != nil {
		return p2p.Connected{}, n.inviteErr
	}
	if n.connectErr != nil {
		return p2p.Connected{}, n.connectErr
	}
	conn := n.conn
	if conn == "" {
		conn = p2p.ConnDirect
	}
	return p2p.Connected{PeerID: inv.PeerID, Conn: conn}, nil
}

// fakeInvite is what the fake's Invite answers.
const fakeInvite = "securechat:fake-invite"

func (n *fakeNode) Invite() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inviteErr != nil {
		return "", n.inviteErr
	}
	return fakeInvite, nil
}

func (n *fakeNode) Diagnostics() p2p.Diagnostics {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.diag
}

func (n *fakeNode) Mailboxes(context.Context) []p2p.MailboxStatus {
	return []p2p.MailboxStatus{{Addr: "/ip4/192.0.2.9/tcp/4001/p2p/mbox", Reachable: true, Waiting: 2, Bytes: 4096, QuotaBytes: 1 << 30, FreeBytes: 1 << 29}}
}

func (n *fakeNode) Send(ctx context.Context, to, text string) (string, error) {
	_, id, err := n.SendTo(ctx, to, text)
	return id, err
}

// WaitSend runs waitSend, if set.
func (n *fakeNode) WaitSend(ctx context.Context, to string, size int) error {
	n.mu.Lock()
	f := n.waitSend
	n.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(ctx)
}

// SendTo resolves to among the peers as the real node does, by
// p2p.MatchPeer with labels in place of names.
func (n *fakeNode) SendTo(ctx context.Context, to, text string) (string, string, error) {
	if err := n.WaitSend(ctx, to, len(text)); err != nil {
		return "", "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maybePanic("SendTo")
	if n.sendErr != nil {
		return "", "", n.sendErr
	}
	p, err := p2p.MatchPeer(shownPeers(append([]p2p.PeerInfo(nil), n.peers...)), to)
	if err != nil {
		return "", "", err
	}
	n.sentTo = append(n.sentTo, p.PeerID)
	return p.PeerID, "msg-1", nil
}

func (n *fakeNode) SafetyNumber(peerID string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.safetyErr != nil {
		return "", n.safetyErr
	}
	return fakeSafetyNumber, nil
}

func (n *fakeNode) Block(peerID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked = append(n.blocked, peerID)
	return nil
}

// Unblock clears the peer's Blocked, as the real node does; an unlisted
// peer is unknown.
func (n *fakeNode) Unblock(peerID string) error {
	return n.update(peerID, func(p *p2p.PeerInfo) error {
		n.unblocked = append(n.unblocked, peerID)
		p.Blocked = false
		return nil
	})
}

// Forget drops the peer from the list and its history.
func (n *fakeNode) Forget(peerID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, p := range n.peers {
		if p.PeerID == peerID {
			n.peers = append(n.peers[:i:i], n.peers[i+1:]...)
			delete(n.history, peerID)
			n.forgotten = append(n.forgotten, peerID)
			return nil
		}
	}
	return p2p.ErrUnknownPeer
}

// SetLabel checks the label as the real node does and keeps it.
func (n *fakeNode) SetLabel(peerID, label string) error {
	if label != "" {
		var err error
		if label, err = p2p.ValidName(label); err != nil {
			return err
		}
	}
	return n.update(peerID, func(p *p2p.PeerInfo) error { p.Label = label; return nil })
}

// SetName checks the name as the real node does and keeps it.
func (n *fakeNode) SetName(name string) error {
	name, err := p2p.ValidName(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.name = name
	return nil
}

func (n *fakeNode) Name() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.name == "" {
		return "me"
	}
	return n.name
}

// update runs f on the listed peer peerID, or answers ErrUnknownPeer.
func (n *fakeNode) update(peerID string, f func(*p2p.PeerInfo) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.peers {
		if n.peers[i].PeerID == peerID {
			return f(&n.peers[i])
		}
	}
	return p2p.ErrUnknownPeer
}

// History answers the entries kept for peerID, the last limit of them; a
// peer that is not listed is unknown, as with the real node.
func (n *fakeNode) History(peerID string, limit int) ([]p2p.HistoryEntry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.peers {
		if p.PeerID == peerID {
			es := n.history[peerID]
			if limit > 0 {
				es = es[max(0, len(es)-limit):]
			}
			return es, nil
		}
	}
	return nil, p2p.ErrUnknownPeer
}

// HistoryBefore answers the entries kept for peerID with a Seq below
// before, the last limit of them.
func (n *fakeNode) HistoryBefore(peerID string, before uint64, limit int) ([]p2p.HistoryEntry, error) {
	es, err := n.History(peerID, 0)
	i := 0
	for i < len(es) && es[i].Seq < before {
		i++
	}
	if limit > 0 {
		return es[max(0, i-limit):i], err
	}
	return es[:i], err
}

func (n *fakeNode) Peers() []p2p.PeerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maybePanic("Peers")
	return append([]p2p.PeerInfo(nil), n.peers...)
}

func (n *fakeNode) Verify(peerID string, fp e2e.Fingerprint) error { return n.trust(peerID, fp) }

func (n *fakeNode) TrustNewKey(peerID string, fp e2e.Fingerprint) error { return n.trust(peerID, fp) }

func (n *fakeNode) trust(peerID string, fp e2e.Fingerprint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.peers {
		if p.PeerID == peerID {
			if !p.Fingerprint.Equal(fp) {
				return p2p.ErrFingerprintMismatch
			}
			return n.verifyErr
		}
	}
	return p2p.ErrUnknownPeer
}

func (n *fakeNode) PeerID() string               { return "12D3KooWSelf" }
func (n *fakeNode) Fingerprint() e2e.Fingerprint { return e2e.Fingerprint{1} }
func (n *fakeNode) Addrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maybePanic("Addrs")
	return []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWSelf"}
}

func (n *fakeNode) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.events)
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maybePanic("Close")
	return nil
}

func (n *fakeNode) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// apiHarness runs runHeadless against a fake node over pipes.
type apiHarness struct {
	t      *testing.T
	node   *fakeNode
	stdin  *io.PipeWriter
	events chan map[string]any
	done   chan error
}

func startAPI(t *testing.T, n *fakeNode, cfg *config) *apiHarness {
	t.Helper()
	if cfg == nil {
		cfg = &config{name: "me"}
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &apiHarness{t: t, node: n, stdin: inW, events: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		err := runHeadless(context.Background(), n, cfg, inR, outW, slog.New(slog.DiscardHandler))
		outW.Close()
		inR.Close()
		h.done <- err
	}()
	go func() {
		defer close(h.events)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("stdout line is not a JSON object: %q", sc.Text())
				continue
			}
			h.events <- m
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("runHeadless did not return after stdin closed")
		}
	})
	if ev := h.next(); ev["event"] != "ready" {
		t.Fatalf("first event %v, want ready", ev)
	}
	return h
}

func (h *apiHarness) write(line string) {
	h.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.WriteString(h.stdin, line+"\n")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("writing %.60q blocked", line)
	}
}

func (h *apiHarness) next() map[string]any {
	h.t.Helper()
	select {
	case ev, ok := <-h.events:
		if !ok {
			h.t.Fatal("stdout closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		h.t.Fatal("no event within 10 s")
	}
	return nil
}

// wait waits for runHeadless to return.
func (h *apiHarness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("runHeadless did not return")
	}
	return nil
}
