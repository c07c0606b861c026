package p2p

import (
	"testing"
	"testing/quick"
	"time"
)

// propertyRuns is how many random schedules TestPropertyExactlyOnce tries.
// Each costs two node starts plus one restart per step, about 0.3 s without
// the race detector (0.4 s with it); under -race (raceEnabled) fewer runs keep the package
// well inside its time budget.
func propertyRuns() int {
	if raceEnabled {
		return 5
	}
	return 10
}

// A scheduleOp is one step of a random schedule.
type scheduleOp byte

const (
	opSend scheduleOp = iota // send 1-4 messages
	opRestartSender
	opRestartReceiver
	opCut
	numOps
)

// TestPropertyExactlyOnce runs random schedules of sends, restarts of
// either side (persistent stores, the same addresses) and cut
// connections, then lets the redialer reconnect: the receiver's shown
// sequence must be the sender's sent sequence, without gaps or repeats,
// and the sender's outbox must be empty.
func TestPropertyExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("property test skipped in -short mode")
	}
	run := 0
	check := func(schedule []byte) bool {
		run++
		if len(schedule) > 8 {
			schedule = schedule[:8]
		}
		ok := true
		t.Run("", func(t *testing.T) {
			ok = runSchedule(t, schedule)
		})
		return ok
	}
	if err := quick.Check(check, &quick.Config{MaxCount: propertyRuns()}); err != nil {
		t.Error(err)
	}
}

func runSchedule(t *testing.T, schedule []byte) bool {
	a, b := newPersistentNode(t, "alice"), newPersistentNode(t, "bob")
	a.cur.connect(t, b.cur)
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
	before := t.Failed()
	checkExactlyOnce(t, sent, b.shown(aID))
	if t.Failed() && !before {
		t.Logf("schedule %v", ops)
	}
	return !t.Failed()
}
