package netns

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSetLink: with a host's link down, a dial between the hosts does not
// get through; once it is up again, it does, and the host kept its
// address all along.
func TestSetLink(t *testing.T) {
	Require(t)
	l := New(t)
	a, b := l.AddHost(t), l.AddHost(t)
	ln := startHelper(t, a, "listen", a.IP+":7001")
	if err := b.SetLink(false); err != nil {
		t.Fatal(err)
	}
	startHelper(t, b, "unreachable", a.IP+":7001").expect(t, "ok")
	if out, err := b.Run("ip", "-o", "-4", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, b.IP+"/24") {
		t.Errorf("with the link down, eth0 has %q (%v); want %s kept", out, err, b.IP)
	}
	if err := b.SetLink(true); err != nil {
		t.Fatal(err)
	}
	startHelper(t, b, "dial", a.IP+":7001").expect(t, "ok")
	ln.expect(t, "ok")
}

// TestRun: Run runs inside the host's namespace (it sees eth0 with the
// host's address), returns the output, and reports a failing command with
// its output. An nft table made with it exists in that namespace only.
func TestRun(t *testing.T) {
	Require(t)
	h := New(t).AddHost(t)
	out, err := h.Run("ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, h.IP+"/24") {
		t.Errorf("Run(ip addr) = %q, %v; want eth0 with %s", out, err, h.IP)
	}
	if _, err := h.Run("sh", "-c", "echo boom >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing command: err = %v, want one carrying its output", err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft check skipped: needs the nft command (nftables)")
	}
	const table = "sctest_run"
	if _, err := h.Run("nft", "add", "table", "inet", table); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Run("nft", "list", "tables"); err != nil || !strings.Contains(out, table) {
		t.Errorf("nft list tables in the namespace = %q, %v; want %s", out, err, table)
	}
	root, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables in the root namespace: %v: %s", err, root)
	}
	if strings.Contains(string(root), table) {
		t.Errorf("the namespace's nft table shows in the root namespace: %s", root)
	}
}
