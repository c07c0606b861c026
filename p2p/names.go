package p2p

import (
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
)

// Names are chosen by their owners and prove nothing (SECURITY.md): a
// peer can take a name that looks like a contact's, with a zero-width or
// soft-hyphen character in it (format characters, category Cf, which
// SanitizeName removes from every remote name) or with letters from
// another script that look the same (a Greek capital Beta for a Latin B).
// Names are therefore compared by their skeleton (Unicode TR39,
// "Confusable Detection"), case-folded: two names look alike when their
// skeletons are equal. The node raises name_collision when a peer takes a
// name that looks like a contact's, and [Node.Peers] sets
// [PeerInfo.NameCollides] on peers whose names look like another's; the
// front ends then show the first [MinFingerprintPrefix] hex digits of the
// fingerprint with the name.

// NameSkeleton returns the form in which names are compared: format
// characters removed, the TR39 skeleton taken, case-folded, and the
// skeleton taken again (so that a capital that folds to a confusable
// letter meets it). It is for comparison only, never for display.
func NameSkeleton(name string) string {
	s := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return confusables.Skeleton(strings.ToLower(confusables.Skeleton(s)))
}

// NamesLookAlike reports whether two peers' names would be mistaken for
// each other on a screen: both non-empty, with equal [NameSkeleton]s.
func NamesLookAlike(a, b string) bool {
	sa := NameSkeleton(a)
	return sa != "" && sa == NameSkeleton(b)
}

// markCollisions sets NameCollides on every peer in ps whose name looks
// like another's in ps under another fingerprint.
func markCollisions(ps []PeerInfo) {
	bySkeleton := make(map[string][]int, len(ps))
	for i, p := range ps {
		if sk := NameSkeleton(p.Name); sk != "" {
			bySkeleton[sk] = append(bySkeleton[sk], i)
		}
	}
	for _, idx := range bySkeleton {
		for _, i := range idx {
			for _, j := range idx {
				if i != j && !ps[i].Fingerprint.Equal(ps[j].Fingerprint) {
					ps[i].NameCollides = true
				}
			}
		}
	}
}
