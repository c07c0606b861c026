package mailbox

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProtocolDoc holds e2e/PROTOCOL.md, section "Mailbox protocol", to
// the code: every op and code number, and every bound it quotes.
func TestProtocolDoc(t *testing.T) {
	b, err := os.ReadFile("../../e2e/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Mailbox protocol\n")
	if !ok {
		t.Fatal(`no section "Mailbox protocol"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	sec = strings.Join(strings.Fields(sec), " ") // lines wrap anywhere
	secs := func(d time.Duration) string { return fmt.Sprint(int(d.Seconds())) + " s" }
	for _, want := range []string{
		"`" + ProtocolID + "`",
		fmt.Sprintf("| %d | REGISTER |", opRegister), fmt.Sprintf("| %d | GRANT |", opGrant),
		fmt.Sprintf("| %d | REVOKE |", opRevoke), fmt.Sprintf("| %d | DEPOSIT |", opDeposit),
		fmt.Sprintf("| %d | FETCH | u16 max, 1 to %d |", opFetch, MaxFetch),
		fmt.Sprintf("| %d | DELETE | u16 n, 1 to %d ", opDelete, MaxDelete),
		fmt.Sprintf("| %d | STATUS |", opStatus), fmt.Sprintf("| %d | WATCH |", opWatch),
		fmt.Sprintf("| %d | OK |", codeOK), fmt.Sprintf("| %d | not an owner |", codeNotOwner),
		fmt.Sprintf("| %d | capability", codeCapability), fmt.Sprintf("| %d | quota full", codeQuota),
		fmt.Sprintf("| %d | envelope over 128 KiB", codeTooLarge), fmt.Sprintf("| %d | malformed", codeProtocol),
		fmt.Sprintf("| %d | unavailable", codeUnavailable),
		fmt.Sprintf("over %d bytes", maxResponseSize), fmt.Sprintf("over %d bytes + 128 KiB", itemHeaderSize),
		fmt.Sprintf("at most %d MiB of envelopes", maxFetchBytes>>20),
		fmt.Sprintf("kept %d days", DefaultTTL/(24*time.Hour)),
		fmt.Sprintf("keepalive every %s", secs(keepaliveInterval)),
		fmt.Sprintf("after %s without a frame", secs(watchIdle())),
		fmt.Sprintf("At most %d watches per owner", maxWatchesPerOwner),
		fmt.Sprintf("deadline is %s from its start", secs(streamTimeout)),
		fmt.Sprintf("a watch's write, %s", secs(writeTimeout)),
		fmt.Sprintf("%d request streams of non-owners", maxStreams),
		fmt.Sprintf("%d per peer, and %d requests per second per peer (a burst of %d)",
			maxStreamsPerPeer, DefaultRequestsPerSecond, 4*DefaultRequestsPerSecond),
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("PROTOCOL.md, Mailbox protocol: %q not found", want)
		}
	}
}
