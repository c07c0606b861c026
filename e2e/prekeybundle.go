package e2e

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// prekeyBundleVersion is the first byte of every encoded prekey bundle.
const prekeyBundleVersion = 1

// MaxPrekeyBundleSize is the largest encoded [PrekeyBundle] accepted,
// checked before anything is parsed: [MaxOneTimePrekeys] one-time prekeys and
// a last-resort prekey, each signed by a key of up to [MaxPeerRSABits].
const MaxPrekeyBundleSize = 1 + 32 + 1 + (MaxOneTimePrekeys+1)*(2+maxPrekeySize)

// A PrekeyBundle is what an owner hands a contact inside their end-to-end
// session so that the contact can write to it through a mailbox while it is
// offline: zero to [MaxOneTimePrekeys] one-time prekeys and exactly one
// last-resort prekey, all signed by the owner's IK_sig.
//
// The session already authenticates the owner, and the signatures bind
// every prekey to the owner's identity again, so a prekey can be stored and
// used long after the session has ended, and a bundle forwarded by anyone
// else than the owner is refused ([ParsePrekeyBundle] takes the owner's
// identity, not the bundle's claim).
type PrekeyBundle struct {
	owner      Fingerprint
	oneTime    []*Prekey
	lastResort *Prekey
	raw        []byte
}

// NewPrekeyBundle gathers owner's signed one-time prekeys (at most
// [MaxOneTimePrekeys], distinct IDs) and its current last-resort prekey.
func NewPrekeyBundle(owner *PublicIdentity, oneTime []*Prekey, lastResort *Prekey) (*PrekeyBundle, error) {
	if owner == nil || lastResort == nil || !lastResort.LastResort() || len(oneTime) > MaxOneTimePrekeys {
		return nil, errors.New("e2e: prekey bundle needs a last-resort prekey and at most 32 one-time prekeys")
	}
	all := append(append([]*Prekey(nil), oneTime...), lastResort)
	for i, p := range all {
		if p == nil || !p.owner.Equal(owner.fp) || (i < len(oneTime) && p.LastResort()) {
			return nil, errors.New("e2e: prekey bundle: prekey of another owner or kind")
		}
	}
	if !distinctIDs(all) {
		return nil, errors.New("e2e: prekey bundle: duplicate prekey ID")
	}
	raw := []byte{prekeyBundleVersion}
	raw = append(raw, owner.fp[:]...)
	raw = append(raw, byte(len(oneTime)))
	for _, p := range all {
		raw = appendVec16(raw, p.raw)
	}
	return &PrekeyBundle{owner: owner.fp, oneTime: all[:len(oneTime):len(oneTime)], lastResort: lastResort, raw: raw}, nil
}

func distinctIDs(ps []*Prekey) bool {
	seen := make(map[PrekeyID]bool, len(ps))
	for _, p := range ps {
		if seen[p.id] {
			return false
		}
		seen[p.id] = true
	}
	return true
}

// ParsePrekeyBundle decodes a bundle and verifies it as owner's, in this
// order: the size cap; the whole encoding (version, owner fingerprint equal
// to owner's, count, kinds, lengths, distinct IDs, no trailing bytes); then
// every signature. So at most [MaxOneTimePrekeys]+1 RSA verifications are
// spent, and none on a bundle that is malformed anywhere. Every failure is
// [ErrPrekey]. owner is the identity the session authenticated, never one
// the bundle names.
func ParsePrekeyBundle(b []byte, owner *PublicIdentity) (*PrekeyBundle, error) {
	if owner == nil || len(b) > MaxPrekeyBundleSize {
		return nil, ErrPrekey
	}
	s := cryptobyte.String(b)
	var version, n uint8
	var fp Fingerprint
	if !s.ReadUint8(&version) || version != prekeyBundleVersion ||
		!s.CopyBytes(fp[:]) || !fp.Equal(owner.fp) ||
		!s.ReadUint8(&n) || n > MaxOneTimePrekeys {
		return nil, ErrPrekey
	}
	all := make([]*Prekey, 0, int(n)+1)
	sigs := make([][]byte, 0, int(n)+1)
	for i := 0; i <= int(n); i++ {
		var raw []byte
		if !readVec16(&s, &raw) {
			return nil, ErrPrekey
		}
		p, sig, ok := parsePrekeyUnverified(raw, owner)
		if !ok || p.LastResort() != (i == int(n)) {
			return nil, ErrPrekey
		}
		all, sigs = append(all, p), append(sigs, sig)
	}
	if !s.Empty() || !distinctIDs(all) {
		return nil, ErrPrekey
	}
	for i, p := range all {
		if p.verify(owner, sigs[i]) != nil {
			return nil, ErrPrekey
		}
	}
	return &PrekeyBundle{owner: owner.fp, oneTime: all[:n:n], lastResort: all[n], raw: append([]byte(nil), b...)}, nil
}

// Owner returns the fingerprint of the identity whose prekeys these are.
func (b *PrekeyBundle) Owner() Fingerprint { return b.owner }

// OneTime returns the one-time prekeys. A sender uses each for one envelope
// only and then forgets it; the caller must not modify the slice.
func (b *PrekeyBundle) OneTime() []*Prekey { return b.oneTime }

// LastResort returns the last-resort prekey, for envelopes sealed when no
// one-time prekey is left.
func (b *PrekeyBundle) LastResort() *Prekey { return b.lastResort }

// Bytes returns the encoded bundle. The caller must not modify it.
func (b *PrekeyBundle) Bytes() []byte { return b.raw }
