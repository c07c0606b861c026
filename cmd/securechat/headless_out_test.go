package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

var jsonStringSeeds = []string{
	"", "plain", `a"b\c`, "\x00\x01\x08\x0c\n\r\t\x1f\x7f", "<>&", "é ☃ 😀", "\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80",
	strings.Repeat("x", 100),
}

// encodingJSON is what encoding/json writes for v with HTML escaping off.
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendEventMatchesEncodingJSON holds the hand-written encoders to the
// bytes encoding/json writes.
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonStringSeeds {
		checkAppendEvent(t, s)
	}
}

func FuzzAppendEvent(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s)
	}
	f.Fuzz(checkAppendEvent)
}

func checkAppendEvent(t *testing.T, s string) {
	for _, v := range []any{
		msgIDEvent{Event: "sent", PeerID: s, ID: s, Ref: s},
		msgIDEvent{Event: "delivered", PeerID: "p", ID: s},
		messageEvent{"message", s, "id", s, "2026-11-27T08:00:00Z", false},
		messageEvent{"message", s, "id", s, "2026-11-27T08:00:00Z", true},
		errorEvent{Event: "error", Code: "c", Message: s, Ref: s},
	} {
		if got, want := appendEvent(nil, v), encodingJSON(t, v); !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
}

// TestEventWriterPrompt checks that every event reaches stdout on its own,
// without waiting for a next one, and that close writes out what is queued.
func TestEventWriterPrompt(t *testing.T) {
	r, w := io.Pipe()
	ew := newEventWriter(w)
	lines := make(chan string)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			lines <- string(buf[:n])
		}
	}()
	for i, ref := range []string{"a", "b", "c"} {
		ew.emit(msgIDEvent{Event: "sent", PeerID: "p", ID: "i", Ref: ref})
		select {
		case got := <-lines:
			if want := `{"event":"sent","peer_id":"p","id":"i","ref":"` + ref + `"}` + "\n"; got != want {
				t.Fatalf("event %d: %q, want %q", i, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not written", i)
		}
	}
	ew.close(10 * time.Second)
	ew.emit(msgIDEvent{Event: "sent"}) // dropped after close, without blocking
	w.Close()
	if got, ok := <-lines; ok {
		t.Fatalf("after close: %q", got)
	}
	if err := ew.failed(); err != nil {
		t.Fatal(err)
	}
}
