package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as a small network program inside a
// namespace (see helperMain) instead of running the tests.
const helperEnv = "NETNS_TEST_HELPER"

// helperTimeout bounds everything a helper process does.
const helperTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helperMain(mode, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// mcastGroup is an administratively scoped group, for the multicast check.
const mcastGroup = "239.255.231.1:5999"

// helperMain runs one mode: "listen" accepts one TCP connection on addr,
// "dial" connects to addr, "unreachable" fails to connect to addr within
// a second, "mrecv" waits for one datagram to mcastGroup on
// eth0, "msend" sends datagrams to mcastGroup from addr (an IP) until its
// time runs out; natHelper has the NAT testbed's modes. Each prints
// "ready" when set up and "ok" when done.
func helperMain(mode, addr string) error {
	deadline := time.Now().Add(helperTimeout)
	switch mode {
	case "listen":
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		fmt.Println("ready")
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		c.Close()
	case "dial":
		fmt.Println("ready")
		c, err := net.DialTimeout("tcp4", addr, helperTimeout)
		if err != nil {
			return err
		}
		c.Close()
	case "unreachable":
		// A dial that must not get through (a partition): ok when it
		// fails within a second.
		fmt.Println("ready")
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("dial %s went through", addr)
		}
	case "mrecv":
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		ga, err := net.ResolveUDPAddr("udp4", mcastGroup)
		if err != nil {
			return err
		}
		c, err := net.ListenMulticastUDP("udp4", ifi, ga)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(deadline)
		fmt.Println("ready")
		buf := make([]byte, 64)
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return err
		}
	case "msend":
		ga, err := net.ResolveUDPAddr("udp4", mcastGroup)
		if err != nil {
			return err
		}
		// Bound to the host's address, the datagrams leave by its
		// interface: the namespace has no route for multicast.
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr)}, ga)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("ready")
		for time.Now().Before(deadline) {
			if _, err := c.Write([]byte("hello")); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	default:
		if err := natHelper(mode, addr, deadline); err != nil {
			return err
		}
	}
	fmt.Println("ok")
	return nil
}

// helper is a helper process inside a namespace.
type helper struct {
	cmd   *exec.Cmd
	lines chan string
}

// startHelper runs the test binary in mode inside h and waits for "ready".
func startHelper(t *testing.T, h *Host, mode, addr string) *helper {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*helperTimeout)
	t.Cleanup(cancel)
	cmd := h.Command(ctx, os.Args[0], "-test.run=^$", addr)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hp := &helper{cmd: cmd, lines: make(chan string, 4)}
	go func() {
		defer close(hp.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			hp.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range hp.lines {
		}
		_ = cmd.Wait()
	})
	hp.expect(t, "ready")
	return hp
}

// expect waits for the helper's next line to be want.
func (hp *helper) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got, ok := <-hp.lines:
		if !ok || got != want {
			t.Fatalf("helper said %q (open %v), want %q", got, ok, want)
		}
	case <-time.After(2 * helperTimeout):
		t.Fatalf("helper did not say %q in time", want)
	}
}

// TestLAN: two hosts reach each other over TCP and multicast, and nothing
// in the root namespace changes.
func TestLAN(t *testing.T) {
	Require(t)
	before := rootLinks(t)
	l := New(t)
	a, b := l.AddHost(t), l.AddHost(t)
	if a.IP != "10.231.0.2" || b.IP != "10.231.0.3" {
		t.Fatalf("addresses %s, %s", a.IP, b.IP)
	}
	t.Run("tcp", func(t *testing.T) {
		ln := startHelper(t, a, "listen", a.IP+":7000")
		startHelper(t, b, "dial", a.IP+":7000").expect(t, "ok")
		ln.expect(t, "ok")
	})
	t.Run("multicast", func(t *testing.T) {
		recv := startHelper(t, a, "mrecv", "-")
		startHelper(t, b, "msend", b.IP)
		recv.expect(t, "ok")
	})
	if after := rootLinks(t); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("root namespace links changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestCleanup: a LAN's namespaces are gone when its test ends.
func TestCleanup(t *testing.T) {
	Require(t)
	var names []string
	t.Run("lan", func(t *testing.T) {
		l := New(t)
		h := l.AddHostNoAddr(t)
		names = []string{l.hub, h.NS}
		for _, n := range names {
			if !namespaceExists(t, n) {
				t.Fatalf("namespace %s missing", n)
			}
		}
	})
	for _, n := range names {
		if namespaceExists(t, n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

// TestSweep: a namespace of a process that is gone is swept, one of a live
// process is not.
func TestSweep(t *testing.T) {
	Require(t)
	// 999999999 is above any pid_max; our own pid is alive.
	stale := Prefix + "999999999-1-hub"
	live := fmt.Sprintf("%s%d-sweep", Prefix, os.Getpid())
	for _, n := range []string{stale, live} {
		if err := ip("netns", "add", n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ip("netns", "del", n) })
	}
	Sweep()
	if namespaceExists(t, stale) {
		t.Errorf("stale namespace %s not swept", stale)
	}
	if !namespaceExists(t, live) {
		t.Errorf("live namespace %s swept", live)
	}
}

func TestOwnerPID(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"sctest-123-4-hub", 123, true},
		{"sctest-77-probe", 77, true},
		{"sctest-x-1", 0, false},
		{"sctest--1", 0, false},
		{"other-123-4", 0, false},
		{"sctest-0-1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ok := ownerPID(tt.name)
			if pid != tt.pid && tt.ok || ok != tt.ok {
				t.Errorf("ownerPID(%q) = %d, %v", tt.name, pid, ok)
			}
		})
	}
}

// rootLinks lists the root namespace's interface names.
func rootLinks(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	sort.Strings(names)
	return names
}

func namespaceExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if n, _, _ := strings.Cut(strings.TrimSpace(line), " "); n == name {
			return true
		}
	}
	return false
}
