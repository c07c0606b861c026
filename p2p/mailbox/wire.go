package mailbox

import (
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/securechat/securechat/e2e"
)

// The bytes of the mailbox protocol (e2e/PROTOCOL.md, "Mailbox protocol").
// Every message is one e2e frame (a varint length and that many bytes).
//
//	request  = u8(op) || body
//	response = u8(code) || body (empty unless code is OK)
//
// One request per stream; a fetch answer is followed by its items, one
// frame each, and a watch answer by ticks, one byte each.

// Operations.
const (
	opRegister byte = 1 // body empty
	opGrant    byte = 2 // capability (32)
	opRevoke   byte = 3 // capability (32)
	opDeposit  byte = 4 // capability (32) || envelope
	opFetch    byte = 5 // u16 max, 1 to MaxFetch
	opDelete   byte = 6 // u16 n, 1 to MaxDelete || n × key (16)
	opStatus   byte = 7 // body empty
	opWatch    byte = 8 // body empty
)

// Response codes.
const (
	codeOK          byte = 0
	codeNotOwner    byte = 1
	codeCapability  byte = 2
	codeQuota       byte = 3
	codeTooLarge    byte = 4
	codeProtocol    byte = 5
	codeUnavailable byte = 6
)

// Watch ticks.
const (
	tickKeepalive byte = 0
	tickNew       byte = 1
)

// Limits of one message.
const (
	// MaxFetch is the most envelopes one fetch answers with.
	MaxFetch = 256
	// MaxDelete is the most keys one delete names.
	MaxDelete = 1024
	// maxFetchBytes bounds the envelopes of one fetch answer (1 MiB);
	// the first envelope is sent even if larger.
	maxFetchBytes = 1 << 20
	// maxRequestSize is the largest request: a deposit of the largest
	// envelope (a delete of MaxDelete keys is smaller).
	maxRequestSize = 1 + 32 + e2e.MaxEnvelopeSize
	// itemHeaderSize is a fetch item's size without the envelope: key,
	// tag and received time.
	itemHeaderSize = 16 + 32 + 8
	// maxItemSize is the largest fetch item.
	maxItemSize = itemHeaderSize + e2e.MaxEnvelopeSize
	// maxResponseSize is the largest first response frame (a status).
	maxResponseSize = 1 + 4 + 3*8
)

// request is a parsed request.
type request struct {
	op       byte
	cap      Capability // grant, revoke, deposit
	envelope []byte     // deposit, aliasing the frame
	max      int        // fetch
	keys     [][16]byte // delete
}

// parseRequest reads a request strictly: a known op, its exact body and
// nothing after it. An envelope that is not a bucket size of a version-1
// envelope is refused here, before any storage: over the largest bucket
// with [ErrTooLarge], otherwise with [ErrProtocol].
func parseRequest(b []byte) (request, error) {
	s := cryptobyte.String(b)
	var r request
	if !s.ReadUint8(&r.op) {
		return r, ErrProtocol
	}
	switch r.op {
	case opRegister, opStatus, opWatch:
	case opGrant, opRevoke:
		if !s.CopyBytes(r.cap[:]) {
			return r, ErrProtocol
		}
	case opDeposit:
		if !s.CopyBytes(r.cap[:]) {
			return r, ErrProtocol
		}
		if len(s) > e2e.MaxEnvelopeSize {
			return r, ErrTooLarge
		}
		if _, _, err := e2e.EnvelopeHeader(s); err != nil {
			return r, ErrProtocol
		}
		r.envelope, s = []byte(s), nil
	case opFetch:
		var n uint16
		if !s.ReadUint16(&n) || n == 0 || n > MaxFetch {
			return r, ErrProtocol
		}
		r.max = int(n)
	case opDelete:
		var n uint16
		if !s.ReadUint16(&n) || n == 0 || n > MaxDelete || len(s) != int(n)*16 {
			return r, ErrProtocol
		}
		r.keys = make([][16]byte, n)
		for i := range r.keys {
			s.CopyBytes(r.keys[i][:])
		}
	default:
		return r, ErrProtocol
	}
	if !s.Empty() {
		return r, ErrProtocol
	}
	return r, nil
}

// encodeRequest is the client's side of parseRequest.
func encodeRequest(r request) []byte {
	b := []byte{r.op}
	switch r.op {
	case opGrant, opRevoke:
		b = append(b, r.cap[:]...)
	case opDeposit:
		b = append(b, r.cap[:]...)
		b = append(b, r.envelope...)
	case opFetch:
		b = binary.BigEndian.AppendUint16(b, uint16(r.max))
	case opDelete:
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.keys)))
		for _, k := range r.keys {
			b = append(b, k[:]...)
		}
	}
	return b
}

// codeError maps a response code to the client's error; nil for OK.
func codeError(code byte) error {
	switch code {
	case codeOK:
		return nil
	case codeNotOwner:
		return ErrNotOwner
	case codeCapability:
		return ErrCapability
	case codeQuota:
		return ErrQuota
	case codeTooLarge:
		return ErrTooLarge
	case codeUnavailable:
		return ErrUnavailable
	default: // codeProtocol and any unknown code
		return ErrProtocol
	}
}

// errorCode maps the server's error to its response code: the package's
// errors to theirs, anything else (a storage failure) to unavailable.
func errorCode(err error) byte {
	for _, e := range []struct {
		err  error
		code byte
	}{
		{ErrNotOwner, codeNotOwner}, {ErrCapability, codeCapability}, {ErrQuota, codeQuota},
		{ErrTooLarge, codeTooLarge}, {ErrProtocol, codeProtocol},
	} {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	if err == nil {
		return codeOK
	}
	return codeUnavailable
}

// appendItem encodes one fetched envelope:
//
//	key (16) || tag (32) || u64 received, Unix milliseconds || envelope
func appendItem(b []byte, st Stored) []byte {
	b = append(b, st.Key[:]...)
	b = append(b, st.Tag[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(st.Received.UnixMilli()))
	return append(b, st.Data...)
}

// parseItem is the strict reader of appendItem: the envelope must be a
// bucket size of a version-1 envelope, and the time positive.
func parseItem(b []byte) (Stored, error) {
	var st Stored
	s := cryptobyte.String(b)
	var ms uint64
	if !s.CopyBytes(st.Key[:]) || !s.CopyBytes(st.Tag[:]) || !s.ReadUint64(&ms) ||
		ms == 0 || ms > 1<<50 || len(s) > e2e.MaxEnvelopeSize {
		return st, ErrProtocol
	}
	if _, _, err := e2e.EnvelopeHeader(s); err != nil {
		return st, ErrProtocol
	}
	st.Data = append([]byte(nil), s...)
	st.Received = time.UnixMilli(int64(ms))
	return st, nil
}

// appendStatus encodes a status answer's body:
//
//	u32 waiting || u64 bytes || u64 quota bytes || u64 free bytes
func appendStatus(b []byte, st Status) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(st.Waiting))
	b = binary.BigEndian.AppendUint64(b, uint64(st.Bytes))
	b = binary.BigEndian.AppendUint64(b, uint64(st.QuotaBytes))
	return binary.BigEndian.AppendUint64(b, uint64(st.FreeBytes))
}

// parseStatus is the strict reader of appendStatus. Sizes above 2^62 are
// refused, so that they stay positive as int64.
func parseStatus(b []byte) (Status, error) {
	s := cryptobyte.String(b)
	var n uint32
	var by, q, f uint64
	if !s.ReadUint32(&n) || !s.ReadUint64(&by) || !s.ReadUint64(&q) || !s.ReadUint64(&f) ||
		!s.Empty() || by > 1<<62 || q > 1<<62 || f > 1<<62 {
		return Status{}, ErrProtocol
	}
	return Status{Waiting: int(n), Bytes: int64(by), QuotaBytes: int64(q), FreeBytes: int64(f)}, nil
}

// parseFetchCount reads a fetch answer's body: u16 n, 0 to MaxFetch.
func parseFetchCount(b []byte) (int, error) {
	s := cryptobyte.String(b)
	var n uint16
	if !s.ReadUint16(&n) || !s.Empty() || n > MaxFetch {
		return 0, ErrProtocol
	}
	return int(n), nil
}
