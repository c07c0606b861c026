package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

func twoPeers() []p2p.PeerInfo {
	return []p2p.PeerInfo{
		{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", State: "online", Trust: p2p.TrustNew},
		{PeerID: fakePeerB, Fingerprint: fakeFPB, Name: "bob", State: "offline", Trust: p2p.TrustPinned, KeyChanged: true},
	}
}

func TestHeadlessCommands(t *testing.T) {
	big := strings.Repeat("x", p2p.MaxMessageText+1)
	tests := []apiCase{
		{"peers empty", nil, `{"cmd":"peers","ref":"r1"}`, map[string]any{"event": "peers", "ref": "r1", "peers": []any{}}},
		{"peers no ref", nil, `{"cmd":"peers"}`, map[string]any{"event": "peers", "peers": []any{}}},
		{"send by peer ID", withPeers, `{"cmd":"send","to":"` + fakePeerA + `","text":"hi","ref":"s1"}`,
			map[string]any{"event": "sent", "peer_id": fakePeerA, "id": "msg-1", "ref": "s1"}},
		{"send by fingerprint", withPeers, `{"cmd":"send","to":"` + fakeFPB.String() + `","text":"hi","ref":"s2"}`,
			map[string]any{"event": "sent", "peer_id": fakePeerB, "ref": "s2"}},
		{"send by name", withPeers, `{"cmd":"send","to":"Alice","text":"hi","ref":"s8"}`,
			map[string]any{"event": "sent", "peer_id": fakePeerA, "ref": "s8"}},
		{"send by name~fingerprint", withPeers, `{"cmd":"send","to":"bob~` + fakeFPB.String()[:16] + `","text":"hi","ref":"s9"}`,
			map[string]any{"event": "sent", "peer_id": fakePeerB, "ref": "s9"}},
		{"send ambiguous", func(n *fakeNode) {
			withPeers(n)
			n.peers = append(n.peers, p2p.PeerInfo{PeerID: validPeerID, Fingerprint: fakeFPA, Name: "alice"})
		}, `{"cmd":"send","to":"alice","text":"hi","ref":"s10"}`,
			map[string]any{"event": "error", "code": "ambiguous_peer", "ref": "s10"}},
		{"send short fingerprint", withPeers, `{"cmd":"send","to":"` + fakeFPA.String()[:8] + `","text":"hi","ref":"s11"}`,
			map[string]any{"event": "error", "code": "unknown_peer", "ref": "s11"}},
		{"send unknown peer", withPeers, `{"cmd":"send","to":"nobody","text":"hi","ref":"s3"}`,
			map[string]any{"event": "error", "code": "unknown_peer", "ref": "s3"}},
		{"send too large", withPeers, `{"cmd":"send","to":"` + fakePeerA + `","text":"` + big + `","ref":"s4"}`,
			map[string]any{"event": "error", "code": "too_large", "ref": "s4"}},
		{"send key changed", func(n *fakeNode) { withPeers(n); n.sendErr = p2p.ErrKeyChanged },
			`{"cmd":"send","to":"` + fakePeerB + `","text":"hi","ref":"s5"}`,
			map[string]any{"event": "error", "code": "key_changed", "ref": "s5"}},
		{"send missing text", withPeers, `{"cmd":"send","to":"` + fakePeerA + `","ref":"s6"}`,
			map[string]any{"event": "error", "code": "bad_request", "ref": "s6"}},
		{"send missing to", withPeers, `{"cmd":"send","text":"hi"}`, map[string]any{"event": "error", "code": "bad_request"}},
		{"send text not string", withPeers, `{"cmd":"send","to":"x","text":5,"ref":"s7"}`,
			map[string]any{"event": "error", "code": "bad_request", "ref": "s7"}},
		{"send empty text", withPeers, `{"cmd":"send","to":"` + fakePeerA + `","text":""}`,
			map[string]any{"event": "error", "code": "bad_request"}},
		{"connect bad multiaddr", nil, `{"cmd":"connect","addr":"nonsense","ref":"c1"}`,
			map[string]any{"event": "error", "code": "bad_address", "ref": "c1"}},
		{"connect without p2p", nil, `{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/1","ref":"c2"}`,
			map[string]any{"event": "error", "code": "bad_address", "ref": "c2"}},
		{"connect missing addr", nil, `{"cmd":"connect"}`, map[string]any{"event": "error", "code": "bad_request"}},
		{"connect", nil, `{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/1/p2p/` + validPeerID + `","ref":"c4"}`,
			map[string]any{"event": "connected", "peer_id": validPeerID, "conn": "direct", "ref": "c4"}},
		{"connect relayed", func(n *fakeNode) { n.conn = p2p.ConnRelayed },
			`{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/1/p2p/` + validPeerID + `"}`,
			map[string]any{"event": "connected", "peer_id": validPeerID, "conn": "relayed"}},
		{"connect fails", func(n *fakeNode) { n.connectErr = p2p.ErrDialFailed },
			`{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/1/p2p/` + validPeerID + `","ref":"c3"}`,
			map[string]any{"event": "error", "code": "dial_failed", "ref": "c3"}},
		{"verify ok", withPeers, `{"cmd":"verify","peer_id":"` + fakePeerA + `","fingerprint":"` + strings.ToUpper(fakeFPA.String()) + `","ref":"v1"}`,
			map[string]any{"event": "verified", "peer_id": fakePeerA, "fingerprint": fakeFPA.String(), "ref": "v1"}},
		{"verify mismatch", withPeers, `{"cmd":"verify","peer_id":"` + fakePeerA + `","fingerprint":"` + fakeFPB.String() + `","ref":"v2"}`,
			map[string]any{"event": "error", "code": "fingerprint_mismatch", "ref": "v2"}},
		{"verify malformed fingerprint", withPeers, `{"cmd":"verify","peer_id":"` + fakePeerA + `","fingerprint":"abc"}`,
			map[string]any{"event": "error", "code": "bad_request"}},
		{"verify unknown peer", withPeers, `{"cmd":"verify","peer_id":"x","fingerprint":"` + fakeFPB.String() + `"}`,
			map[string]any{"event": "error", "code": "unknown_peer"}},
		{"verify missing fingerprint", withPeers, `{"cmd":"verify","peer_id":"x","ref":"v3"}`,
			map[string]any{"event": "error", "code": "bad_request", "ref": "v3"}},
		{"trust_new_key", withPeers, `{"cmd":"trust_new_key","peer_id":"` + fakePeerB + `","fingerprint":"` + fakeFPB.String() + `","ref":"k1"}`,
			map[string]any{"event": "key_trusted", "peer_id": fakePeerB, "ref": "k1"}},
		{"history unknown peer", nil, `{"cmd":"history","peer_id":"x","ref":"h1"}`, map[string]any{"event": "error", "code": "unknown_peer", "ref": "h1"}},
		{"block", withPeers, `{"cmd":"block","peer_id":"` + fakePeerA + `","ref":"b1"}`, map[string]any{"event": "blocked", "peer_id": fakePeerA, "ref": "b1"}},
		{"block missing peer_id", nil, `{"cmd":"block","ref":"b2"}`, map[string]any{"event": "error", "code": "bad_request", "ref": "b2"}},
		{"not json", nil, `hello`, map[string]any{"event": "error", "code": "bad_json"}},
		{"truncated json", nil, `{"cmd":"peers"`, map[string]any{"event": "error", "code": "bad_json"}},
		{"json array", nil, `[1,2]`, map[string]any{"event": "error", "code": "bad_json"}},
		{"json null", nil, `null`, map[string]any{"event": "error", "code": "bad_json"}},
		{"two objects", nil, `{"cmd":"peers"} {"cmd":"peers"}`, map[string]any{"event": "error", "code": "bad_json"}},
		{"missing cmd", nil, `{"ref":"m1"}`, map[string]any{"event": "error", "code": "bad_request", "ref": "m1"}},
		{"cmd not string", nil, `{"cmd":1}`, map[string]any{"event": "error", "code": "bad_request"}},
		{"cmd case matters", nil, `{"CMD":"peers"}`, map[string]any{"event": "error", "code": "bad_request"}},
		{"unknown command", nil, `{"cmd":"dance","ref":"u1"}`, map[string]any{"event": "error", "code": "unknown_command", "ref": "u1"}},
		{"unknown command case", nil, `{"cmd":"PEERS"}`, map[string]any{"event": "error", "code": "unknown_command"}},
		{"extra fields ignored", nil, `{"cmd":"peers","ref":"x1","extra":{"a":[1]}}`, map[string]any{"event": "peers", "ref": "x1"}},
	}
	runAPICases(t, tests)
}

// apiCase is one command to the headless API and the answer it must get.
type apiCase struct {
	name  string
	setup func(*fakeNode) // nil: an empty node
	line  string
	want  map[string]any // fields the answer must have
}

// runAPICases sends each case's line to an API on a fresh fake node and
// checks the answer, and that the API then answers the next command.
func runAPICases(t *testing.T, tests []apiCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			if tt.setup != nil {
				tt.setup(n)
			}
			h := startAPI(t, n, nil)
			h.write(tt.line)
			checkFields(t, h.next(), tt.want)
			// The API carries on: the next command is answered.
			h.write(`{"cmd":"peers","ref":"after"}`)
			checkFields(t, h.next(), map[string]any{"event": "peers", "ref": "after"})
		})
	}
}

// validPeerID is a syntactically valid libp2p peer ID.
const validPeerID = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

func withPeers(n *fakeNode) { n.peers = twoPeers() }

func checkFields(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("event %v lacks %q", got, k)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("event %v: %s = %s, want %s", got["event"], k, gj, wj)
		}
	}
	if _, ok := want["ref"]; !ok {
		if r, has := got["ref"]; has {
			t.Errorf("event %v has ref %v, the command had none", got["event"], r)
		}
	}
}

func TestHeadlessPeersList(t *testing.T) {
	n := newFakeNode()
	withPeers(n)
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"peers","ref":"p"}`)
	ev := h.next()
	peers, _ := ev["peers"].([]any)
	if len(peers) != 2 {
		t.Fatalf("peers = %v", ev)
	}
	checkFields(t, peers[1].(map[string]any), map[string]any{
		"peer_id": fakePeerB, "fingerprint": fakeFPB.String(), "name": "bob",
		"state": "offline", "trust": "pinned", "key_changed": true,
	})
}

func TestHeadlessLongLine(t *testing.T) {
	h := startAPI(t, newFakeNode(), nil)
	long := `{"cmd":"send","to":"x","text":"` + strings.Repeat("y", maxInputLine) + `"}`
	h.write(long)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "too_large"})
	h.write(`{"cmd":"peers","ref":"next"}`)
	checkFields(t, h.next(), map[string]any{"event": "peers", "ref": "next"})
}

func TestHeadlessEvents(t *testing.T) {
	n := newFakeNode()
	h := startAPI(t, n, nil)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n.events <- p2p.PeerFound{PeerID: fakePeerA, Via: "mdns"}
	n.events <- p2p.SessionUp{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", Trust: p2p.TrustNew}
	n.events <- p2p.MessageReceived{PeerID: fakePeerA, ID: "m1", Text: "hello", SentAt: at}
	n.events <- p2p.Delivered{PeerID: fakePeerA, ID: "m0"}
	n.events <- p2p.Alert{Kind: p2p.AlertKeyChanged, PeerID: fakePeerA, Message: "new key"}
	n.events <- p2p.SessionDown{PeerID: fakePeerA, Reason: "closed"}
	n.events <- p2p.Ready{PeerID: "again"} // a second ready is not shown
	n.events <- p2p.DialFailed{Addr: "/ip4/1.2.3.4/tcp/1/p2p/x", Err: "refused"}
	for _, want := range []map[string]any{
		{"event": "peer_found", "peer_id": fakePeerA, "via": "mdns"},
		{"event": "session_up", "peer_id": fakePeerA, "fingerprint": fakeFPA.String(), "name": "alice", "trust": "new"},
		{"event": "message", "peer_id": fakePeerA, "id": "m1", "text": "hello", "sent_at": "2026-01-02T03:04:05Z"},
		{"event": "delivered", "peer_id": fakePeerA, "id": "m0"},
		{"event": "alert", "kind": "key_changed", "peer_id": fakePeerA, "message": "new key"},
		{"event": "session_down", "peer_id": fakePeerA, "reason": "closed"},
		{"event": "error", "code": "dial_failed"},
	} {
		checkFields(t, h.next(), want)
	}
}

func TestHeadlessQuit(t *testing.T) {
	n := newFakeNode()
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"quit"}`)
	if err := h.wait(); err != nil {
		t.Fatalf("quit: %v", err)
	}
	if !n.isClosed() {
		t.Error("node not closed after quit")
	}
}

func TestHeadlessEOF(t *testing.T) {
	n := newFakeNode()
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"peers"}`)
	h.next()
	h.stdin.Close()
	if err := h.wait(); err != nil {
		t.Fatalf("EOF: %v", err)
	}
	if !n.isClosed() {
		t.Error("node not closed at end of input")
	}
}

func TestHeadlessBlankLinesIgnored(t *testing.T) {
	h := startAPI(t, newFakeNode(), nil)
	h.write("")
	h.write("   \r")
	h.write(`{"cmd":"peers","ref":"1"}`)
	checkFields(t, h.next(), map[string]any{"event": "peers", "ref": "1"})
}

func TestHeadlessConnectAtStart(t *testing.T) {
	n := newFakeNode()
	n.connectErr = p2p.ErrDialFailed
	a, err := parseMultiaddr("/ip4/127.0.0.1/tcp/9/p2p/"+validPeerID, true)
	if err != nil {
		t.Fatal(err)
	}
	h := startAPI(t, n, &config{name: "me", connect: []dialTarget{{addr: a}}})
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "dial_failed"})
}

// FuzzHeadlessLine feeds arbitrary lines to the command decoder and
// executor: nothing may panic, and every output line is one JSON object
// naming its event.
func FuzzHeadlessLine(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"peers","ref":"1"}`, `{"cmd":"send","to":"x","text":"hi"}`, `{"cmd":"connect","addr":"/ip4/1.2.3.4/tcp/1"}`,
		`{"cmd":"verify","peer_id":"x","fingerprint":"00"}`, `{"cmd":"quit"}`, `{`, `null`, `[]`, `"x"`, `{"cmd":null}`,
		`{"cmd":"send","to":"` + fakePeerA + `","text":"\u0000\u001b[2J"}`, "{\"cmd\":\"peers\",\"ref\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		n := newFakeNode()
		withPeers(n)
		var out bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		h := newHeadless(ctx, n, &out, slog.New(slog.DiscardHandler))
		h.handleLine(ctx, line)
		cancel()
		h.dials.wait(time.Second)
		h.out.close(time.Second)
		for _, l := range bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("output %q is not a JSON object", l)
			}
			if _, ok := m["event"].(string); !ok {
				t.Fatalf("output %q names no event", l)
			}
		}
	})
}

func TestHeadlessBlock(t *testing.T) {
	n := newFakeNode()
	inR, inW := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runHeadless(context.Background(), n, &config{name: "me"}, inR, &out, slog.New(slog.DiscardHandler))
	}()
	io.WriteString(inW, `{"cmd":"block","peer_id":"`+fakePeerA+`","ref":"b"}`+"\n")
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit at EOF")
	}
	if want := `{"event":"blocked","peer_id":"` + fakePeerA + `","ref":"b"}`; !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %s", out.String(), want)
	}
	if len(n.blocked) != 1 || n.blocked[0] != fakePeerA {
		t.Errorf("blocked %v", n.blocked)
	}
}

// TestHeadlessSentBeforeDelivered: a message can be delivered before the
// node's Send has returned (echoNode delivers at once), yet a script must
// see its sent, with the id, before the delivered of that id.
func TestHeadlessSentBeforeDelivered(t *testing.T) {
	n := &echoNode{fakeNode: newFakeNode()}
	const sends = 2000
	line := `{"cmd":"send","to":"` + fakePeerA + `","text":"m"}` + "\n"
	var out syncBuffer
	err := runHeadless(context.Background(), n, &config{name: "me"}, strings.NewReader(strings.Repeat(line, sends)), &out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	delivered := 0
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct{ Event, ID string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		switch ev.Event {
		case "sent":
			sent[ev.ID] = true
		case "delivered":
			if !sent[ev.ID] {
				t.Fatalf("delivered %s before its sent", ev.ID)
			}
			delivered++
		}
	}
	if len(sent) != sends || delivered != sends {
		t.Errorf("%d sent, %d delivered; want %d of each", len(sent), delivered, sends)
	}
}
