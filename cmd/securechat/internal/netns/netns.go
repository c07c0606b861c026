// Package netns builds throwaway Linux network namespaces for tests that
// need a real LAN: multicast (mDNS), several hosts, addresses of their own.
//
// A [LAN] is a "hub" namespace holding a bridge, and member namespaces
// ([Host]) each joined to the bridge by a veth pair, with an address in
// 10.231.0.0/24 and loopback up. Every link is created inside the test's own
// namespaces (a veth is made in the hub with its peer end placed directly in
// the member), so nothing ever touches the root namespace's interfaces, and
// traffic, multicast included, stays on the test's bridge.
//
// A [NATBed] is the other layout: homes behind home-router NATs (nftables
// masquerade, port-preserving or symmetric) and a public segment, in
// 10.232.0.0/16, for relay and hole-punching tests; it needs nft too
// ([RequireNAT]).
//
// Namespace names start with "sctest-<pid>-", so a later run can sweep what
// a killed run left behind ([Sweep]) without touching another live run's.
// Everything is deleted in t.Cleanup, even when the test fails. The package
// needs root and the ip command (iproute2); [Require] skips a test with a
// clear message otherwise.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "sctest-"

// Subnet is the LAN's IPv4 network; hosts get .2, .3, ... in order.
const Subnet = "10.231.0.0/24"

// maxHosts is how many hosts one LAN can hold (.2 to .254).
const maxHosts = 253

// cmdTimeout bounds every ip command.
const cmdTimeout = 20 * time.Second

var (
	availOnce sync.Once
	availErr  error
	lanSeq    atomic.Uint64
)

// Available reports why namespaces cannot be used here, or nil. It checks
// once per process: root, the ip command, and a namespace actually created
// and deleted. The first call also sweeps stale namespaces.
func Available() error {
	availOnce.Do(func() {
		if os.Geteuid() != 0 {
			availErr = errors.New("needs root to create network namespaces")
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			availErr = errors.New("needs the ip command (iproute2)")
			return
		}
		Sweep()
		probe := fmt.Sprintf("%s%d-probe", Prefix, os.Getpid())
		if err := ip("netns", "add", probe); err != nil {
			availErr = fmt.Errorf("cannot create a network namespace: %w", err)
			return
		}
		if err := ip("netns", "del", probe); err != nil {
			availErr = fmt.Errorf("cannot delete a network namespace: %w", err)
		}
	})
	return availErr
}

// Require skips t unless network namespaces are available, and in -short
// mode.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("network namespace test skipped in -short mode")
	}
	if err := Available(); err != nil {
		t.Skipf("skipped: %v (run as root with iproute2 installed for the LAN tests)", err)
	}
}

// Sweep deletes namespaces named by this package for processes that no
// longer run: what a killed test run left behind.
func Sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := ownerPID(name)
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		killAll(name)
		_ = ip("netns", "del", name)
	}
}

// ownerPID returns the pid in a name "sctest-<pid>-...".
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	s, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
}

func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// A LAN is a bridge in a hub namespace and the hosts plugged into it.
type LAN struct {
	prefix string // "sctest-<pid>-<seq>-"
	hub    string

	mu    sync.Mutex
	hosts []*Host
}

// A Host is one member namespace on a [LAN].
type Host struct {
	// NS is the namespace's name, for ip netns exec.
	NS string
	// IP is the host's IPv4 address on the LAN (without the prefix length).
	IP   string
	hub  string // the namespace holding the other end of the host's cable
	port string // the hub's end of the host's veth pair
}

// New creates an empty LAN and deletes it, with every host, when t ends.
// It calls [Require] first.
func New(t testing.TB) *LAN {
	t.Helper()
	Require(t)
	l := &LAN{prefix: fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), lanSeq.Add(1))}
	l.hub = l.prefix + "hub"
	t.Cleanup(l.close)
	steps := [][]string{
		{"netns", "add", l.hub},
		{"-n", l.hub, "link", "set", "lo", "up"},
		// No multicast snooping: without an IGMP querier on the bridge,
		// snooping could keep mDNS from some ports.
		{"-n", l.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"},
		{"-n", l.hub, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return l
}

// AddHost adds a member namespace with its address configured.
func (l *LAN) AddHost(t testing.TB) *Host {
	t.Helper()
	h := l.AddHostNoAddr(t)
	if err := h.AddAddr(); err != nil {
		t.Fatalf("netns: %v", err)
	}
	return h
}

// AddHostNoAddr adds a member namespace whose LAN interface (eth0) is up but
// has no IPv4 address yet; [Host.AddAddr] gives it one later.
func (l *LAN) AddHostNoAddr(t testing.TB) *Host {
	t.Helper()
	l.mu.Lock()
	i := len(l.hosts)
	if i >= maxHosts {
		l.mu.Unlock()
		t.Fatalf("netns: more than %d hosts", maxHosts)
	}
	port := fmt.Sprintf("v%d", i)
	h := &Host{NS: fmt.Sprintf("%sh%d", l.prefix, i), IP: fmt.Sprintf("10.231.0.%d", i+2), hub: l.hub, port: port}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "set", "lo", "up"},
		// Both ends are made in the hub and one goes straight into the
		// member: the root namespace never holds either.
		{"-n", l.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", l.hub, "link", "set", port, "master", "br0"},
		{"-n", l.hub, "link", "set", port, "up"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return h
}

// AddAddr gives the host its LAN address (10.231.0.x/24 on eth0).
func (h *Host) AddAddr() error {
	return ip("-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
}

// Command prepares name with args to run inside the host's namespace
// (ip netns exec, which execs the program: its pid is the program's).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// SetLink plugs the host's cable out of the bridge (up false) or back in:
// it sets the hub's end of the veth pair down or up (for a [NATBed] home,
// the router's lan0; for a NAT, its cable into pub's bridge). The host keeps its
// address and routes (its eth0 only loses carrier), and its packets are
// dropped until the link is up again: a partition, not an error its
// sockets would see.
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip("-n", h.hub, "link", "set", h.port, state)
}

// Run runs name with args inside the host's namespace to completion,
// bounded like every ip command, and returns its output (stdout and
// stderr); an error carries that output too. It is for setup such as nft
// rules, which then apply to this namespace only.
func (h *Host) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), h.NS, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// close kills what still runs in the LAN's namespaces and deletes them.
func (l *LAN) close() {
	l.mu.Lock()
	names := []string{l.hub}
	for _, h := range l.hosts {
		names = append(names, h.NS)
	}
	l.mu.Unlock()
	for _, n := range names {
		killAll(n)
	}
	for _, n := range names {
		_ = ip("netns", "del", n)
	}
}

// killAll kills the processes left in namespace name, by pid: only
// processes a test started inside its own namespace can be there.
func killAll(name string) {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

// ip runs the ip command with args, bounded by cmdTimeout.
func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
