package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/securechat/securechat/p2p"
)

// eventQueue is how many encoded events may wait for the writer; beyond
// it, emit blocks until stdout takes them, as a direct write would.
const eventQueue = 256

// eventWriterBuf is the size of the buffer between the events and stdout.
const eventWriterBuf = 64 << 10

// eventWriter writes the headless events to stdout, one JSON object per
// line, from its own goroutine: emit encodes the event and queues it, so
// neither the command loop nor the node's event pump waits on stdout.
// The writer batches what is queued into one write and flushes as soon
// as the queue is empty: an event is never held back waiting for another,
// so a script sees each one as soon as it is encoded.
type eventWriter struct {
	queue chan []byte
	done  chan struct{} // closed by close: drain the queue, flush, exit
	exit  chan struct{} // closed when the writer goroutine has returned

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // first write error; later events are dropped
}

func newEventWriter(w io.Writer) *eventWriter {
	ew := &eventWriter{
		queue: make(chan []byte, eventQueue),
		done:  make(chan struct{}),
		exit:  make(chan struct{}),
	}
	go ew.run(bufio.NewWriterSize(w, eventWriterBuf))
	return ew
}

// run is the writer goroutine.
func (ew *eventWriter) run(bw *bufio.Writer) {
	defer close(ew.exit)
	for {
		select {
		case b := <-ew.queue:
			ew.write(bw, b)
			ew.drain(bw)
		case <-ew.done:
			// Whatever was queued before close is still written.
			ew.drain(bw)
			return
		}
	}
}

// drain writes what is queued without waiting, then flushes.
func (ew *eventWriter) drain(bw *bufio.Writer) {
	for {
		select {
		case b := <-ew.queue:
			ew.write(bw, b)
		default:
			if ew.failed() == nil {
				ew.setErr(bw.Flush())
			}
			return
		}
	}
}

func (ew *eventWriter) write(bw *bufio.Writer, b []byte) {
	if ew.failed() != nil {
		return // the reader of stdout went away: drop, but keep draining
	}
	_, err := bw.Write(b)
	ew.setErr(err)
}

func (ew *eventWriter) setErr(err error) {
	if err == nil {
		return
	}
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.err == nil {
		ew.err = err
	}
}

// failed returns the first write error, if any: the reader of stdout went
// away.
func (ew *eventWriter) failed() error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	return ew.err
}

// emit queues one event. Events emitted by one goroutine keep their order;
// after close they are dropped.
func (ew *eventWriter) emit(v any) {
	ew.emitLine(appendEvent(make([]byte, 0, 128), cleanEvent(v)))
}

// cleanEvent puts the texts of error and alert events on one clean line.
// JSON escapes control characters, but a script that prints a message
// unescapes them onto its terminal, and error texts quote remote bytes (a
// listener's reply in a dial error): every event passes here on its way
// out, so none is missed.
func cleanEvent(v any) any {
	switch e := v.(type) {
	case errorEvent:
		e.Message, e.Addr = oneLine(e.Message), p2p.SanitizeName(e.Addr)
		return e
	case alertEvent:
		e.Message = oneLine(e.Message)
		return e
	}
	return v
}

// emitLine queues one encoded event line, newline included.
func (ew *eventWriter) emitLine(b []byte) {
	select {
	case <-ew.done:
		return
	default:
	}
	select {
	case ew.queue <- b:
	case <-ew.done:
	}
}

// close writes out what is queued and stops the writer, waiting at most
// timeout for a stdout that does not take it.
func (ew *eventWriter) close(timeout time.Duration) {
	ew.closeOnce.Do(func() { close(ew.done) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ew.exit:
	case <-t.C:
	}
}

// appendEvent appends v as one JSON line. The events a busy script sees
// most (sent, delivered, message) are written by hand, with the bytes
// encoding/json would write; the rest go through encoding/json.
func appendEvent(dst []byte, v any) []byte {
	switch e := v.(type) {
	case msgIDEvent:
		return appendIDEvent(dst, e.Event, e.PeerID, e.ID, e.Ref)
	case messageEvent:
		dst = append(dst, `{"event":`...)
		dst = appendJSONString(dst, e.Event)
		dst = append(dst, `,"peer_id":`...)
		dst = appendJSONString(dst, e.PeerID)
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, e.ID)
		dst = append(dst, `,"text":`...)
		dst = appendJSONString(dst, e.Text)
		dst = append(dst, `,"sent_at":`...)
		dst = appendJSONString(dst, e.SentAt)
		if e.Stranger {
			dst = append(dst, `,"stranger":true`...)
		}
		return append(dst, "}\n"...)
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst // cannot happen for our event structs
	}
	return buf.Bytes()
}

// appendIDEvent appends a sent or delivered event ([msgIDEvent]).
func appendIDEvent(dst []byte, event, peerID, id, ref string) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, event)
	dst = append(dst, `,"peer_id":`...)
	dst = appendJSONString(dst, peerID)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, id)
	if ref != "" {
		dst = append(dst, `,"ref":`...)
		dst = appendJSONString(dst, ref)
	}
	return append(dst, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with SetEscapeHTML(false): `"` and `\` escaped, control characters
// as \b \f \n \r \t or \u00XX, invalid UTF-8 as \ufffd, and U+2028 and
// U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
