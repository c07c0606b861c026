package p2p

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSendToResolves: SendTo reports the peer ID that a peer ID or a
// fingerprint (either case, with spaces around) resolved to, and refuses
// what names no contact, like Send.
func TestSendToResolves(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	fp := b.Fingerprint().String()
	tests := []struct {
		name, to string
		wantErr  error
	}{
		{"peer ID", b.PeerID(), nil},
		{"fingerprint", fp, nil},
		{"fingerprint upper case, spaces", " " + strings.ToUpper(fp) + " ", nil},
		{"unknown fingerprint", strings.Repeat("ab", 32), ErrUnknownPeer},
		{"not a peer", "nobody", ErrUnknownPeer},
		{"own peer ID", a.PeerID(), ErrUnknownPeer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, id, err := a.SendTo(context.Background(), tc.to, "hi")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || p != "" || id != "" {
					t.Fatalf("SendTo = %q, %q, %v; want %v", p, id, err, tc.wantErr)
				}
				return
			}
			if err != nil || p != b.PeerID() || len(id) != 2*messageIDLen {
				t.Fatalf("SendTo = %q, %q, %v; want %s and an ID", p, id, err, b.PeerID())
			}
			b.ev.wait(t, "message", func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.ID == id })
		})
	}
}
