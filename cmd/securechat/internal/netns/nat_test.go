package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// natHelper runs the NAT testbed's helper modes (see helperMain):
//
//   - "echoaddr ADDR" answers every TCP connection and UDP datagram on ADDR
//     with the address it came from, until its time runs out;
//   - "tcpseen ADDR" dials an echoaddr and prints "seen <addr>";
//   - "udpseen PORT,DST,DST..." sends from local UDP port PORT to each DST
//     in turn and prints "seen <DST> <addr>" for each;
//   - "dropped ADDR": a TCP dial to ADDR gets no answer at all within a
//     second (no connection, no refusal: the packets were dropped);
//   - "udpsilent ADDR" receives nothing on UDP ADDR for three seconds;
//   - "udpsend ADDR" sends five datagrams to ADDR.
func natHelper(mode, arg string, deadline time.Time) error {
	switch mode {
	case "echoaddr":
		return echoAddr(arg, deadline)
	case "tcpseen":
		fmt.Println("ready")
		c, err := net.DialTimeout("tcp4", arg, helperTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(deadline)
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		fmt.Println("seen", strings.TrimSpace(string(buf[:n])))
	case "udpseen":
		fmt.Println("ready")
		f := strings.Split(arg, ",")
		port, err := strconv.Atoi(f[0])
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		if err != nil {
			return err
		}
		defer c.Close()
		for _, dst := range f[1:] {
			seen, err := udpAsk(c, dst, deadline)
			if err != nil {
				return err
			}
			fmt.Println("seen", dst, seen)
		}
	case "dropped":
		fmt.Println("ready")
		c, err := net.DialTimeout("tcp4", arg, time.Second)
		var ne net.Error
		switch {
		case err == nil:
			c.Close()
			return fmt.Errorf("dial %s went through", arg)
		case !errors.As(err, &ne) || !ne.Timeout():
			return fmt.Errorf("dial %s was answered: %v", arg, err)
		}
	case "udpsilent":
		c, err := net.ListenPacket("udp4", arg)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		fmt.Println("ready")
		buf := make([]byte, 64)
		if _, from, err := c.ReadFrom(buf); err == nil {
			return fmt.Errorf("datagram from %s got through", from)
		}
	case "udpsend":
		fmt.Println("ready")
		c, err := net.Dial("udp4", arg)
		if err != nil {
			return err
		}
		defer c.Close()
		for range 5 {
			// A refusal (ICMP) surfaces on the next write; it is no
			// error here: only what the receiver sees counts.
			_, _ = c.Write([]byte("knock"))
			time.Sleep(50 * time.Millisecond)
		}
	default:
		return fmt.Errorf("unknown helper mode %q", mode)
	}
	return nil
}

// echoAddr serves "echoaddr" on TCP and UDP until deadline.
func echoAddr(addr string, deadline time.Time) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	defer pc.Close()
	_ = ln.(*net.TCPListener).SetDeadline(deadline)
	_ = pc.SetDeadline(deadline)
	fmt.Println("ready")
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(c.RemoteAddr().String() + "\n"))
			c.Close()
		}
	})
	buf := make([]byte, 64)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		_, _ = pc.WriteTo([]byte(from.String()), from)
	}
	wg.Wait()
	return nil
}

// udpAsk sends to dst from c until dst answers (at most five tries) and
// returns the answer: the address dst saw.
func udpAsk(c *net.UDPConn, dst string, deadline time.Time) (string, error) {
	to, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	for range 5 {
		if _, err := c.WriteToUDP([]byte("?"), to); err != nil {
			return "", err
		}
		wait := time.Now().Add(time.Second)
		if deadline.Before(wait) {
			wait = deadline
		}
		_ = c.SetReadDeadline(wait)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				break // no answer in time: ask again
			}
			if from.String() == to.String() {
				return string(buf[:n]), nil
			}
		}
	}
	return "", fmt.Errorf("no answer from %s", dst)
}

// next returns the helper's next line.
func (hp *helper) next(t *testing.T) string {
	t.Helper()
	select {
	case got, ok := <-hp.lines:
		if !ok {
			t.Fatal("helper ended without a line")
		}
		return got
	case <-time.After(2 * helperTimeout):
		t.Fatal("helper said nothing in time")
	}
	return ""
}

// seen reads a "seen" line from hp and returns the observed address.
func seen(t *testing.T, hp *helper) (ip string, port int) {
	t.Helper()
	line := hp.next(t)
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "seen" {
		t.Fatalf("helper said %q, want seen ...", line)
	}
	host, p, err := net.SplitHostPort(f[len(f)-1])
	if err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	return host, port
}

func TestNATRuleset(t *testing.T) {
	pp, sym := natRuleset(3, PortPreserving), natRuleset(3, Symmetric)
	for _, rs := range []string{pp, sym} {
		for _, want := range []string{`ip saddr 10.232.3.0/24 masquerade`, `iifname "wan0" drop`, `policy drop`} {
			if !strings.Contains(rs, want) {
				t.Errorf("ruleset lacks %q:\n%s", want, rs)
			}
		}
	}
	if strings.Contains(pp, "fully-random") || !strings.Contains(sym, "masquerade fully-random") {
		t.Errorf("fully-random must be in the symmetric ruleset only:\n%s\n%s", pp, sym)
	}
}

// TestNATBed: homes reach pub over TCP and UDP, seen from their NAT's wan
// address; a port-preserving NAT keeps a UDP socket's port for every
// destination, a symmetric one does not; nothing reaches a home from pub
// or from the other home; the root namespace's links stay as they were.
func TestNATBed(t *testing.T) {
	RequireNAT(t)
	before := rootLinks(t)
	b := NewNATBed(t)
	h1, h2 := b.AddHome(t, PortPreserving), b.AddHome(t, Symmetric)
	p2 := b.AddPubHost(t)
	if h1.IP != "10.232.1.2" || h1.NAT.IP != "10.232.0.11" || h2.IP != "10.232.2.2" || h2.NAT.IP != "10.232.0.12" || p2.IP != "10.232.0.2" {
		t.Fatalf("addresses: home1 %s nat1 %s home2 %s nat2 %s pub host %s", h1.IP, h1.NAT.IP, h2.IP, h2.NAT.IP, p2.IP)
	}
	// Three destinations: the bridge's address and two ports of a pub host.
	dsts := []string{PubIP + ":7000", p2.IP + ":7000", p2.IP + ":7001"}
	// Each subtest starts its own servers: they serve helperTimeout long.
	echoes := func(t *testing.T) {
		startHelper(t, b.Pub, "echoaddr", dsts[0])
		startHelper(t, p2, "echoaddr", dsts[1])
		startHelper(t, p2, "echoaddr", dsts[2])
	}
	t.Run("tcp", func(t *testing.T) {
		echoes(t)
		for _, h := range []*Home{h1, h2} {
			c := startHelper(t, h.Host, "tcpseen", dsts[0])
			if ip, _ := seen(t, c); ip != h.NAT.IP {
				t.Errorf("home%d: pub saw %s, want the NAT's wan address %s", h.Index, ip, h.NAT.IP)
			}
			c.expect(t, "ok")
		}
	})
	t.Run("udp", func(t *testing.T) {
		echoes(t)
		for _, h := range []*Home{h1, h2} {
			port := 40000 + h.Index
			c := startHelper(t, h.Host, "udpseen", strconv.Itoa(port)+","+strings.Join(dsts, ","))
			ports := map[int]bool{}
			for range dsts {
				ip, p := seen(t, c)
				if ip != h.NAT.IP {
					t.Errorf("home%d: pub saw %s, want %s", h.Index, ip, h.NAT.IP)
				}
				ports[p] = true
			}
			c.expect(t, "ok")
			t.Logf("home%d (%v): local port %d seen as %v", h.Index, h.Mode, port, ports)
			switch {
			case h.Mode == PortPreserving && (len(ports) != 1 || !ports[port]):
				t.Errorf("home%d: port-preserving NAT mapped port %d to %v", h.Index, port, ports)
			case h.Mode == Symmetric && len(ports) == 1:
				// Three random ports being equal: about 1 in 4e9.
				t.Errorf("home%d: symmetric NAT mapped port %d to one port %v for %d destinations", h.Index, port, ports, len(dsts))
			}
		}
	})
	t.Run("inbound", func(t *testing.T) {
		target := "0.0.0.0:7300"
		startHelper(t, h2.Host, "echoaddr", target)
		onWan := h2.NAT.IP + ":7300"
		// From pub and from the other home, to the NAT's wan address.
		startHelper(t, b.Pub, "dropped", onWan).expect(t, "ok")
		startHelper(t, h1.Host, "dropped", onWan).expect(t, "ok")
		// The homes' networks are not routed between NATs.
		startHelper(t, h1.Host, "unreachable", h2.IP+":7300").expect(t, "ok")
		// Even routed to the home through its NAT, pub gets nothing
		// forwarded.
		if _, err := b.Pub.Run("ip", "route", "add", "10.232.2.0/24", "via", h2.NAT.IP); err != nil {
			t.Fatal(err)
		}
		startHelper(t, b.Pub, "dropped", h2.IP+":7300").expect(t, "ok")
		// UDP to the wan address does not reach a listening home.
		silent := startHelper(t, h2.Host, "udpsilent", "0.0.0.0:7301")
		startHelper(t, b.Pub, "udpsend", h2.NAT.IP+":7301").expect(t, "ok")
		silent.expect(t, "ok")
	})
	if after := rootLinks(t); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("root namespace links changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestNATBedCleanup: a testbed's namespaces are gone when its test ends.
func TestNATBedCleanup(t *testing.T) {
	RequireNAT(t)
	var names []string
	t.Run("bed", func(t *testing.T) {
		b := NewNATBed(t)
		h := b.AddHome(t, Symmetric)
		p := b.AddPubHost(t)
		names = []string{b.Pub.NS, h.NS, h.NAT.NS, p.NS}
		for _, n := range names {
			if !namespaceExists(t, n) {
				t.Fatalf("namespace %s missing", n)
			}
			if _, ok := ownerPID(n); !ok {
				t.Errorf("namespace %s is not named for Sweep", n)
			}
		}
		if pid, _ := ownerPID(names[0]); pid != os.Getpid() {
			t.Errorf("namespace %s names pid %d, want %d", names[0], pid, os.Getpid())
		}
	})
	for _, n := range names {
		if namespaceExists(t, n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}
