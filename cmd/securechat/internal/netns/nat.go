package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// A NAT testbed: homes behind home-router NATs and a "public" segment that
// every NAT reaches, all in 10.232.0.0/16:
//
//	home1 10.232.1.2 -- nat1 [lan0 10.232.1.1 | wan0 10.232.0.11] --+
//	                                                               pub: bridge 10.232.0.1,
//	home2 10.232.2.2 -- nat2 [lan0 10.232.2.1 | wan0 10.232.0.12] --+ pub hosts 10.232.0.2-.10
//
// Each NAT forwards from lan0 to wan0 with masquerade and drops everything
// new that arrives on wan0, forwarded or for itself, as a home router does:
// a home reaches pub, pub answers, and nothing else gets in. The NATs have
// no route between the homes' networks, so home1 reaches home2 only through
// nat2's wan address, where it is dropped like any stranger's packet.

// NATNet is the testbed's IPv4 network.
const NATNet = "10.232.0.0/16"

// PubIP is the address of pub's bridge, in pub's own namespace.
const PubIP = "10.232.0.1"

const (
	maxHomes    = 89 // wan0 addresses 10.232.0.11 to .99
	maxPubHosts = 9  // 10.232.0.2 to .10
)

// NATMode is how a NAT maps a home's outgoing flows to its wan address.
type NATMode int

const (
	// PortPreserving is plain masquerade: a home socket keeps its source
	// port where it can, the same for every destination
	// (endpoint-independent mapping, like most home routers). Hole
	// punching works through it.
	PortPreserving NATMode = iota
	// Symmetric is "masquerade fully-random": every new flow gets a random
	// source port, a different one per destination, so the port a third
	// party observed is of no use to a peer. Hole punching fails through
	// it.
	Symmetric
)

// String names the mode as the tests log it.
func (m NATMode) String() string {
	switch m {
	case PortPreserving:
		return "port-preserving"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("NATMode(%d)", int(m))
}

// natRuleset is the nftables ruleset of NAT i (lan 10.232.i.0/24) in mode.
// Keep the input drop on wan0: without it an early hole-punch packet
// reaches the NAT's own stack, leaves a conntrack entry, and masquerade
// then picks a new port, so punching fails.
func natRuleset(i int, mode NATMode) string {
	masq := "masquerade"
	if mode == Symmetric {
		masq = "masquerade fully-random"
	}
	return fmt.Sprintf(`table ip scnat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr 10.232.%d.0/24 %s
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" drop
  }
}
`, i, masq)
}

var (
	natOnce sync.Once
	natErr  error
)

// NATAvailable reports why the NAT testbed cannot be built here, or nil:
// what [Available] checks, the nft command, and an nftables table actually
// loaded in a namespace (the kernel needs nf_tables).
func NATAvailable() error {
	if err := Available(); err != nil {
		return err
	}
	natOnce.Do(func() {
		if _, err := exec.LookPath("nft"); err != nil {
			natErr = errors.New("needs the nft command (nftables)")
			return
		}
		probe := fmt.Sprintf("%s%d-nftprobe", Prefix, os.Getpid())
		if err := ip("netns", "add", probe); err != nil {
			natErr = fmt.Errorf("cannot create a network namespace: %w", err)
			return
		}
		defer func() { _ = ip("netns", "del", probe) }()
		if err := nft(probe, natRuleset(1, Symmetric)); err != nil {
			natErr = fmt.Errorf("cannot load an nftables NAT ruleset: %w", err)
		}
	})
	return natErr
}

// RequireNAT skips t unless the NAT testbed can be built ([NATAvailable]),
// and in -short mode.
func RequireNAT(t testing.TB) {
	t.Helper()
	Require(t)
	if err := NATAvailable(); err != nil {
		t.Skipf("skipped: %v (run as root with iproute2 and nftables installed for the NAT tests)", err)
	}
}

// A NATBed is a NAT testbed: pub's namespace with its bridge, the hosts in
// pub, and the homes with their NATs.
type NATBed struct {
	// Pub is the public segment's own namespace, holding the bridge with
	// address PubIP: a relay or mailbox can run right there. It has no
	// cable of its own, so SetLink does not apply to it.
	Pub *Host

	prefix string // "sctest-<pid>-<seq>-"

	mu    sync.Mutex
	names []string // every namespace made, to delete
	homes []*Home
	pubs  int // hosts added to pub
}

// A Home is a host behind its own NAT.
type Home struct {
	// Host is the home's namespace; its IP is 10.232.i.2 on eth0, with a
	// default route via the NAT. SetLink unplugs it from its router.
	*Host
	// NAT is the home router's namespace; its IP is its wan address
	// 10.232.0.(10+i) on pub's bridge. NAT.SetLink unplugs the router
	// from pub.
	NAT *Host
	// Mode is how the NAT maps the home's flows.
	Mode NATMode
	// Index is i, the home's number from 1.
	Index int
}

// NewNATBed creates the pub segment, with no homes yet, and deletes the
// whole testbed when t ends. It calls [RequireNAT] first.
func NewNATBed(t testing.TB) *NATBed {
	t.Helper()
	RequireNAT(t)
	b := &NATBed{prefix: fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), lanSeq.Add(1))}
	b.Pub = &Host{NS: b.prefix + "pub", IP: PubIP}
	t.Cleanup(b.close)
	b.mustNS(t, b.Pub.NS)
	b.mustIP(t,
		[]string{"-n", b.Pub.NS, "link", "add", "br0", "type", "bridge"},
		[]string{"-n", b.Pub.NS, "addr", "add", PubIP + "/24", "dev", "br0"},
		[]string{"-n", b.Pub.NS, "link", "set", "br0", "up"},
	)
	return b
}

// AddPubHost adds a namespace on pub's bridge, with the next address from
// 10.232.0.2 (up to .10): a public host such as a relay or a mailbox.
func (b *NATBed) AddPubHost(t testing.TB) *Host {
	t.Helper()
	b.mu.Lock()
	if b.pubs >= maxPubHosts {
		b.mu.Unlock()
		t.Fatalf("netns: more than %d pub hosts", maxPubHosts)
	}
	b.pubs++
	n := b.pubs + 1
	b.mu.Unlock()
	h := &Host{NS: fmt.Sprintf("%sp%d", b.prefix, n), IP: fmt.Sprintf("10.232.0.%d", n),
		hub: b.Pub.NS, port: fmt.Sprintf("p%d", n)}
	b.mustNS(t, h.NS)
	b.mustIP(t, b.pubCable(h, "eth0")...)
	return h
}

// pubCable returns the ip commands that join h to pub's bridge: a veth pair
// whose end h.port is on the bridge and whose end ifname is in h, with
// h.IP/24. Both ends are made in pub and one goes straight into h: the root
// namespace never holds either.
func (b *NATBed) pubCable(h *Host, ifname string) [][]string {
	return [][]string{
		{"-n", b.Pub.NS, "link", "add", h.port, "type", "veth", "peer", "name", ifname, "netns", h.NS},
		{"-n", b.Pub.NS, "link", "set", h.port, "master", "br0"},
		{"-n", b.Pub.NS, "link", "set", h.port, "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", ifname},
		{"-n", h.NS, "link", "set", ifname, "up"},
	}
}

// AddHome adds home i (the next number from 1) behind its own NAT in mode.
func (b *NATBed) AddHome(t testing.TB, mode NATMode) *Home {
	t.Helper()
	b.mu.Lock()
	i := len(b.homes) + 1
	if i > maxHomes {
		b.mu.Unlock()
		t.Fatalf("netns: more than %d homes", maxHomes)
	}
	nat := &Host{NS: fmt.Sprintf("%snat%d", b.prefix, i), IP: fmt.Sprintf("10.232.0.%d", 10+i),
		hub: b.Pub.NS, port: fmt.Sprintf("w%d", i)}
	hm := &Home{Host: &Host{NS: fmt.Sprintf("%shome%d", b.prefix, i), IP: fmt.Sprintf("10.232.%d.2", i),
		hub: nat.NS, port: "lan0"}, NAT: nat, Mode: mode, Index: i}
	b.homes = append(b.homes, hm)
	b.mu.Unlock()
	lanIP := fmt.Sprintf("10.232.%d.1", i)
	b.mustNS(t, nat.NS)
	b.mustNS(t, hm.NS)
	b.mustIP(t, b.pubCable(nat, "wan0")...) // wan0: from pub's bridge into the NAT
	b.mustIP(t,
		// lan0 to the home's eth0.
		[]string{"-n", nat.NS, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", hm.NS},
		[]string{"-n", nat.NS, "addr", "add", lanIP + "/24", "dev", "lan0"},
		[]string{"-n", nat.NS, "link", "set", "lan0", "up"},
		[]string{"-n", hm.NS, "addr", "add", hm.IP + "/24", "dev", "eth0"},
		[]string{"-n", hm.NS, "link", "set", "eth0", "up"},
		[]string{"-n", hm.NS, "route", "add", "default", "via", lanIP},
	)
	// The ruleset first, forwarding after: no packet crosses unfiltered.
	if err := nft(nat.NS, natRuleset(i, mode)); err != nil {
		t.Fatalf("netns: %v", err)
	}
	if _, err := nat.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatalf("netns: %v", err)
	}
	return hm
}

// Homes returns the homes added so far, in order.
func (b *NATBed) Homes() []*Home {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Home(nil), b.homes...)
}

// mustNS creates namespace name with loopback up, recorded for deletion
// before it exists so that a failure half way leaves nothing behind.
func (b *NATBed) mustNS(t testing.TB, name string) {
	t.Helper()
	b.mu.Lock()
	b.names = append(b.names, name)
	b.mu.Unlock()
	b.mustIP(t, []string{"netns", "add", name}, []string{"-n", name, "link", "set", "lo", "up"})
}

// mustIP runs each ip command in order and fails t on the first error.
func (b *NATBed) mustIP(t testing.TB, steps ...[]string) {
	t.Helper()
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
}

// close kills what still runs in the testbed's namespaces and deletes them.
func (b *NATBed) close() {
	b.mu.Lock()
	names := append([]string(nil), b.names...)
	b.mu.Unlock()
	for _, n := range names {
		killAll(n)
	}
	for _, n := range names {
		_ = ip("netns", "del", n)
	}
}

// nft loads ruleset into namespace ns (nft -f -), bounded by cmdTimeout.
func nft(ns, ruleset string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f - in %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}
