package p2p

import (
	"time"

	"github.com/securechat/securechat/e2e"
)

// batchWriteSize is how many bytes of framed records a batch gathers before
// it writes them: about one 64 KiB message, or hundreds of receipts.
const batchWriteSize = 64 << 10

// A recordBatch seals records and writes them to the session's stream
// together, so that the records one flush sends (the receipts of a burst,
// a burst of queued messages, a heartbeat) leave in one Write: one yamux
// frame, one Noise message and one system call instead of one each, and one
// wake-up of the peer's reader.
//
// Records must reach the stream in the order they were sealed, so the batch
// holds the session's write lock from its first sealed record until those
// records are written; between writes it lets go, so that a CLOSE
// (closeLocal) never waits for more than one batch.
type recordBatch struct {
	ss     *session
	buf    []byte
	locked bool
}

// add seals one record into the batch, and writes the batch once it holds
// batchWriteSize bytes.
func (b *recordBatch) add(seal func() ([]byte, error)) error {
	if !b.locked {
		b.ss.wmu.Lock()
		b.locked = true
	}
	rec, err := seal()
	if err != nil {
		return err
	}
	b.buf = e2e.AppendFrame(b.buf, rec)
	if len(b.buf) >= batchWriteSize {
		return b.write()
	}
	return nil
}

// write writes what the batch holds (nothing is a no-op) and releases the
// write lock. It must be called when the batch is done, error or not.
func (b *recordBatch) write() error {
	if !b.locked {
		return nil
	}
	defer func() {
		b.buf = b.buf[:0]
		b.locked = false
		b.ss.wmu.Unlock()
	}()
	if len(b.buf) == 0 {
		return nil
	}
	ss := b.ss
	_ = ss.st.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := ss.st.Write(b.buf); err != nil {
		return err
	}
	// A receipt takes no ratchet step: the heartbeat timer keeps running
	// until a record of ours carried a fresh key.
	if !ss.sec.StepOwed() {
		ss.mu.Lock()
		ss.recvUnanswered = time.Time{}
		ss.mu.Unlock()
	}
	return nil
}
