package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// fileFake is a fake node that also transfers files, as p2p.Node does.
type fileFake struct {
	*fakeNode
	err       error
	transfers []p2p.Transfer
	rejected  string
}

func (f *fileFake) SendFile(ctx context.Context, to, path string) (string, string, error) {
	if f.err != nil {
		return "", "", f.err
	}
	f.transfers = append(f.transfers, p2p.Transfer{ID: "f1", Peer: fakePeerA, Name: "x", Size: 10, Outgoing: true,
		State: p2p.TransferOffered, Waiting: p2p.WaitingAccept})
	return fakePeerA, "f1", nil
}

func (f *fileFake) AcceptFile(id, path string) error {
	if f.err != nil {
		return f.err
	}
	f.transfers[0].State = p2p.TransferAccepted
	return nil
}

func (f *fileFake) RejectFile(id string) error {
	if f.err != nil {
		return f.err
	}
	f.rejected = id
	return nil
}

func (f *fileFake) Transfers() []p2p.Transfer { return f.transfers }

// runFileCommand runs one command line against n and returns the events
// it wrote.
func runFileCommand(t *testing.T, n chatNode, h *headless, buf *bytes.Buffer, line string) []map[string]any {
	t.Helper()
	c, bad := parseCommand([]byte(line))
	if bad != nil {
		h.fail(c.Ref, bad.code, bad.msg)
	} else {
		h.execute(context.Background(), c)
	}
	h.out.close(time.Second)
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestHeadlessFileCommands(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   error
		known bool // a transfer f1 exists
		line  string
		want  map[string]any
	}{
		{"send", nil, false, `{"cmd":"send_file","to":"alice","path":"/tmp/x","ref":"s"}`,
			map[string]any{"event": "file_progress", "file_id": "f1", "peer_id": fakePeerA, "bytes": 0.0, "size": 10.0, "waiting": p2p.WaitingAccept, "ref": "s"}},
		{"send without path", nil, false, `{"cmd":"send_file","to":"alice","ref":"s"}`,
			map[string]any{"event": "error", "code": codeBadRequest, "ref": "s"}},
		{"send missing file", &fs.PathError{Op: "open", Err: fs.ErrNotExist}, false, `{"cmd":"send_file","to":"alice","path":"/nope","ref":"s"}`,
			map[string]any{"event": "error", "code": codeBadPath, "ref": "s"}},
		{"send to nobody", p2p.ErrUnknownPeer, false, `{"cmd":"send_file","to":"zed","path":"/tmp/x"}`,
			map[string]any{"event": "error", "code": codeUnknownPeer}},
		{"accept", nil, true, `{"cmd":"accept_file","file_id":"f1","ref":"a"}`,
			map[string]any{"event": "file_progress", "file_id": "f1", "ref": "a"}},
		{"accept unknown", p2p.ErrUnknownFile, false, `{"cmd":"accept_file","file_id":"f9","ref":"a"}`,
			map[string]any{"event": "error", "code": codeUnknownFile, "ref": "a"}},
		{"accept twice", p2p.ErrFileState, true, `{"cmd":"accept_file","file_id":"f1"}`,
			map[string]any{"event": "error", "code": codeFileState}},
		{"accept too large", p2p.ErrFileTooLarge, true, `{"cmd":"accept_file","file_id":"f1"}`,
			map[string]any{"event": "error", "code": codeTooLarge}},
		{"accept no space", p2p.ErrNoSpace, true, `{"cmd":"accept_file","file_id":"f1"}`,
			map[string]any{"event": "error", "code": codeNoSpace}},
		{"accept bad path", p2p.ErrFilePath, true, `{"cmd":"accept_file","file_id":"f1","path":"/x"}`,
			map[string]any{"event": "error", "code": codeBadPath}},
		{"accept path not a string", nil, true, `{"cmd":"accept_file","file_id":"f1","path":3}`,
			map[string]any{"event": "error", "code": codeBadRequest}},
		{"reject", nil, true, `{"cmd":"reject_file","file_id":"f1","ref":"r"}`,
			map[string]any{"event": "file_failed", "file_id": "f1", "reason": "cancelled", "outgoing": true, "ref": "r"}},
		{"reject unknown", p2p.ErrUnknownFile, false, `{"cmd":"reject_file","file_id":"f1","ref":"r"}`,
			map[string]any{"event": "error", "code": codeUnknownFile, "ref": "r"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := &fileFake{fakeNode: newFakeNode(), err: tt.err}
			if tt.known {
				n.transfers = []p2p.Transfer{{ID: "f1", Peer: fakePeerA, Size: 10, Outgoing: true, State: p2p.TransferOffered}}
			}
			var buf bytes.Buffer
			h := newHeadless(context.Background(), n, &buf, slog.New(slog.DiscardHandler))
			out := runFileCommand(t, n, h, &buf, tt.line)
			if len(out) != 1 {
				t.Fatalf("%d answers: %v", len(out), out)
			}
			checkFields(t, out[0], tt.want)
		})
	}
}

func TestHeadlessFileEvents(t *testing.T) {
	for ev, want := range map[p2p.Event]map[string]any{
		p2p.FileOffered{Peer: fakePeerA, FileID: "f1", Name: "a.txt", Size: 5, SHA256: "ab"}:           {"event": "file_offer", "peer_id": fakePeerA, "file_id": "f1", "name": "a.txt", "size": 5.0, "sha256": "ab"},
		p2p.FileProgress{Peer: fakePeerA, FileID: "f1", Bytes: 2, Size: 5, Waiting: p2p.WaitingDirect}: {"event": "file_progress", "bytes": 2.0, "size": 5.0, "waiting": p2p.WaitingDirect},
		p2p.FileDone{Peer: fakePeerA, FileID: "f1", SHA256: "ab", Path: "/d/a.txt"}:                    {"event": "file_done", "path": "/d/a.txt", "sha256": "ab", "outgoing": false},
		p2p.FileFailed{Peer: fakePeerA, FileID: "f1", Reason: "corrupt", Outgoing: true}:               {"event": "file_failed", "reason": "corrupt", "outgoing": true},
	} {
		b, err := json.Marshal(eventJSON(ev))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		checkFields(t, m, want)
	}
	// The node's file_failed of a transfer reject_file answered is dropped.
	var buf bytes.Buffer
	n := &fileFake{fakeNode: newFakeNode()}
	h := newHeadless(context.Background(), n, &buf, slog.New(slog.DiscardHandler))
	h.answered.add("f1")
	h.event(p2p.FileFailed{Peer: fakePeerA, FileID: "f1", Reason: "cancelled"})
	h.event(p2p.FileFailed{Peer: fakePeerA, FileID: "f2", Reason: "cancelled"})
	h.out.close(time.Second)
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 || !bytes.Contains(buf.Bytes(), []byte(`"f2"`)) {
		t.Fatalf("events: %s", buf.String())
	}
}
