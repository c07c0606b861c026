package p2p

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/securechat/securechat/p2p/store"
)

// maxNameRunes bounds a name or a label: 1-32 printable characters.
const maxNameRunes = 32

// ValidName checks a nickname or a label as the user typed it: surrounding
// spaces are dropped, and what is left must be 1-32 printable characters
// of valid UTF-8. It returns the trimmed name, or an error wrapping
// [ErrInvalidName].
func ValidName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: it is empty", ErrInvalidName)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidName)
	case utf8.RuneCountInString(s) > maxNameRunes:
		return "", fmt.Errorf("%w: it has more than %d", ErrInvalidName, maxNameRunes)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("%w: it has a control or invisible character", ErrInvalidName)
		}
	}
	return s, nil
}

// startName picks the name a node starts with: cfg.Name, which is then
// saved in the store; else the name saved there by an earlier run (or
// [Node.SetName]); else cfg.DefaultName, not saved, so that a later run
// with another default follows it. cfg.Name is taken as given (the
// command checks --name; tests send hostile names on purpose), within
// what the store keeps: at most 128 bytes of UTF-8.
func startName(st store.Store, cfg Config) (string, error) {
	if cfg.Name != "" {
		if err := st.SetOwnName(cfg.Name); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidName, err)
		}
		return cfg.Name, nil
	}
	saved, ok, err := st.OwnName()
	if err != nil {
		return "", err
	}
	if ok {
		return saved, nil
	}
	return cfg.DefaultName, nil
}

// Name returns the node's own nickname, as peers see it.
func (n *Node) Name() string {
	n.nameMu.Lock()
	defer n.nameMu.Unlock()
	return n.name
}

// SetName changes the node's own nickname: name must be 1-32 printable
// characters ([ValidName]; surrounding spaces are dropped). It is saved in
// the store, so it stays across restarts (in memory only with Ephemeral),
// and announced at once in a NAME payload on every live session; peers
// without a session learn it from the next HELLO.
func (n *Node) SetName(name string) error {
	name, err := ValidName(name)
	if err != nil {
		return err
	}
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	if err := n.store.SetOwnName(name); err != nil {
		return err
	}
	n.nameMu.Lock()
	n.name = name
	n.nameMu.Unlock()
	n.mu.Lock()
	live := n.liveSessionsLocked()
	n.mu.Unlock()
	for _, ss := range live {
		// Each on its own: a peer that does not read must not hold the
		// others (or the caller) up for the write timeout.
		n.goTracked(func() {
			if err := ss.announceName(); err != nil {
				n.log.Debug("announce name", "peer_id", ss.pid, "err", err)
				_ = ss.st.Reset()
			}
		})
	}
	return nil
}

// announceName sends the node's current name in a NAME payload, unless
// the session's HELLO has not gone out yet (it will carry the name) or
// the peer was already told this name. It holds wmu throughout, so NAME
// never overtakes HELLO and two calls never send one name twice.
func (ss *session) announceName() error {
	ss.wmu.Lock()
	name := ss.n.Name()
	if !ss.helloSent || ss.announced == name {
		ss.wmu.Unlock()
		return nil
	}
	b := recordBatch{ss: ss, locked: true} // write releases wmu
	err := b.add(func() ([]byte, error) { return ss.sec.Seal(encodeName(name)) })
	if err == nil {
		ss.announced = name
	}
	if werr := b.write(); err == nil {
		err = werr
	}
	return err
}

// onName handles a NAME payload on a live session: the contact's name is
// updated with the checks of a HELLO (noteName: the name_collision alert
// when another contact uses it), and [NameChanged] is raised when the name
// is new. A NAME on a session that is not the peer's live one is ignored.
func (n *Node) onName(ss *session, name string) {
	if !n.isCurrent(ss) {
		return
	}
	old, known, err := n.store.Contact(ss.pid)
	if err != nil {
		n.log.Error("read contact", "err", err)
		return
	}
	if known && old.Name == name {
		return
	}
	n.noteName(ss, name)
	n.emit(NameChanged{PeerID: ss.pid, Name: name})
}
