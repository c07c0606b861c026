package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/cryptotest"
)

// The invite's known-answer vector and fuzz target, and the testdata
// helpers they share with invite_test.go.

// FuzzParseInvite: nothing panics, and whatever parses is within bounds and
// encodes back to its own text.
func FuzzParseInvite(f *testing.F) {
	relay := newTestHost(f, nil).peerID()
	valid := []string{
		mustInviteTB(f, testIdentity(f, 0), newTestHost(f, nil).peerID(), "alice", typicalAddrs(relay)),
		mustInviteTB(f, testIdentity(f, 1), newTestHost(f, nil).peerID(), "", nil),
	}
	if kvs, err := readKVFile(inviteVectorPath); err == nil {
		for _, e := range kvs {
			if e.key == "invite" {
				valid = append(valid, e.value)
			}
		}
	}
	for _, s := range valid {
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s + "A")
		f.Add(s[:len(s)/2] + "\n" + s[len(s)/2:])
	}
	f.Add(InvitePrefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s)
		if err != nil {
			if err != ErrInvite || inv != nil {
				t.Fatalf("ParseInvite = %v, %v", inv, err)
			}
			return
		}
		if inv.Encode() != s || len(s) > MaxInviteLen {
			t.Fatal("accepted invite does not encode to its text")
		}
		if len(inv.Addrs()) > MaxInviteAddrs || len(inv.Name()) > MaxInviteName {
			t.Fatal("accepted invite out of bounds")
		}
		if inv.Fingerprint() != Fingerprint(sha256.Sum256(inv.SigningKeyDER())) {
			t.Fatal("fingerprint is not the key's")
		}
	})
}

func mustInviteTB(tb testing.TB, id *Identity, peerID []byte, name string, addrs [][]byte) string {
	tb.Helper()
	inv, err := NewInvite(id, peerID, name, addrs)
	if err != nil {
		tb.Fatal(err)
	}
	return inv.Encode()
}

const inviteVectorPath = "testdata/invite.txt"

const inviteVectorHeader = `# securechat-v1 invite test vector (e2e/PROTOCOL.md, section "Invites").
#
# Made by: go test ./e2e -run 'TestInviteVector$' -update
# Identity: testdata/handshake_identity_a.hex (Identity.Encode, hex). Peer ID
# and relay peer ID: identity multihashes of Ed25519 host keys from the seeds
# below (SHA-256 of "securechat-v1 invite vector host" and "... relay").
# Addresses (binary multiaddrs), in order:
#   /ip4/198.51.100.7/tcp/4001
#   /ip4/198.51.100.7/udp/4001/quic-v1
#   /ip6/2001:db8::7/tcp/4001
#   /ip4/203.0.113.9/tcp/4001/p2p/<relay peer id>/p2p-circuit
#   /ip4/192.168.1.7/tcp/4001
# tbs is the signed part of the body; signature = RSA-PSS(IK_sig,
# SHA-256("securechat-v1 invite" || 0x00 || tbs)), salt from
# testing/cryptotest.SetGlobalRandom(t, 1). The test checks that the stored
# invite parses and verifies and that tbs is what NewInvite builds; only an
# -update needs the salt, so the file stays valid across Go upgrades.
`

func TestInviteVector(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	id := testIdentity(t, 0)
	hostSeed := sha256.Sum256([]byte("securechat-v1 invite vector host"))
	relaySeed := sha256.Sum256([]byte("securechat-v1 invite vector relay"))
	peerID := newTestHost(t, hostSeed[:]).peerID()
	relay := newTestHost(t, relaySeed[:]).peerID()
	addrs := typicalAddrs(relay)
	inv := mustInvite(t, id, peerID, "alice", addrs)
	body, err := inviteEncoding.DecodeString(strings.TrimPrefix(inv.Encode(), InvitePrefix))
	if err != nil {
		t.Fatal(err)
	}
	tbs := inviteTBS(peerID, id.pub.sigDER, "alice", addrs)
	if !bytes.HasPrefix(body, tbs) {
		t.Fatal("body does not start with tbs")
	}
	fp := id.Fingerprint()
	got := []kv{
		{"identity file", testIdentityPath("a")},
		{"fingerprint", hex.EncodeToString(fp[:])},
		{"host seed", hex.EncodeToString(hostSeed[:])},
		{"relay seed", hex.EncodeToString(relaySeed[:])},
		{"peer id", hex.EncodeToString(peerID)},
		{"name", "alice"},
	}
	for _, a := range addrs {
		got = append(got, kv{"addr", hex.EncodeToString(a)})
	}
	got = append(got, kv{"tbs", hex.EncodeToString(tbs)})
	deterministic := len(got)
	got = append(got,
		kv{"signature", hex.EncodeToString(body[len(tbs)+2:])},
		kv{"invite", inv.Encode()})
	if *update {
		checkOrWriteKV(t, inviteVectorPath, inviteVectorHeader, got)
		return
	}
	want := checkKV(t, inviteVectorPath, got, deterministic) // signature and invite: checked below
	if want[len(want)-1].key != "invite" {
		t.Fatal("the vector's last entry is not the invite")
	}
	stored := want[len(want)-1].value
	parsed, err := ParseInvite(stored)
	if err != nil {
		t.Fatalf("stored invite refused: %v", err)
	}
	storedBody, _ := inviteEncoding.DecodeString(strings.TrimPrefix(stored, InvitePrefix))
	if !bytes.Equal(storedBody, appendVec16(bytes.Clone(tbs), lookupKV(t, want, "signature"))) {
		t.Fatal("stored invite is not tbs || vec16(signature)")
	}
	if parsed.Fingerprint() != fp || parsed.Name() != "alice" || !bytes.Equal(parsed.PeerID(), peerID) || len(parsed.Addrs()) != len(addrs) {
		t.Fatal("stored invite's fields differ")
	}
}

// readKVFile reads the "key: value" lines of a vector file without a
// testing.T, for fuzz seeds.
func readKVFile(path string) ([]kv, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []kv
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "#") {
			out = append(out, kv{k, v})
		}
	}
	return out, nil
}

// loadOrMakeIdentity loads an identity kept in testdata, or makes one with
// gen (and writes it under -update).
func loadOrMakeIdentity(path string, gen func() (*Identity, error)) (*Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id, err := gen()
		if err == nil && *update {
			err = os.WriteFile(path, []byte(wrapHex(id.Encode())), 0o644)
		}
		return id, err
	}
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseIdentity(raw)
}
