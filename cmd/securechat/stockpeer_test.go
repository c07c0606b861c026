package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	// Test-only program: the command itself never touches libp2p streams.
	"github.com/libp2p/go-libp2p"
	lpevent "github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
)

// The stock echo peer: a plain go-libp2p host with an echo protocol, driven
// by JSON commands on stdin, reporting JSON events on stdout.
//
// Commands (each may carry a "ref", repeated in its answer):
//
//	{"cmd":"reserve","peer_id":RELAY,"addrs":[...]}  -> reserved (circuit limits, expiry)
//	{"cmd":"echo","peer_id":P,"addrs":[...],"text":T} -> echoed (over a limited connection if
//	    that is all there is; "direct":true waits for a direct one; "size":N echoes N random bytes)
//
// Events at any time: conn and disconn (every connection, with its address
// and whether it is limited, i.e. relayed), observed (an address a peer saw
// us at), holepunch_ready and holepunch (DCUtR tracer events), error.

// echoProtocol is the echo peer's protocol: the stream's bytes come back.
const echoProtocol = protocol.ID("/securechat-test/echo/1.0.0")

// stockPeerConfig configures the echo peer.
type stockPeerConfig struct {
	// Listen are the multiaddrs to listen on; required.
	Listen []string `json:"listen"`
	// HolePunch runs a DCUtR service that punches to private addresses
	// too (the testbed's are all private; see holePuncher).
	HolePunch bool `json:"holepunch,omitempty"`
}

// peerCmd is one command of the echo peer.
type peerCmd struct {
	Cmd    string   `json:"cmd"`
	Ref    string   `json:"ref"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	Text   string   `json:"text"`
	Size   int      `json:"size"`
	Direct bool     `json:"direct"`
}

// peerCmdTimeout bounds each command.
const peerCmdTimeout = 30 * time.Second

func runStockPeer(cfgJSON string) error {
	var cfg stockPeerConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("%s: %w", stockPeerEnv, err)
	}
	if len(cfg.Listen) == 0 {
		return errors.New("echo peer: no listen address")
	}
	h, err := libp2p.New(
		libp2p.ListenAddrStrings(cfg.Listen...),
		// Behind a NAT by configuration: no AutoNAT probing. The relay
		// client (circuit dialing, Reserve) is on by default.
		libp2p.ForceReachabilityPrivate(),
	)
	if err != nil {
		return err
	}
	defer h.Close()
	out := &jsonOut{enc: json.NewEncoder(os.Stdout)}
	conn := func(kind string) func(network.Network, network.Conn) {
		return func(_ network.Network, c network.Conn) {
			out.emit(map[string]any{"event": kind, "peer_id": c.RemotePeer().String(),
				"addr": c.RemoteMultiaddr().String(), "limited": c.Stat().Limited, "dir": c.Stat().Direction.String()})
		}
	}
	h.Network().Notify(&network.NotifyBundle{ConnectedF: conn("conn"), DisconnectedF: conn("disconn")})
	h.SetStreamHandler(echoProtocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(peerCmdTimeout))
		b, err := readAllLimit(s, 16<<20)
		if err == nil {
			_, err = s.Write(b)
		}
		if err != nil {
			s.Reset()
		}
	})
	if cfg.HolePunch {
		hp, err := startHolePuncher(h, out)
		if err != nil {
			return err
		}
		defer hp.close()
	}
	ctx, lines, stop := untilStopped()
	defer stop()
	out.emit(map[string]any{"event": "ready", "peer_id": h.ID().String(), "addrs": addrStrings(h.Addrs())})
	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-lines:
			var c peerCmd
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				out.emit(map[string]any{"event": "error", "error": err.Error()})
				continue
			}
			ev, err := peerCommand(ctx, h, c)
			if err != nil {
				ev = map[string]any{"event": "error", "cmd": c.Cmd, "error": err.Error()}
			}
			ev["ref"] = c.Ref
			out.emit(ev)
		}
	}
}

// peerCommand runs one command and returns its answer.
func peerCommand(ctx context.Context, h host.Host, c peerCmd) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, peerCmdTimeout)
	defer cancel()
	ai, err := addrInfo(c.PeerID, c.Addrs)
	if err != nil {
		return nil, err
	}
	switch c.Cmd {
	case "reserve":
		r, err := client.Reserve(ctx, h, ai)
		if err != nil {
			return nil, err
		}
		return map[string]any{"event": "reserved", "addrs": addrStrings(r.Addrs), "expires_in_s": time.Until(r.Expiration).Seconds(),
			"limit_duration_ms": r.LimitDuration.Milliseconds(), "limit_data": r.LimitData}, nil
	case "echo":
		return echo(ctx, h, ai, c)
	}
	return nil, fmt.Errorf("unknown command %q", c.Cmd)
}

// echo sends the command's text (or size random bytes) to ai's echo
// handler and checks that the same bytes come back.
func echo(ctx context.Context, h host.Host, ai peer.AddrInfo, c peerCmd) (map[string]any, error) {
	if !c.Direct {
		ctx = network.WithAllowLimitedConn(ctx, "relay test")
		if err := h.Connect(ctx, ai); err != nil {
			return nil, err
		}
	}
	msg := []byte(c.Text)
	if c.Size > 0 {
		msg = make([]byte, c.Size)
		_, _ = rand.Read(msg)
	}
	s, err := h.NewStream(ctx, ai.ID, echoProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	ev := map[string]any{"limited": s.Conn().Stat().Limited, "addr": s.Conn().RemoteMultiaddr().String()}
	if _, err := s.Write(msg); err != nil {
		return nil, fmt.Errorf("write over %v: %w", ev["addr"], err)
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	back, err := readAllLimit(s, len(msg))
	if err != nil {
		return nil, fmt.Errorf("read over %v after %d bytes: %w", ev["addr"], len(back), err)
	}
	if !bytes.Equal(back, msg) {
		return nil, fmt.Errorf("echo over %v: got %d bytes back, not the %d sent", ev["addr"], len(back), len(msg))
	}
	ev["event"], ev["text"], ev["bytes"] = "echoed", c.Text, len(msg)
	return ev, nil
}

// addrInfo parses a peer ID and its addresses (empty ID: none).
func addrInfo(id string, addrs []string) (peer.AddrInfo, error) {
	var ai peer.AddrInfo
	if id == "" {
		return ai, nil
	}
	var err error
	if ai.ID, err = peer.Decode(id); err != nil {
		return ai, err
	}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return ai, err
		}
		ai.Addrs = append(ai.Addrs, a)
	}
	return ai, nil
}

// holePuncher runs a DCUtR service that also punches to private addresses.
//
// go-libp2p's own (libp2p.EnableHolePunching) offers the remote only the
// host's public addresses (basichost's HolePunchAddrs drops the rest before
// any holepunch.WithAddrFilter sees them), and starts only once it has one:
// in the testbed, where every address is in 10.232.0.0/16, it never starts.
// This one offers what peers observed us at (identify), and is made on the
// first such address, so it is ready, with its stream handler set, as soon
// as it is announced (holepunch_ready).
type holePuncher struct {
	h    host.Host
	out  *jsonOut
	sub  lpevent.Subscription
	done chan struct{}

	mu   sync.Mutex
	obs  []ma.Multiaddr
	svc  *holepunch.Service
	fail error
}

func startHolePuncher(h host.Host, out *jsonOut) (*holePuncher, error) {
	if _, ok := h.(interface{ IDService() identify.IDService }); !ok {
		return nil, fmt.Errorf("host %T has no identify service", h)
	}
	sub, err := h.EventBus().Subscribe(new(lpevent.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, err
	}
	hp := &holePuncher{h: h, out: out, sub: sub, done: make(chan struct{})}
	go hp.run()
	return hp, nil
}

// run collects observed addresses until the subscription closes.
func (hp *holePuncher) run() {
	defer close(hp.done)
	for e := range hp.sub.Out() {
		a := e.(lpevent.EvtPeerIdentificationCompleted).ObservedAddr
		if a == nil {
			continue
		}
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		if !hp.add(a) {
			continue
		}
		hp.out.emit(map[string]any{"event": "observed", "addr": a.String()})
		hp.mu.Lock()
		start := hp.svc == nil && hp.fail == nil
		hp.mu.Unlock()
		if !start {
			continue
		}
		ids := hp.h.(interface{ IDService() identify.IDService }).IDService()
		svc, err := holepunch.NewService(hp.h, ids, hp.addrs, holepunch.WithTracer(hp))
		hp.mu.Lock()
		hp.svc, hp.fail = svc, err
		hp.mu.Unlock()
		if err != nil {
			hp.out.emit(map[string]any{"event": "error", "error": "holepunch: " + err.Error()})
			continue
		}
		hp.out.emit(map[string]any{"event": "holepunch_ready"})
	}
}

// add records an observed address and reports whether it is new.
func (hp *holePuncher) add(a ma.Multiaddr) bool {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	for _, o := range hp.obs {
		if o.Equal(a) {
			return false
		}
	}
	hp.obs = append(hp.obs, a)
	return true
}

// addrs is the service's listenAddrs: every address observed so far.
func (hp *holePuncher) addrs() []ma.Multiaddr {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	return append([]ma.Multiaddr(nil), hp.obs...)
}

// Trace reports a DCUtR event (holepunch.EventTracer).
func (hp *holePuncher) Trace(evt *holepunch.Event) {
	b, _ := json.Marshal(evt.Evt)
	var detail map[string]any
	_ = json.Unmarshal(b, &detail)
	hp.out.emit(map[string]any{"event": "holepunch", "type": evt.Type, "peer_id": evt.Remote.String(), "detail": detail})
}

func (hp *holePuncher) close() {
	_ = hp.sub.Close()
	<-hp.done
	hp.mu.Lock()
	svc := hp.svc
	hp.mu.Unlock()
	if svc != nil {
		_ = svc.Close()
	}
}
