package tui

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// The real node and the fake both satisfy the interface the UI asks for.
var (
	_ Node = (*p2p.Node)(nil)
	_ Node = (*fakeNode)(nil)
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test peers. The IDs look like real Ed25519 peer IDs.
const (
	selfID  = "12D3KooWSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fAAAA"
	bobID   = "12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBBBBB"
	carolID = "12D3KooWCarolCarolCarolCarolCarolCarolCarolCaCCCCC"
	carol2  = "12D3KooWDupCarolDupCarolDupCarolDupCarolDupCaDDDDD"
)

// fp is a fixed fingerprint derived from a label.
func fp(label string) e2e.Fingerprint { return e2e.Fingerprint(sha256.Sum256([]byte(label))) }

// safety is a fixed 60-digit safety number.
const safety = "123451234512345123451234512345123451234512345123451234512345"

// fakeNode records the calls the UI makes and answers from its fields.
type fakeNode struct {
	mu         sync.Mutex
	peers      []p2p.PeerInfo
	sent       []string // "to: text"
	connected  []string
	verified   map[string]e2e.Fingerprint
	trusted    map[string]e2e.Fingerprint
	blocked    []string
	unblocked  []string
	forgotten  []string
	name       string
	sendErr    error
	connectErr error
	safetyErr  error
	panicPeers bool // Peers panics: a bug, injected
	n          int
	history    map[string][]p2p.HistoryEntry
	invites    []string        // ConnectInvite's (invite_test.go)
	inviteErr  error           // what Invite answers, if set
	diag       p2p.Diagnostics // what Diagnostics answers
	pages      int             // HistoryBefore calls
	files      fakeFiles       // files_fake_test.go
}

func newFakeNode() *fakeNode {
	return &fakeNode{verified: map[string]e2e.Fingerprint{}, trusted: map[string]e2e.Fingerprint{}}
}

func (f *fakeNode) Connect(ctx context.Context, addr multiaddr.Multiaddr) (p2p.Connected, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = append(f.connected, addr.String())
	if f.connectErr != nil {
		return p2p.Connected{}, f.connectErr
	}
	_, id, _ := strings.Cut(addr.String(), "/p2p/")
	return p2p.Connected{PeerID: id, Conn: p2p.ConnDirect}, nil
}

func (f *fakeNode) ConnectPeer(ctx context.Context, query string) (p2p.Connected, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = append(f.connected, "peer:"+query)
	if f.connectErr != nil {
		return p2p.Connected{}, f.connectErr
	}
	return p2p.Connected{PeerID: query, Conn: p2p.ConnDirect}, nil
}

func (f *fakeNode) Send(ctx context.Context, to, text string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return "", f.sendErr
	}
	f.n++
	f.sent = append(f.sent, to+": "+text)
	return fmt.Sprintf("m%d", f.n), nil
}

func (f *fakeNode) Peers() []p2p.PeerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicPeers {
		panic("injected panic in Peers")
	}
	return append([]p2p.PeerInfo(nil), f.peers...)
}

func (f *fakeNode) Verify(peerID string, got e2e.Fingerprint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.peers {
		if p.PeerID == peerID {
			if !p.Fingerprint.Equal(got) {
				return p2p.ErrFingerprintMismatch
			}
			f.peers[i].Trust = p2p.TrustVerified
			f.verified[peerID] = got
			return nil
		}
	}
	return p2p.ErrUnknownPeer
}

func (f *fakeNode) TrustNewKey(peerID string, got e2e.Fingerprint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.peers {
		if p.PeerID == peerID {
			if !p.PendingFingerprint.Equal(got) {
				return p2p.ErrFingerprintMismatch
			}
			f.peers[i].Fingerprint, f.peers[i].KeyChanged, f.peers[i].Trust = got, false, p2p.TrustPinned
			f.peers[i].PendingFingerprint = e2e.Fingerprint{}
			f.trusted[peerID] = got
			return nil
		}
	}
	return p2p.ErrUnknownPeer
}

// SafetyNumber answers the fixed [safety] number, or safetyErr.
func (f *fakeNode) SafetyNumber(peerID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.safetyErr != nil {
		return "", f.safetyErr
	}
	return safety, nil
}

func (f *fakeNode) Block(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = append(f.blocked, peerID)
	for i := range f.peers {
		if f.peers[i].PeerID == peerID {
			f.peers[i].Blocked = true
		}
	}
	return nil
}

func (f *fakeNode) Unblock(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unblocked = append(f.unblocked, peerID)
	for i := range f.peers {
		if f.peers[i].PeerID == peerID {
			f.peers[i].Blocked = false
		}
	}
	return nil
}

func (f *fakeNode) Forget(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, peerID)
	for i, p := range f.peers {
		if p.PeerID == peerID {
			f.peers = append(f.peers[:i:i], f.peers[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeNode) SetLabel(peerID, label string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.peers {
		if f.peers[i].PeerID == peerID {
			f.peers[i].Label = label
			return nil
		}
	}
	return p2p.ErrUnknownPeer
}

func (f *fakeNode) SetName(name string) error {
	name, err := p2p.ValidName(name)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.name = name
	return nil
}

func (f *fakeNode) Name() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.name
}

func (f *fakeNode) History(peerID string, limit int) ([]p2p.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := f.history[peerID]
	return es[max(0, len(es)-limit):], nil
}

// HistoryBefore answers the last limit entries whose Seq is below before.
func (f *fakeNode) HistoryBefore(peerID string, before uint64, limit int) ([]p2p.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages++
	es := f.history[peerID]
	n := 0
	for n < len(es) && es[n].Seq < before {
		n++
	}
	return es[max(0, n-limit):n], nil
}

func (f *fakeNode) PeerID() string               { return selfID }
func (f *fakeNode) Fingerprint() e2e.Fingerprint { return fp("self") }
func (f *fakeNode) Addrs() []string {
	return []string{"/ip4/192.168.1.10/tcp/4001/p2p/" + selfID, "/ip4/192.168.1.10/udp/4001/quic-v1/p2p/" + selfID}
}

// setPeer adds or replaces a peer in the node's list.
func (f *fakeNode) setPeer(info p2p.PeerInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.peers {
		if p.PeerID == info.PeerID {
			f.peers[i] = info
			return
		}
	}
	f.peers = append(f.peers, info)
}

// harness drives the model as Bubble Tea would, but synchronously: every
// command runs at once and its message goes back into Update.
type harness struct {
	t     *testing.T
	m     *model
	node  *fakeNode
	clock time.Time
	bells int
	raws  []string // other sequences written to the terminal
	quit  bool
}

// start is the fixed time the tests begin at.
var start = time.Date(2024, 3, 9, 14, 5, 0, 0, time.UTC)

func newHarness(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, node: newFakeNode(), clock: start}
	opts := Options{Name: "alice", MDNS: true, Bell: true}
	hs.m = newModel(context.Background(), hs.node, nil, opts, func() time.Time { return hs.clock }, time.UTC)
	hs.run(hs.m.Init())
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// send passes msg to Update and runs what it returns.
func (hs *harness) send(msg tea.Msg) {
	hs.t.Helper()
	_, cmd := hs.m.Update(msg)
	hs.run(cmd)
}

// run runs a command and feeds its messages back.
func (hs *harness) run(cmd tea.Cmd) {
	hs.t.Helper()
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			hs.run(c)
		}
	case tea.RawMsg:
		if msg.Msg == "\a" {
			hs.bells++
		} else {
			hs.raws = append(hs.raws, fmt.Sprint(msg.Msg))
		}
	case tea.QuitMsg:
		hs.quit = true
	default:
		// tea.Sequence's message type is unexported: a slice of commands,
		// run one after the other as the program would.
		if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeFor[tea.Cmd]() {
			for i := range v.Len() {
				hs.run(v.Index(i).Interface().(tea.Cmd))
			}
			return
		}
		hs.send(msg)
	}
}

// event delivers a node event.
func (hs *harness) event(ev p2p.Event) {
	hs.t.Helper()
	hs.send(eventMsg{ev})
}

// typeText types s key by key.
func (hs *harness) typeText(s string) {
	hs.t.Helper()
	for _, r := range s {
		hs.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// press sends a special key, with optional modifiers.
func (hs *harness) press(code rune, mod ...tea.KeyMod) {
	hs.t.Helper()
	var km tea.KeyMod
	for _, m := range mod {
		km |= m
	}
	hs.send(tea.KeyPressMsg{Code: code, Mod: km})
}

// line types s and presses Enter.
func (hs *harness) line(s string) {
	hs.t.Helper()
	hs.typeText(s)
	hs.press(tea.KeyEnter)
}

// screen is the rendered screen without colours or trailing blanks.
func (hs *harness) screen() string {
	rows := strings.Split(ansi.Strip(hs.m.View().Content), "\n")
	for i, r := range rows {
		rows[i] = strings.TrimRight(r, " ")
	}
	return strings.Join(rows, "\n") + "\n"
}

// golden compares the screen with testdata/name.golden.
func (hs *harness) golden(name string) {
	hs.t.Helper()
	got := hs.screen()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			hs.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		hs.t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		hs.t.Errorf("screen differs from %s (go test -update rewrites it)\n--- got:\n%s--- want:\n%s", path, got, want)
	}
}

// contains fails unless the screen shows s.
func (hs *harness) contains(s string) {
	hs.t.Helper()
	if !strings.Contains(hs.screen(), s) {
		hs.t.Errorf("screen does not show %q:\n%s", s, hs.screen())
	}
}

// lacks fails if the screen shows s.
func (hs *harness) lacks(s string) {
	hs.t.Helper()
	if strings.Contains(hs.screen(), s) {
		hs.t.Errorf("screen shows %q:\n%s", s, hs.screen())
	}
}

// peerUp brings a peer online on the node and in the UI.
func (hs *harness) peerUp(id, name string, trust p2p.Trust) {
	hs.t.Helper()
	hs.node.setPeer(p2p.PeerInfo{PeerID: id, Fingerprint: fp(id), Name: name, State: "online", Trust: trust})
	hs.event(p2p.SessionUp{PeerID: id, Fingerprint: fp(id), Name: name, Trust: trust})
}

// ready sends the node's Ready event.
func (hs *harness) ready() {
	hs.t.Helper()
	hs.event(p2p.Ready{PeerID: selfID, Fingerprint: fp("self"), Name: "alice", Addrs: hs.node.Addrs()})
}

var errBoom = errors.New("boom")
