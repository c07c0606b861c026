package p2p

import (
	"testing"
)

// TestNamesLookAlike: format characters, other scripts' look-alikes and
// case do not tell names apart; different names stay apart.
func TestNamesLookAlike(t *testing.T) {
	t.Parallel()
	alike := []string{"Bob\u200b", "Bob\u2060", "\ufeffBob", "B\u00adob", "\u0392ob", "bob", "BOB", " Bob "}
	for _, s := range alike {
		if !NamesLookAlike("Bob", s) {
			t.Errorf("%q does not look like Bob (skeletons %q, %q)", s, NameSkeleton("Bob"), NameSkeleton(s))
		}
	}
	for _, s := range []string{"Bobby", "Rob", "", "\u200b"} {
		if NamesLookAlike("Bob", s) {
			t.Errorf("%q looks like Bob", s)
		}
	}
	for _, s := range []string{"Bob\u200b", "Bob\u2060", "\ufeffBob", "B\u00adob", "Bo\u200db"} {
		if got := SanitizeName(s); got != "Bob" {
			t.Errorf("SanitizeName(%q) = %q, want Bob", s, got)
		}
	}
	// Texts keep joiners (emoji sequences).
	if s := "\U0001F469\u200d\U0001F4BB"; SanitizeText(s) != s {
		t.Errorf("SanitizeText dropped a joiner")
	}
}

// TestNameCollisionConfusable: a stranger whose name is a contact's with a
// Greek capital Beta and a zero-width space raises name_collision, and
// Peers marks both names as colliding.
func TestNameCollisionConfusable(t *testing.T) {
	t.Parallel()
	a, bob := newTestNode(t, "alice"), newTestNode(t, "Bob")
	a.connect(t, bob) // Bob is a's contact
	impostor := newTestNode(t, "\u0392ob\u200b")
	impostor.connect(t, a)
	al := a.ev.wait(t, "name_collision", isAlert(AlertNameCollision)).(Alert)
	if al.PeerID != impostor.PeerID() {
		t.Fatalf("alert %+v, want one about the impostor", al)
	}
	n := 0
	for _, p := range a.Peers() {
		if !p.NameCollides {
			t.Errorf("peer %+v not marked as colliding", p)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d peers listed, want 2", n)
	}
}
