package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseCommandMap is the decoder parseCommand replaced (a map of raw
// members, then each field decoded on its own): the reference that the
// one-pass decoder must agree with on every line.
func parseCommandMap(line []byte) (command, *cmdError) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil || raw == nil {
		return command{}, &cmdError{codeBadJSON, "not a JSON object"}
	}
	var c command
	var bad *cmdError
	str := func(field string, dst *string, required bool) {
		v, ok := raw[field]
		if !ok {
			if required && bad == nil {
				bad = &cmdError{codeBadRequest, fmt.Sprintf("missing field %q", field)}
			}
			return
		}
		if err := json.Unmarshal(v, dst); err != nil || string(v) == "null" {
			*dst = ""
			if bad == nil {
				bad = &cmdError{codeBadRequest, fmt.Sprintf("field %q must be a string", field)}
			}
		}
	}
	str("ref", &c.Ref, false)
	str("cmd", &c.Cmd, true)
	if bad != nil {
		return c, bad
	}
	required, known := commandFields[c.Cmd]
	if !known {
		return c, &cmdError{codeUnknownCommand, fmt.Sprintf("unknown command %q", clip(c.Cmd))}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"addr", &c.Addr}, {"to", &c.To}, {"text", &c.Text}, {"peer_id", &c.PeerID}, {"fingerprint", &c.Fingerprint}} {
		for _, r := range required {
			if r == f.name {
				str(f.name, f.dst, true)
			}
		}
	}
	if v, ok := raw["limit"]; ok && c.Cmd == "history" && bad == nil {
		if err := json.Unmarshal(v, &c.Limit); err != nil || c.Limit < 0 {
			bad = &cmdError{codeBadRequest, `field "limit" must be a non-negative integer`}
		}
	}
	return c, bad
}

var parseSeeds = []string{
	`{"cmd":"send","to":"x","text":"hi","ref":"r"}`,
	` { "cmd" : "send" , "to" : "x" , "text" : "a\"b\\c\n\u00e9\ud83d\ude00" } `,
	`{"cmd":"send","to":"x","text":"` + "\xff\xfe" + `"}`,
	`{"cmd":"send","to":"x","text":"é ☃ \u2028"}`,
	`{"cmd":"send","to":"x","text":5}`,
	`{"cmd":"send","to":null,"text":"t"}`,
	`{"cmd":"send","to":["x"],"text":"t","extra":{"a":[1,{"b":"}"}]}}`,
	`{"cmd":"send","to":"x","to":"y","text":"t"}`,
	`{"\u0063md":"peers","r\u0065f":"e"}`,
	`{"CMD":"peers"}`, `{"cmd":"PEERS"}`, `{"cmd":"dance","ref":"u"}`, `{"ref":"m"}`, `{"ref":7,"cmd":"peers"}`,
	`{}`, `{"cmd":"peers"} {"cmd":"peers"}`, `null`, `[1]`, `"x"`, `1`, `true`, `{`, `{"cmd":"peers"`, ``, ` `,
	`{"cmd":"history","peer_id":"p","limit":3}`, `{"cmd":"history","peer_id":"p","limit":-1}`,
	`{"cmd":"history","peer_id":"p","limit":1.5}`, `{"cmd":"history","peer_id":"p","limit":null}`,
	`{"cmd":"history","peer_id":"p","limit":"3"}`, `{"cmd":"peers","limit":"x"}`,
	`{"cmd":"verify","peer_id":"p"}`, `{"cmd":"verify","fingerprint":"f"}`, `{"cmd":"connect","addr":"/ip4/1.2.3.4/tcp/1"}`,
	`{"cmd":"quit","x":-1.5e10,"y":false,"z":null}`, `{"cmd":"send","to":"x","text":"\u0000\u001b[2J"}`,
	`{"cmd":"` + strings.Repeat("a", 100) + `"}`,
}

// TestParseCommandMatchesMap holds the one-pass decoder to the answers of
// the map-based one.
func TestParseCommandMatchesMap(t *testing.T) {
	for _, line := range parseSeeds {
		checkParse(t, []byte(line))
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkParse(t, line) })
}

func checkParse(t *testing.T, line []byte) {
	t.Helper()
	got, gotBad := parseCommand(line)
	want, wantBad := parseCommandMap(line)
	if !reflect.DeepEqual(gotBad, wantBad) {
		t.Fatalf("%q: error %+v, want %+v", line, gotBad, wantBad)
	}
	if wantBad != nil {
		// On error only the ref is promised (and the map decoder may have
		// half-filled a field).
		got, want = command{Ref: got.Ref}, command{Ref: want.Ref}
	}
	if got != want {
		t.Fatalf("%q: %+v, want %+v", line, got, want)
	}
}
