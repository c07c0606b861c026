package p2p

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/keystore"
)

// Ports kept across restarts. A node started without [Config.ListenAddrs]
// listens on the default addresses (settings.listenDefaults: TCP and QUIC
// on every interface), and a persistent one on the ports it had last time,
// so that its addresses, which its contacts stored (peeraddrs.go), stay
// the same: each default address is tried first with its remembered port,
// and with port 0 (a new port) only if that one is taken. The ports are
// kept in the home, in portsFileName: one bound listen address per line,
// such as /ip4/0.0.0.0/tcp/41234. A port is not secret, but the file
// follows the home's rules (0600, written whole or not at all); a line
// that does not parse or matches no default address is ignored, and only
// its port is ever used.

// portsFileName is the file in Config.Home that holds the last ports.
const portsFileName = "ports"

// maxPortsFile bounds what is read of the ports file.
const maxPortsFile = 4 << 10

// listenDefaults makes h listen on defaults, each with its port from the
// ports file in home (none for home ""), or a new one if that is taken,
// then writes the ports it got back to the file (a failure to write is
// logged: the node runs, on ports that may change next time). It fails
// only if no address could be listened on at all.
func listenDefaults(h host.Host, defaults []string, home string, log *slog.Logger) error {
	var last []multiaddr.Multiaddr
	path := ""
	if home != "" {
		path = filepath.Join(home, portsFileName)
		last = readPorts(path)
	}
	var want []multiaddr.Multiaddr
	var errs []error
	for _, s := range defaults {
		d, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("default listen address %q: %w", s, err)
		}
		want = append(want, d)
		tries := []multiaddr.Multiaddr{d}
		if i := slices.IndexFunc(last, func(a multiaddr.Multiaddr) bool { return portKey(a) == portKey(d) }); i >= 0 {
			tries = []multiaddr.Multiaddr{last[i], d}
		}
		for _, a := range tries {
			err := h.Network().Listen(a)
			if err == nil {
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
	}
	var bound []multiaddr.Multiaddr
	for _, a := range h.Network().ListenAddresses() {
		if slices.ContainsFunc(want, func(d multiaddr.Multiaddr) bool { return portKey(a) == portKey(d) }) {
			bound = append(bound, a)
		}
	}
	if len(bound) == 0 {
		return fmt.Errorf("listen: %w", errors.Join(errs...))
	}
	if path != "" && !slices.EqualFunc(bound, last, multiaddr.Multiaddr.Equal) {
		if err := writePorts(path, bound); err != nil {
			log.Warn("keep listen ports", "err", err)
		}
	}
	return nil
}

// portKey is a with its TCP or UDP port set to 0: the default address it
// was bound for. It is "" for an address without either.
func portKey(a multiaddr.Multiaddr) string {
	out := slices.Clone(a)
	found := false
	for i, c := range out {
		if c.Code() == multiaddr.P_TCP || c.Code() == multiaddr.P_UDP {
			z, err := multiaddr.NewComponent(c.Protocol().Name, "0")
			if err != nil {
				return ""
			}
			out[i], found = *z, true
			break
		}
	}
	if !found {
		return ""
	}
	return out.String()
}

// readPorts reads the ports file; a missing or unreadable file is no
// ports, and lines that are not addresses with a TCP or UDP port above 0
// are skipped.
func readPorts(path string) []multiaddr.Multiaddr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []multiaddr.Multiaddr
	sc := bufio.NewScanner(io.LimitReader(f, maxPortsFile))
	for sc.Scan() {
		a, err := multiaddr.NewMultiaddr(strings.TrimSpace(sc.Text()))
		if err != nil || portKey(a) == "" || portOf(a) == 0 {
			continue
		}
		out = append(out, a)
	}
	return out
}

// portOf is a's TCP or UDP port, 0 if it has none.
func portOf(a multiaddr.Multiaddr) int {
	for _, c := range a {
		if c.Code() == multiaddr.P_TCP || c.Code() == multiaddr.P_UDP {
			p, _ := strconv.Atoi(c.Value())
			return p
		}
	}
	return 0
}

// writePorts replaces the ports file with addrs, through a temporary file
// renamed over it, so that it is whole or not there.
func writePorts(path string, addrs []multiaddr.Multiaddr) error {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String() + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), portsFileName+".*")
	if err != nil {
		return fmt.Errorf("ports file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(keystore.FileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("ports file: %w", err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("ports file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ports file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ports file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ports file: %w", err)
	}
	return nil
}
