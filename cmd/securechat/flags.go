package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/relay"
)

// maxNameRunes bounds --name, as docs/INTERFACE.md says: 1-32 printable characters.
const maxNameRunes = 32

// Environment variables the command reads.
const (
	envHome       = "SECURECHAT_HOME"
	envPassphrase = "SECURECHAT_PASSPHRASE"
	envDebug      = "SECURECHAT_DEBUG"
)

// Subcommands. The empty string is the chat itself.
const (
	cmdChat    = ""
	cmdID      = "id"
	cmdInvite  = "invite"
	cmdDoctor  = "doctor"
	cmdVersion = "version"
	cmdHelp    = "help"
	cmdPasswd  = "passwd" // passwd.go
	cmdExport  = "export" // export.go
	cmdImport  = "import"
)

// config is everything the command line and environment decide.
type config struct {
	command        string
	home           string
	homeErr        error // why no default home could be found; reported only if one is needed
	listen         []multiaddr.Multiaddr
	connect        []dialTarget // multiaddrs and invites (invite.go)
	relays         []multiaddr.Multiaddr
	serveRelay     bool
	holePunchPriv  bool // --holepunch-private
	jsonOut        bool // doctor --json
	mdns           bool
	name           string
	nameSet        bool // --name was given: it replaces the saved name
	headless       bool
	ephemeral      bool
	passphraseFile string
	newPassphrase  string // --new-passphrase-file: passwd's and export's new passphrase
	file           string // export's and import's FILE
	debug          bool
	bell           bool   // terminal UI: ring on a message while unfocused
	notify         bool   // terminal UI: desktop notification on a message while unfocused
	maxSessions    int    // p2p.Config.MaxSessions; 0 = the node's default
	downloads      string // --downloads: p2p.Config.Downloads
	maxFileSize    int64  // --max-file-size: p2p.Config.MaxFileSize; 0 = the default
}

// maxSessionsLimit bounds --max-sessions: the node's limits grow with it
// (2.5 connections and 16 streams per session, descriptors to match), and a
// node meant for more peers than this is not a chat client.
const maxSessionsLimit = 10000

// errHelp asks for the usage text on stdout and exit status 0.
var errHelp = errors.New("help requested")

const usageText = `securechat: serverless, end-to-end encrypted chat

Usage:
  securechat [flags]            chat (full-screen on a terminal, line mode with pipes,
                                JSON Lines with --headless)
  securechat id [flags]         print this node's peer ID, fingerprint, addresses and invite
  securechat invite [flags]     print this node's invite (one line) for a friend
  securechat doctor [--json]    why can't my friend reach me: addresses, relays, hole punches
  securechat passwd [flags]     change the passphrase of the identity in --home
  securechat export FILE        write the identity and contacts to FILE, sealed under a
                                passphrase of its own (asked twice), to move to another machine
  securechat import FILE        restore FILE into --home, which must hold no identity yet
  securechat version            print the version (also --version, -v)
  securechat help               print this help

Flags (usable in any order, before or after the subcommand):
  --home DIR                identity, contacts and outbox (default $SECURECHAT_HOME,
                            else the user config dir + /securechat)
  --listen MULTIADDR        address to listen on; repeatable
                            (default TCP and QUIC on all interfaces, port 0)
  --connect ADDR            dial at start; repeatable; a multiaddr ending in
                            /p2p/<peer-id>, or an invite (securechat:...)
  --no-mdns                 do not announce or discover on the LAN
  --name NAME               nickname shown to peers, 1-32 printable characters;
                            saved in the home (default the saved name, else
                            the OS user name)
  --headless                JSON Lines API on stdin/stdout, logs on stderr
  --ephemeral               fresh identity in memory; nothing is written to disk
  --passphrase-file FILE    read the passphrase from the first line of FILE
                            (default $SECURECHAT_PASSPHRASE, else ask on the terminal,
                            up to 3 times); refused if others may read it (chmod 600)
  --new-passphrase-file FILE  passwd and export: the new passphrase, first line of FILE
                            (default ask on the terminal, twice)
  --bell                    terminal UI: ring the bell on a message while unfocused
  --notify                  terminal UI: desktop notification (OSC 9 or OSC 777) on a
                            message while unfocused; it names the sender, never the text
  --max-sessions N          concurrent peer sessions the node is sized for, 1-10000
                            (default 64; connection, stream and memory limits grow with it)
  --relay MULTIADDR         keep a reservation on this circuit relay (ends in /p2p/<relay-id>),
                            so peers reach this node through it; repeatable
  --serve-relay             also be a circuit relay for other nodes (bounded; see README)
  --holepunch-private       also hole punch to outside addresses in private ranges
                            (carrier-grade or nested NAT)
  --downloads DIR           where received files are saved (default <home>/downloads;
                            with --ephemeral a new folder under the temporary directory)
  --max-file-size SIZE      largest file accepted, in bytes or with KiB, MiB, GiB
                            (default 4GiB)

id, invite and doctor start the node for a few seconds with the same flags (mDNS off),
waiting up to 8 s for --relay reservations, print, and exit.

Environment:
  SECURECHAT_HOME           default for --home
  SECURECHAT_PASSPHRASE     the passphrase (on Linux dropped from /proc/<pid>/environ at start)
  SECURECHAT_DEBUG=1        debug logging

Exit status: 0 on a clean quit, 2 on a usage error, 1 on any other failure.
`

// multiaddrList is a repeatable multiaddr flag. needP2P makes it refuse
// addresses that do not name the peer, as --connect must.
type multiaddrList struct {
	name    string
	addrs   *[]multiaddr.Multiaddr
	needP2P bool
	failed  *error // the precise usage error, kept because flag rewords Set errors
}

func (l multiaddrList) String() string { return "" }

func (l multiaddrList) Set(s string) error {
	a, err := parseMultiaddr(s, l.needP2P)
	if err != nil {
		*l.failed = usageErrorf("", "--%s %q: %v", l.name, s, err)
		return err
	}
	*l.addrs = append(*l.addrs, a)
	return nil
}

// sessionsFlag is --max-sessions: a count in [1, maxSessionsLimit].
type sessionsFlag struct {
	n      *int
	failed *error
}

func (f sessionsFlag) String() string { return "" }

func (f sessionsFlag) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > maxSessionsLimit {
		*f.failed = usageErrorf("", "--max-sessions %q: want a whole number from 1 to %d", clip(s), maxSessionsLimit)
		return errors.New("out of range")
	}
	*f.n = v
	return nil
}

// parseMultiaddr parses s and, if needP2P, insists that it ends in
// /p2p/<peer-id>: a dial without the peer ID would let anyone at that address
// answer in the peer's place at the libp2p layer.
func parseMultiaddr(s string, needP2P bool) (multiaddr.Multiaddr, error) {
	a, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("malformed multiaddr: %s", strings.TrimPrefix(err.Error(), "failed to parse multiaddr "))
	}
	if needP2P {
		if len(a) == 0 || a[len(a)-1].Protocol().Code != multiaddr.P_P2P {
			return nil, errors.New("address must end in /p2p/<peer-id>")
		}
	}
	return a, nil
}

// parseArgs turns the command line into a config. Flags may come before or
// after the subcommand. Errors are usage errors, or errHelp.
func parseArgs(args []string, env environment) (*config, error) {
	cfg := &config{
		mdns:  true,
		debug: env.Getenv(envDebug) == "1",
	}
	var noMDNS bool
	var nameSet string
	var flagErr error

	fs := flag.NewFlagSet("securechat", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we word the errors ourselves
	fs.Usage = func() {}
	fs.StringVar(&cfg.home, "home", "", "")
	fs.Var(multiaddrList{name: "listen", addrs: &cfg.listen, failed: &flagErr}, "listen", "")
	fs.Var(connectList{targets: &cfg.connect, failed: &flagErr}, "connect", "")
	fs.Var(multiaddrList{name: "relay", addrs: &cfg.relays, needP2P: true, failed: &flagErr}, "relay", "")
	fs.BoolVar(&cfg.serveRelay, "serve-relay", false, "")
	fs.BoolVar(&cfg.holePunchPriv, "holepunch-private", false, "")
	fs.BoolVar(&cfg.jsonOut, "json", false, "")
	fs.BoolVar(&noMDNS, "no-mdns", false, "")
	fs.StringVar(&nameSet, "name", "", "")
	fs.BoolVar(&cfg.headless, "headless", false, "")
	fs.BoolVar(&cfg.ephemeral, "ephemeral", false, "")
	fs.StringVar(&cfg.passphraseFile, "passphrase-file", "", "")
	fs.BoolVar(&cfg.bell, "bell", false, "")
	fs.BoolVar(&cfg.notify, "notify", false, "")
	fs.Var(sessionsFlag{n: &cfg.maxSessions, failed: &flagErr}, "max-sessions", "")
	fs.StringVar(&cfg.newPassphrase, "new-passphrase-file", "", "")
	fs.StringVar(&cfg.downloads, "downloads", "", "")
	fs.Var(fileSizeFlag{n: &cfg.maxFileSize, failed: &flagErr}, "max-file-size", "")
	var showVersion bool
	fs.BoolVar(&showVersion, "version", false, "")
	fs.BoolVar(&showVersion, "v", false, "")

	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			if flagErr != nil {
				return nil, flagErr
			}
			return nil, usageErrorf("run 'securechat help' for the flags", "%s", rewordFlagError(err))
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		// flag stops at "--" and at the first non-flag; after "--" every
		// word is positional, otherwise keep parsing after the word.
		if consumed := len(rest) - len(left); consumed > 0 && rest[consumed-1] == "--" {
			positional = append(positional, left...)
			break
		}
		positional = append(positional, left[0])
		rest = left[1:]
	}

	if len(positional) > 0 {
		switch c := positional[0]; c {
		case cmdID, cmdInvite, cmdDoctor, cmdVersion, cmdHelp, cmdPasswd, cmdExport, cmdImport:
			cfg.command = c
		default:
			return nil, usageErrorf("run 'securechat help' for the commands", "unknown command %q", clip(c))
		}
		if c := cfg.command; c == cmdExport || c == cmdImport {
			if len(positional) < 2 || positional[1] == "" {
				return nil, usageErrorf("", "%s needs a FILE", c)
			}
			cfg.file, positional = positional[1], positional[1:]
		}
		if len(positional) > 1 {
			return nil, usageErrorf("", "unexpected argument %q after %q", clip(positional[1]), cfg.command)
		}
	}
	if cfg.command == cmdHelp {
		return nil, errHelp
	}
	if showVersion {
		cfg.command = cmdVersion
	}
	if cfg.jsonOut && cfg.command != cmdDoctor {
		return nil, usageErrorf("", "--json is for 'securechat doctor' only")
	}
	if len(cfg.relays) > 0 {
		if _, err := relay.ParseRelays(cfg.relays); err != nil {
			return nil, usageErrorf("", "--relay: %v", err)
		}
	}
	cfg.mdns = !noMDNS

	seen := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { seen[f.Name] = true })
	if seen["name"] {
		n, err := checkName(nameSet)
		if err != nil {
			return nil, usageErrorf("", "--name: %v", err)
		}
		cfg.name, cfg.nameSet = n, true
	} else {
		cfg.name = defaultName(env)
	}
	if seen["home"] && cfg.home == "" {
		return nil, usageErrorf("", "--home: empty directory name")
	}
	if seen["downloads"] && cfg.downloads == "" {
		return nil, usageErrorf("", "--downloads: empty directory name")
	}
	if seen["passphrase-file"] && cfg.passphraseFile == "" {
		return nil, usageErrorf("", "--passphrase-file: empty file name")
	}
	if err := checkIdentityFlags(cfg, seen); err != nil {
		return nil, err
	}
	if cfg.home == "" {
		cfg.home, cfg.homeErr = defaultHome(env)
	}
	return cfg, nil
}

// rewordFlagError turns the flag package's wording ("flag provided but not
// defined: -x") into ours ("unknown flag --x").
func rewordFlagError(err error) string {
	msg := err.Error()
	dashes := func(s string) string { return "--" + strings.TrimLeft(s, "-") }
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: "):
		return "unknown flag " + clip(dashes(strings.TrimPrefix(msg, "flag provided but not defined: ")))
	case strings.HasPrefix(msg, "flag needs an argument: "):
		return "flag " + dashes(strings.TrimPrefix(msg, "flag needs an argument: ")) + " needs a value"
	case strings.HasPrefix(msg, "bad flag syntax: "):
		return "bad flag syntax " + strconvQuote(strings.TrimPrefix(msg, "bad flag syntax: "))
	}
	return msg
}

// checkName validates a nickname: 1-32 printable characters, surrounding
// spaces ignored.
func checkName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("must not be empty")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxNameRunes {
		return "", fmt.Errorf("at most %d characters", maxNameRunes)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", errors.New("only printable characters allowed")
		}
	}
	return s, nil
}

// defaultName is the OS user name made to fit the nickname rules: printable
// characters only, at most 32 of them; "anonymous" if nothing is left.
func defaultName(env environment) string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = env.Getenv("USER")
	}
	// Windows reports DOMAIN\user; the domain is noise to a chat peer.
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(name, "") {
		if !unicode.IsPrint(r) || n == maxNameRunes {
			continue
		}
		b.WriteRune(r)
		n++
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		return s
	}
	return "anonymous"
}

// defaultHome is $SECURECHAT_HOME, else os.UserConfigDir()/securechat.
func defaultHome(env environment) (string, error) {
	if h := env.Getenv(envHome); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", failf("pass --home DIR or set "+envHome, "no home directory: %v", err)
	}
	return filepath.Join(dir, "securechat"), nil
}

// clip keeps attacker- or typo-sized arguments from flooding the one error
// line.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", clip(s)) }
