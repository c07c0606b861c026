package p2p

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"
)

// RouteLibraryLogs sends the log lines of go-libp2p and quic-go, which
// otherwise write to stderr on their own, to the running node's
// [Config.Logger] instead: go-libp2p's warnings and errors go there, its
// debug and info lines and quic-go's UDP buffer size warning nowhere, and
// nothing at all is written while no node with a logger runs. A program
// that owns its terminal (a UI on stdout and stderr) calls it once, before
// its first [New]; it changes process-wide state (go-libp2p's default log
// handler, and the environment variable
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING unless the user set it), which is
// why the package never does so by itself. Later calls do nothing.
//
// go-libp2p logs through package-level slog loggers made by gologshim.
// Each of them picks its handler once, on its first log call: gologshim's
// default handler if one was set by then, otherwise a handler of its own
// that writes to stderr. So the forwarding handler must be in place before
// any host exists; [New] then points it at Config.Logger.
func RouteLibraryLogs() {
	routeOnce.Do(func() {
		gologshim.SetDefaultHandler(libp2pLogs)
		// quic-go prints a warning about UDP buffer sizes with the
		// standard log package, straight to stderr, when the kernel
		// refuses a larger buffer. It reads this variable on every QUIC
		// listen; an explicit setting by the user wins.
		if _, ok := os.LookupEnv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"); !ok {
			_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
		}
	})
}

// routeOnce makes RouteLibraryLogs act once.
var routeOnce sync.Once

// libp2pMinLevel keeps go-libp2p's debug and info chatter out of the node's
// log; its warnings and errors still arrive.
const libp2pMinLevel = slog.LevelWarn

// libp2pLogs is the one forwarding handler go-libp2p's loggers use.
var libp2pLogs = &forwardHandler{root: &forwardRoot{}}

// forwardRoot holds the current target of the forwarding handler.
type forwardRoot struct {
	mu     sync.Mutex
	target atomic.Pointer[slog.Logger]
	owner  any // the node that set target, so only it clears it
}

// set routes go-libp2p's logs to l on behalf of owner.
func (r *forwardRoot) set(owner any, l *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owner = owner
	r.target.Store(l)
}

// clear stops the routing if owner is the one that set it.
func (r *forwardRoot) clear(owner any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == owner {
		r.owner = nil
		r.target.Store(nil)
	}
}

// A forwardHandler sends records to whatever logger its root points at when
// the record is handled, not when the handler was made: gologshim caches
// the handler (with its attributes) once per subsystem for the life of the
// process, while nodes come and go.
type forwardHandler struct {
	root *forwardRoot
	ops  []forwardOp // WithAttrs / WithGroup calls, replayed in order
}

type forwardOp struct {
	attrs []slog.Attr
	group string
}

func (h *forwardHandler) handler() slog.Handler {
	l := h.root.target.Load()
	if l == nil {
		return nil
	}
	hd := l.Handler().WithAttrs([]slog.Attr{slog.String("component", "libp2p")})
	for _, op := range h.ops {
		if op.group != "" {
			hd = hd.WithGroup(op.group)
		} else {
			hd = hd.WithAttrs(op.attrs)
		}
	}
	return hd
}

// Enabled reports whether a node logger is set and wants lvl.
func (h *forwardHandler) Enabled(ctx context.Context, lvl slog.Level) bool {
	if lvl < libp2pMinLevel {
		return false
	}
	l := h.root.target.Load()
	return l != nil && l.Handler().Enabled(ctx, lvl)
}

// Handle forwards r to the current node logger, if any.
func (h *forwardHandler) Handle(ctx context.Context, r slog.Record) error {
	hd := h.handler()
	if hd == nil || r.Level < libp2pMinLevel || !hd.Enabled(ctx, r.Level) {
		return nil
	}
	return hd.Handle(ctx, r)
}

// WithAttrs records attrs to replay on the target.
func (h *forwardHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &forwardHandler{root: h.root, ops: append(h.ops[:len(h.ops):len(h.ops)], forwardOp{attrs: attrs})}
}

// WithGroup records the group to replay on the target.
func (h *forwardHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &forwardHandler{root: h.root, ops: append(h.ops[:len(h.ops):len(h.ops)], forwardOp{group: name})}
}

// discardLogger is the node's logger when Config.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)

// remoteLog is a token-bucket limiter for log lines that peers cause; the
// lines it drops are counted and reported with the next line it lets
// through.
type remoteLog struct {
	mu      sync.Mutex
	b       bucket
	dropped int
}

// allow reports whether a line may be written now, and how many were
// dropped since the last one written.
func (l *remoteLog) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.b.take(now, remoteLogRate, remoteLogBurst) {
		l.dropped++
		return false, 0
	}
	d := l.dropped
	l.dropped = 0
	return true, d
}

// logRemote logs a remote-caused event at lvl, within the node's log rate
// for such lines.
func (n *Node) logRemote(lvl slog.Level, msg string, args ...any) {
	if !n.log.Enabled(context.Background(), lvl) {
		return
	}
	if n.rlog != nil {
		ok, dropped := n.rlog.allow(time.Now())
		if !ok {
			return
		}
		if dropped > 0 {
			args = append(args, "suppressed", dropped)
		}
	}
	n.log.Log(context.Background(), lvl, msg, args...)
}
