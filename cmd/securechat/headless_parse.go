package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// command is one decoded command line. Fields absent from the line are
// empty; the decoder has checked that the command's required ones are there.
type command struct {
	Cmd         string
	Ref         string
	Addr        string
	To          string
	Text        string
	PeerID      string
	Fingerprint string
	Name        string // nick
	Label       string // label; "" removes it
	Limit       int    // history; 0 when absent
	Path        string // send_file; accept_file's optional path
	FileID      string // accept_file, reject_file
}

// commandFields lists each command's required fields.
var commandFields = map[string][]string{
	"connect":       {"addr"},
	"send":          {"to", "text"},
	"peers":         nil,
	"invite":        nil,
	"verify":        {"peer_id", "fingerprint"},
	"trust_new_key": {"peer_id", "fingerprint"},
	"history":       {"peer_id"},
	"block":         {"peer_id"},
	"quit":          nil,
	// headless_contacts.go
	"unblock":       {"peer_id"},
	"forget":        {"peer_id"},
	"label":         {"peer_id", "label"},
	"nick":          {"name"},
	"safety_number": {"peer_id"},
	// headless_files.go
	"send_file":   {"to", "path"},
	"accept_file": {"file_id"},
	"reject_file": {"file_id"},
}

// cmdError is a command that cannot be done, as an error event.
type cmdError struct {
	code string
	msg  string
}

// rawCommand holds the raw JSON value of each member a command may have;
// nil for a member the line does not have. Other members are skipped.
type rawCommand struct {
	ref, cmd, addr, to, text, peerID, fingerprint, limit, name, label []byte
	path, fileID                                                      []byte
}

// member returns where the value of the member named key goes, or nil.
func (r *rawCommand) member(key []byte) *[]byte {
	switch string(key) { // no allocation: the compiler compares in place
	case "ref":
		return &r.ref
	case "cmd":
		return &r.cmd
	case "addr":
		return &r.addr
	case "to":
		return &r.to
	case "text":
		return &r.text
	case "peer_id":
		return &r.peerID
	case "fingerprint":
		return &r.fingerprint
	case "limit":
		return &r.limit
	case "name":
		return &r.name
	case "label":
		return &r.label
	case "path":
		return &r.path
	case "file_id":
		return &r.fileID
	}
	return nil
}

// parseCommand decodes one line. Field names are matched exactly (unlike
// encoding/json's case-insensitive struct matching); unknown fields are
// ignored, so scripts can add their own; of a repeated member the last one
// counts. On error the ref is still returned when it could be read, so the
// error can carry it.
//
// It is the hot path of a script pushing messages, so it reads the members
// in one pass over the line (after json.Valid has checked all of it)
// instead of decoding into a map.
func parseCommand(line []byte) (command, *cmdError) {
	var raw rawCommand
	if !splitObject(line, &raw) {
		return command{}, &cmdError{codeBadJSON, "not a JSON object"}
	}
	var c command
	var bad *cmdError
	str := func(field string, v []byte, dst *string, required bool) {
		if v == nil {
			if required && bad == nil {
				bad = &cmdError{codeBadRequest, fmt.Sprintf("missing field %q", field)}
			}
			return
		}
		s, ok := jsonString(v)
		if !ok {
			if bad == nil {
				bad = &cmdError{codeBadRequest, fmt.Sprintf("field %q must be a string", field)}
			}
			return
		}
		*dst = s
	}
	str("ref", raw.ref, &c.Ref, false)
	str("cmd", raw.cmd, &c.Cmd, true)
	if bad != nil {
		return c, bad
	}
	required, known := commandFields[c.Cmd]
	if !known {
		return c, &cmdError{codeUnknownCommand, fmt.Sprintf("unknown command %q", clip(c.Cmd))}
	}
	for _, f := range required {
		switch f {
		case "addr":
			str(f, raw.addr, &c.Addr, true)
		case "to":
			str(f, raw.to, &c.To, true)
		case "text":
			str(f, raw.text, &c.Text, true)
		case "peer_id":
			str(f, raw.peerID, &c.PeerID, true)
		case "fingerprint":
			str(f, raw.fingerprint, &c.Fingerprint, true)
		case "name":
			str(f, raw.name, &c.Name, true)
		case "label":
			str(f, raw.label, &c.Label, true)
		case "path":
			str(f, raw.path, &c.Path, true)
		case "file_id":
			str(f, raw.fileID, &c.FileID, true)
		}
	}
	if c.Cmd == "accept_file" && bad == nil {
		str("path", raw.path, &c.Path, false) // optional
	}
	if raw.limit != nil && c.Cmd == "history" && bad == nil {
		if err := json.Unmarshal(raw.limit, &c.Limit); err != nil || c.Limit < 0 {
			bad = &cmdError{codeBadRequest, `field "limit" must be a non-negative integer`}
		}
	}
	return c, bad
}

// jsonString decodes the raw JSON value v as a string; ok is false if v
// is not a string (null included). A plain string (no escapes, valid
// UTF-8) costs one copy; anything else goes through encoding/json, which
// also replaces invalid UTF-8 as it always has.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// splitObject checks that line is exactly one JSON object and stores the
// raw values of the members raw has room for. It reports false for
// anything else: invalid JSON, or valid JSON that is not an object.
func splitObject(line []byte, raw *rawCommand) bool {
	if !json.Valid(line) {
		return false
	}
	// From here on the line is known to be valid JSON, so the scan below
	// only needs to find where each key and value ends.
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipSpace(line, i+1)
	if line[i] == '}' {
		return true
	}
	for {
		end := stringEnd(line, i)
		key := line[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			// An escaped key ("\u0063md") names the member its
			// unescaped form spells, as encoding/json reads it.
			var k string
			if json.Unmarshal(line[i:end], &k) != nil {
				return false
			}
			key = []byte(k)
		}
		i = skipSpace(line, end)
		i = skipSpace(line, i+1) // past ':'
		vend := valueEnd(line, i)
		if dst := raw.member(key); dst != nil {
			*dst = line[i:vend]
		}
		i = skipSpace(line, vend)
		if line[i] == '}' {
			return true
		}
		i = skipSpace(line, i+1) // past ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at
// b[i] (a '"').
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	// A number, true, false or null: up to the next delimiter.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return len(b)
}
