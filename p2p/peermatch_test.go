package p2p

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/securechat/securechat/e2e"
)

// matchFP is a fixed fingerprint derived from a label.
func matchFP(label string) e2e.Fingerprint { return e2e.Fingerprint(sha256.Sum256([]byte(label))) }

func TestMatchPeer(t *testing.T) {
	// A syntactically valid peer ID that no peer below has.
	const absentID = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	const (
		aliceID  = "12D3KooWAliceAliceAliceAliceAliceAliceAliceAliAAAA1"
		carol1ID = "12D3KooWCarolCarolCarolCarolCarolCarolCarolCaCCCC1"
		carol2ID = "12D3KooWDupCarolDupCarolDupCarolDupCarolDupCDDDD2"
		twin1ID  = "12D3KooWTwinTwinTwinTwinTwinTwinTwinTwinTwinTTTTT1"
		twin2ID  = "12D3KooWTwinTwinTwinTwinTwinTwinTwinTwinTwinTTTTT2"
		anonID   = "12D3KooWAnonAnonAnonAnonAnonAnonAnonAnonAnonNNNNN9"
	)
	fpAlice, fpCarol1, fpCarol2, fpTwin := matchFP("alice"), matchFP("carol1"), matchFP("carol2"), matchFP("twin")
	c1 := fpCarol1.String()
	peers := []PeerInfo{
		{PeerID: aliceID, Name: "alice", Fingerprint: fpAlice, State: "online"},
		{PeerID: carol1ID, Name: "carol", Fingerprint: fpCarol1, State: "offline"},
		{PeerID: carol2ID, Name: "Carol", Fingerprint: fpCarol2, State: "online"},
		{PeerID: twin1ID, Name: "dave", Fingerprint: fpTwin, State: "offline"},
		{PeerID: twin2ID, Name: "dave", Fingerprint: fpTwin, State: "online"},
		{PeerID: anonID, Fingerprint: matchFP("anon"), State: "offline"},
		// Spoofers: each took as its name a string that names someone
		// else by identity.
		{PeerID: "12D3KooWSpoof1", Name: "carol~" + c1[:16], Fingerprint: matchFP("s1")},
		{PeerID: "12D3KooWSpoof2", Name: "carol~" + c1[:8], Fingerprint: matchFP("s2")},
		{PeerID: "12D3KooWSpoof3", Name: c1[:16], Fingerprint: matchFP("s3")},
		{PeerID: "12D3KooWSpoof4", Name: "AAAA1", Fingerprint: matchFP("s4")},
		{PeerID: "12D3KooWSpoof5", Name: absentID, Fingerprint: matchFP("s5")},
		{PeerID: "12D3KooWSpoof6", Name: matchFP("absent").String(), Fingerprint: matchFP("s6")},
	}
	tests := []struct {
		name, query, want string
		err               error  // nil: want a match
		errHas            string // in the error's text
	}{
		{"peer ID", aliceID, aliceID, nil, ""},
		{"peer ID, spaces", "  " + aliceID + " ", aliceID, nil, ""},
		{"full fingerprint", fpAlice.String(), aliceID, nil, ""},
		{"full fingerprint, upper case", strings.ToUpper(fpCarol1.String()), carol1ID, nil, ""},
		{"one identity on two peer IDs: online wins", fpTwin.String(), twin2ID, nil, ""},
		{"absent peer ID is no name", absentID, "", ErrUnknownPeer, "no known peer"},
		{"absent fingerprint is no name", matchFP("absent").String(), "", ErrUnknownPeer, "no known peer"},
		{"name~fingerprint", "carol~" + c1[:16], carol1ID, nil, ""},
		{"name~fingerprint, any case", "CAROL~" + strings.ToUpper(fpCarol2.String()[:20]), carol2ID, nil, ""},
		{"name~fingerprint of the wrong peer", "alice~" + c1[:16], "", ErrUnknownPeer, "no peer matches"},
		{"name~short fingerprint", "carol~" + c1[:8], "", ErrUnknownPeer, "at least 16 hex digits"},
		{"short fingerprint", fpAlice.String()[:12], "", ErrUnknownPeer, "at least 16 hex digits"},
		{"name shared", "carol", "", ErrAmbiguousPeer, "carol~" + c1[:16] + " (" + carol1ID + ")"},
		{"name shared, one online", "dave", "", ErrAmbiguousPeer, "2 peers"},
		{"name", "ALICE", aliceID, nil, ""},
		{"peer ID start", "12D3KooWAlice", aliceID, nil, ""},
		{"peer ID end", "NNNN9", anonID, nil, ""},
		{"peer ID end taken as a name", "AAAA1", "", ErrAmbiguousPeer, "alice~"},
		{"abbreviated peer ID", "12D3Ko…NNNN9", anonID, nil, ""},
		{"abbreviated, wrong end", "12D3Ko…XXXX", "", ErrUnknownPeer, ""},
		{"fingerprint prefix", fpAlice.String()[:16], aliceID, nil, ""},
		{"fingerprint prefix taken as a name", c1[:16], "", ErrAmbiguousPeer, "2 peers"},
		{"name start", "ali", aliceID, nil, ""},
		{"peer ID start, many", "12D3", "", ErrAmbiguousPeer, "and 7 more"},
		{"too short for an ID part", "NN9", "", ErrUnknownPeer, ""},
		{"nothing", "zed", "", ErrUnknownPeer, `"zed"`},
		{"empty", "  ", "", ErrUnknownPeer, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MatchPeer(peers, tt.query)
			if tt.err == nil {
				if err != nil || got.PeerID != tt.want {
					t.Fatalf("MatchPeer(%q) = %s, %v; want %s", tt.query, got.PeerID, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("MatchPeer(%q) = %s, %v; want %v", tt.query, got.PeerID, err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q lacks %q", err, tt.errHas)
			}
			var amb *AmbiguousPeerError
			if errors.As(err, &amb) != (tt.err == ErrAmbiguousPeer) {
				t.Errorf("error %T, want an *AmbiguousPeerError only for ErrAmbiguousPeer", err)
			}
		})
	}
}

func TestMatchLabelMatches(t *testing.T) {
	// The label names its peer even among peers sharing its name.
	peers := []PeerInfo{
		{PeerID: "12D3KooWOne", Name: "bob", Fingerprint: matchFP("1")},
		{PeerID: "12D3KooWTwo", Name: "bob", Fingerprint: matchFP("2")},
		{PeerID: "12D3KooWThree"},
	}
	for _, p := range peers {
		label := MatchLabel(p)
		got, err := MatchPeer(peers, label)
		if err != nil || got.PeerID != p.PeerID {
			t.Errorf("MatchPeer(%q) = %s, %v; want %s", label, got.PeerID, err, p.PeerID)
		}
	}
	if l := MatchLabel(peers[0]); l != "bob~"+matchFP("1").String()[:MinFingerprintPrefix] {
		t.Errorf("label %q", l)
	}
}
