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
)

// maxNameRunes bounds --name, as INTERFACE.md says: 1-32 printable characters.
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
	cmdVersion = "version"
	cmdHelp    = "help"
)

// config is everything the command line and environment decide.
type config struct {
	command        string
	home           string
	homeErr        error // why no default home could be found; reported only if one is needed
	listen         []multiaddr.Multiaddr
	connect        []multiaddr.Multiaddr
	mdns           bool
	name           string
	nameSet        bool // --name was given: it replaces the saved name
	headless       bool
	ephemeral      bool
	passphraseFile string
	debug          bool
	bell           bool // terminal UI: ring on a message while unfocused
	maxSessions    int  // p2p.Config.MaxSessions; 0 = the node's default
}

// maxSessionsLimit bounds --max-sessions: the node's limits grow with it
// (2.5 connections and 16 streams per session, descriptors to match), and a
// node meant for more peers than this is not a chat client.
const maxSessionsLimit = 10000

// errHelp asks for the usage text on stdout and exit status 0.
var errHelp = errors.New("help requested")

const usageText = `securechat: serverless, end-to-end encrypted chat

Usage:
  securechat [flags]            chat (line interface, or JSON Lines with --headless)
  securechat id [flags]         print this node's peer ID and fingerprint
  securechat version            print the version
  securechat help               print this help

Flags (usable in any order, before or after the subcommand):
  --home DIR                identity, contacts and outbox (default $SECURECHAT_HOME,
                            else the user config dir + /securechat)
  --listen MULTIADDR        address to listen on; repeatable
                            (default TCP and QUIC on all interfaces, port 0)
  --connect MULTIADDR       dial at start; repeatable; must end in /p2p/<peer-id>
  --no-mdns                 do not announce or discover on the LAN
  --name NAME               nickname shown to peers, 1-32 printable characters;
                            saved in the home (default the saved name, else
                            the OS user name)
  --headless                JSON Lines API on stdin/stdout, logs on stderr
  --ephemeral               fresh identity in memory; nothing is written to disk
  --passphrase-file FILE    read the passphrase from the first line of FILE
                            (default $SECURECHAT_PASSPHRASE, else ask on the terminal)
  --bell                    terminal UI: ring the bell on a message while unfocused
  --max-sessions N          concurrent peer sessions the node is sized for, 1-10000
                            (default 64; connection, stream and memory limits grow with it)

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
	fs.Var(multiaddrList{name: "connect", addrs: &cfg.connect, needP2P: true, failed: &flagErr}, "connect", "")
	fs.BoolVar(&noMDNS, "no-mdns", false, "")
	fs.StringVar(&nameSet, "name", "", "")
	fs.BoolVar(&cfg.headless, "headless", false, "")
	fs.BoolVar(&cfg.ephemeral, "ephemeral", false, "")
	fs.StringVar(&cfg.passphraseFile, "passphrase-file", "", "")
	fs.BoolVar(&cfg.bell, "bell", false, "")
	fs.Var(sessionsFlag{n: &cfg.maxSessions, failed: &flagErr}, "max-sessions", "")

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
		case cmdID, cmdVersion, cmdHelp:
			cfg.command = c
		default:
			return nil, usageErrorf("run 'securechat help' for the commands", "unknown command %q", clip(c))
		}
		if len(positional) > 1 {
			return nil, usageErrorf("", "unexpected argument %q after %q", clip(positional[1]), cfg.command)
		}
	}
	if cfg.command == cmdHelp {
		return nil, errHelp
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
	if seen["passphrase-file"] && cfg.passphraseFile == "" {
		return nil, usageErrorf("", "--passphrase-file: empty file name")
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
