package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/securechat/securechat/p2p"
)

func TestLineReader(t *testing.T) {
	const max = 100
	tests := []struct {
		name  string
		input string
		want  []string // "!" marks errLineTooLong
	}{
		{"plain", "a\nbb\n", []string{"a", "bb"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"no final newline", "a\nlast", []string{"a", "last"}},
		{"empty lines kept", "\n\nx\n", []string{"", "", "x"}},
		{"exactly max", strings.Repeat("m", max) + "\nok\n", []string{strings.Repeat("m", max), "ok"}},
		{"exactly max crlf", strings.Repeat("m", max) + "\r\nok\n", []string{strings.Repeat("m", max), "ok"}},
		{"max plus one", strings.Repeat("m", max+1) + "\nok\n", []string{"!", "ok"}},
		{"far too long", strings.Repeat("L", 10*readChunk) + "\nok\n", []string{"!", "ok"}},
		{"too long at EOF", strings.Repeat("L", 3*readChunk), []string{"!"}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader exercises every chunk boundary.
			for _, r := range []io.Reader{strings.NewReader(tt.input), iotest.OneByteReader(strings.NewReader(tt.input))} {
				lr := newLineReader(r, max)
				var got []string
				for {
					line, err := lr.next()
					if errors.Is(err, errLineTooLong) {
						got = append(got, "!")
						continue
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, string(line))
				}
				if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestLineReaderError(t *testing.T) {
	boom := errors.New("boom")
	lr := newLineReader(iotest.ErrReader(boom), maxInputLine)
	if _, err := lr.next(); !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}

// TestDialerAnswersOnce checks that a failure reported both as Connect's
// error and as a DialFailed event is answered once, with the ref, and that
// a DialFailed of nobody's dial is still shown.
func TestDialerAnswersOnce(t *testing.T) {
	n := newFakeNode()
	n.connectErr = p2p.ErrDialFailed
	var mu sync.Mutex
	var got []errorEvent
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDialer(ctx, n, func(e any) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.(errorEvent))
	})
	addr, err := parseMultiaddr("/ip4/127.0.0.1/tcp/9/p2p/"+validPeerID, true)
	if err != nil {
		t.Fatal(err)
	}
	d.start(dialTarget{addr: addr}, "r1")
	d.wait(5 * time.Second)
	d.dialFailed(p2p.DialFailed{Addr: addr.String(), Err: "refused"})   // the same failure again
	d.dialFailed(p2p.DialFailed{Addr: "/ip4/10.0.0.1/tcp/1", Err: "x"}) // a redial of the node's own
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Ref != "r1" || got[0].Code != codeDialFailed || got[1].Ref != "" || got[1].Addr != "/ip4/10.0.0.1/tcp/1" {
		t.Errorf("answers %+v", got)
	}
}

// TestDialerAnswersConnected checks that a dial that succeeds is answered
// once, by connected with the ref and the kind of connection, and that a
// later DialFailed for the same address (a redial of the node's own) does
// not answer that connect a second time.
func TestDialerAnswersConnected(t *testing.T) {
	n := newFakeNode()
	n.conn = p2p.ConnRelayed
	var mu sync.Mutex
	var got []any
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDialer(ctx, n, func(e any) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	})
	addr, err := parseMultiaddr("/ip4/127.0.0.1/tcp/9/p2p/"+validPeerID, true)
	if err != nil {
		t.Fatal(err)
	}
	d.start(dialTarget{addr: addr}, "r1")
	d.wait(5 * time.Second)
	d.dialFailed(p2p.DialFailed{Addr: addr.String(), Err: "refused"})
	mu.Lock()
	defer mu.Unlock()
	want := connectedEvent{Event: "connected", PeerID: validPeerID, Conn: "relayed", Ref: "r1"}
	if len(got) != 2 || got[0] != want {
		t.Fatalf("answers %+v, want %+v first", got, want)
	}
	if e, ok := got[1].(errorEvent); !ok || e.Ref != "" {
		t.Errorf("a later failure of the address answered %+v; want an error without the ref", got[1])
	}
}
