package p2p

import (
	"fmt"
	"testing"
	"time"
)

// A scheduleOp is one step of a schedule: a byte's value modulo numOps.
type scheduleOp byte

const (
	opSend scheduleOp = iota // send 1-4 messages (the byte's bits 2-3, plus one)
	opRestartSender
	opRestartReceiver
	opCut
	numOps
)

// maxScheduleSteps bounds a schedule: each step costs up to a node
// restart, about 0.3 s (0.4 s under the race detector).
const maxScheduleSteps = 8

// exactlyOnceSchedules are the schedules every test run checks
// (TestExactlyOnceSchedules); between them they send before and after each
// kind of disruption.
var exactlyOnceSchedules = [][]byte{
	{byte(opSend), byte(opCut), byte(opSend)},
	{0x0c, byte(opRestartSender), byte(opSend), byte(opRestartReceiver)}, // 0x0c: send 4
	{byte(opRestartReceiver), 0x04, byte(opCut), byte(opRestartSender), byte(opSend)},
	{0x08, byte(opRestartSender), byte(opRestartReceiver), byte(opCut), byte(opSend)},
	{byte(opCut), byte(opRestartReceiver), 0x0c, byte(opRestartSender), byte(opCut), 0x04},
	{0x04, byte(opCut), byte(opCut), 0x08},
	{byte(opSend), byte(opRestartReceiver), byte(opRestartReceiver), byte(opSend)},
	{0x0c, byte(opRestartSender), byte(opRestartSender), byte(opCut), 0x08, byte(opRestartReceiver)},
}

// TestExactlyOnceSchedules runs the fixed schedules of sends, restarts of
// either side (persistent stores, the same addresses) and cut connections,
// then lets the redialer reconnect: the receiver's shown sequence must be
// the sender's sent sequence, without gaps or repeats, and the sender's
// outbox must be empty. Under the race detector it runs fewer, to keep the
// package inside its time budget.
func TestExactlyOnceSchedules(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("exactly-once schedules skipped in -short mode")
	}
	schedules := exactlyOnceSchedules
	if raceEnabled {
		schedules = schedules[:5]
	}
	for i, s := range schedules {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			runSchedule(t, s)
		})
	}
}

// FuzzExactlyOnce checks the same property on random schedules. A plain
// test run checks its one short seed only (TestExactlyOnceSchedules checks
// the others): while fuzzing, the seeds' baseline must fit in CI's few
// seconds (.ci/run), and a schedule costs a second or more.
func FuzzExactlyOnce(f *testing.F) {
	if testing.Short() {
		f.Skip("exactly-once schedules skipped in -short mode")
	}
	f.Add([]byte{byte(opSend), byte(opCut), byte(opSend)})
	f.Fuzz(func(t *testing.T, schedule []byte) {
		if len(schedule) > maxScheduleSteps {
			schedule = schedule[:maxScheduleSteps]
		}
		runSchedule(t, schedule)
	})
}

func runSchedule(t *testing.T, schedule []byte) {
	a, b := newPersistentNode(t, "alice"), newPersistentNode(t, "bob")
	a.cur.connect(t, b.cur)
	// Exactly once across the receiver's restarts holds for a contact:
	// a stranger's dedupe set is in memory only (stranger.go).
	befriend(t, b.cur, a.cur)
	bID, aID := b.id().String(), a.id().String()
	var sent []string
	var ops []string
	for _, x := range schedule {
		switch op := scheduleOp(x) % numOps; op {
		case opSend:
			k := 1 + int(x>>2)%4
			sent = append(sent, sendBurst(t, a.cur.Node, bID, k, "prop")...)
			ops = append(ops, "send")
		case opRestartSender:
			a.restart()
			ops = append(ops, "restart-sender")
		case opRestartReceiver:
			b.restart()
			ops = append(ops, "restart-receiver")
		case opCut:
			_ = a.cur.host.Network().ClosePeer(b.id())
			ops = append(ops, "cut")
		}
	}
	eventually(t, "outbox empty", func() bool {
		p, err := a.cur.outbox.Pending(bID, 0)
		return err == nil && len(p) == 0
	})
	// The last receipt has arrived, so the receiver raised every message;
	// give its event reader a moment to collect the last ones.
	deadline := time.Now().Add(waitTimeout)
	for len(b.shown(aID)) < len(sent) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if checkExactlyOnce(t, sent, b.shown(aID)); t.Failed() {
		t.Logf("schedule %v", ops)
	}
}
