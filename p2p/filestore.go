package p2p

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// A transfer in progress is kept in the store (bucket "files",
// p2p/store/files.go) so that it survives a restart: the sender's offer
// (with its secret) and source path; the receiver's offer, where it saves
// the file and a checkpoint of what it holds; and a transfer that ended
// while the peer was offline, until the peer is told.
//
// Record v1, integers big-endian, vec16 = u16 length || bytes:
//
//	u8 version (1) || u8 flags (bit 0 outgoing, bit 1 accepted, bit 2
//	ended: the peer is still owed a reject) || u8 reason (of that reject)
//	|| vec16 peer ID (binary) || vec16 offer (e2e encoding, secret
//	included) || vec16 src (sender: the file sent) || vec16 dest
//	(receiver: the path AcceptFile gave, or empty) || vec16 dir
//	(receiver: the folder of the partial file) || vec16 name (receiver:
//	the sanitized name) || u64 at || vec16 check (receiver: bytes held
//	and the SHA-256 state after them at the last checkpoint) || i64
//	created (Unix nanoseconds)

const fileRecordV1 = 1

// Record flags.
const (
	recOut      = 1 << 0
	recAccepted = 1 << 1
	recEnded    = 1 << 2
)

// maxRecordString bounds each string of a record (paths).
const maxRecordString = 4096

// errFileRecord is decodeFileRecord's one error.
var errFileRecord = errors.New("p2p: malformed transfer record")

// fileRecord is one stored transfer.
type fileRecord struct {
	flags   byte
	reason  e2e.FileReason
	peer    peer.ID
	offer   *e2e.FileOffer
	src     string
	dest    string
	dir     string
	name    string
	at      int64
	check   []byte
	created time.Time
}

func appendVec16(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func (r *fileRecord) encode() []byte {
	b := []byte{fileRecordV1, r.flags, byte(r.reason)}
	b = appendVec16(b, []byte(r.peer))
	b = appendVec16(b, r.offer.Encode())
	b = appendVec16(b, []byte(r.src))
	b = appendVec16(b, []byte(r.dest))
	b = appendVec16(b, []byte(r.dir))
	b = appendVec16(b, []byte(r.name))
	b = binary.BigEndian.AppendUint64(b, uint64(r.at))
	b = appendVec16(b, r.check)
	return binary.BigEndian.AppendUint64(b, uint64(r.created.UnixNano()))
}

type recReader struct {
	b   []byte
	bad bool
}

func (r *recReader) vec16() []byte {
	if r.bad || len(r.b) < 2 {
		r.bad = true
		return nil
	}
	n := int(binary.BigEndian.Uint16(r.b))
	if len(r.b) < 2+n {
		r.bad = true
		return nil
	}
	v := r.b[2 : 2+n]
	r.b = r.b[2+n:]
	return v
}

func (r *recReader) str() string {
	v := r.vec16()
	if len(v) > maxRecordString || !utf8.Valid(v) {
		r.bad = true
	}
	return string(v)
}

func (r *recReader) u64() uint64 {
	if r.bad || len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// decodeFileRecord parses a record strictly: one encoding per record.
func decodeFileRecord(b []byte) (*fileRecord, error) {
	if len(b) < 3 || b[0] != fileRecordV1 || b[1]&^(recOut|recAccepted|recEnded) != 0 {
		return nil, errFileRecord
	}
	r := &fileRecord{flags: b[1], reason: e2e.FileReason(b[2])}
	rd := &recReader{b: b[3:]}
	pid := rd.vec16()
	offer := rd.vec16()
	r.src, r.dest, r.dir, r.name = rd.str(), rd.str(), rd.str(), rd.str()
	at := rd.u64()
	check := rd.vec16()
	created := rd.u64()
	if rd.bad || len(rd.b) != 0 || at > 1<<62 || created > 1<<63-1 || len(check) > 256 {
		return nil, errFileRecord
	}
	p, err := peer.IDFromBytes(pid)
	if err != nil {
		return nil, errFileRecord
	}
	o, err := e2e.ParseFileOffer(offer)
	if err != nil {
		return nil, errFileRecord
	}
	if r.flags&recEnded != 0 {
		if r.reason < e2e.FileRejected || r.reason > e2e.FileTooLarge {
			return nil, errFileRecord
		}
	} else if r.reason != 0 {
		return nil, errFileRecord
	}
	r.peer, r.offer, r.at, r.created = p, o, int64(at), time.Unix(0, int64(created)).UTC()
	if len(check) > 0 {
		r.check = append([]byte(nil), check...)
	}
	return r, nil
}

// recordName is the store name of a transfer: its direction, peer and file
// ID (the store keys it by an HMAC of this name).
func recordName(k xferKey) string {
	dir := "in"
	if k.out {
		dir = "out"
	}
	return dir + "/" + string(k.peer) + "/" + k.id.String()
}

// partialKey names a received transfer's partial file: a hash of the peer
// and file ID, so the folder listing reveals neither.
func partialKey(k xferKey) string {
	h := sha256.Sum256([]byte(recordName(k)))
	return hex.EncodeToString(h[:12])
}
