package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// Test-only programs: the command itself never touches libp2p streams.
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// Stock go-libp2p programs for the relay and NAT tests, as the test binary
// itself re-executed with an environment variable set (see TestMain and
// runTestProgram): a plain circuit relay v2 with the limits a test sets, and
// a plain "echo peer" (stockpeer_test.go). They are the known-good other
// side: what securechat must work with, built from go-libp2p alone.
//
// Each prints JSON lines on stdout, the first {"event":"ready",...}, so the
// proc harness (startProc) runs them like the securechat binary, in a
// namespace or on 127.0.0.1. go-libp2p's logs never reach stdout: the p2p
// package (linked into this binary) routes them to a handler that drops
// them while no node has a logger. A program stops on SIGTERM, SIGINT or
// the end of its stdin.

const (
	// stockRelayEnv holds a stockRelayConfig as JSON: run the relay.
	stockRelayEnv = "SECURECHAT_TEST_STOCKRELAY"
	// stockPeerEnv holds a stockPeerConfig as JSON: run the echo peer.
	stockPeerEnv = "SECURECHAT_TEST_STOCKPEER"
)

// stockRelayConfig configures the stock relay.
type stockRelayConfig struct {
	// Listen are the multiaddrs to listen on (TCP and QUIC); required.
	Listen []string `json:"listen"`
	// LimitDuration and LimitData are the per relayed connection limits
	// (relayv2.WithLimit); zero keeps go-libp2p's default for that one
	// (2 minutes, 128 KiB per direction).
	LimitDuration time.Duration `json:"limit_duration,omitempty"`
	LimitData     int64         `json:"limit_data,omitempty"`
	// KeySeed, 32 bytes in hex, fixes the relay's Ed25519 identity; empty
	// makes a new one. The ready event carries the peer ID either way.
	KeySeed string `json:"key_seed,omitempty"`
	// AnyReservationAddrs vouches for every relay address in reservations
	// (relayv2.WithReservationAddressFilter); a stock relay vouches for
	// public addresses only, and 10.232.x and 127.x are not.
	AnyReservationAddrs bool `json:"any_reservation_addrs,omitempty"`
}

// runTestProgram runs the program an environment variable asks for, if
// any, and returns its exit code and true; false means run the tests.
func runTestProgram() (int, bool) {
	var err error
	if cfg, ok := os.LookupEnv(stockRelayEnv); ok {
		err = runStockRelay(cfg)
	} else if cfg, ok := os.LookupEnv(stockPeerEnv); ok {
		err = runStockPeer(cfg)
	} else {
		return 0, false
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test program:", err)
		return 1, true
	}
	return 0, true
}

// jsonOut writes events as JSON lines, one at a time.
type jsonOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *jsonOut) emit(ev map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(ev)
}

// untilStopped returns a context that ends on SIGTERM, SIGINT or stdin's
// end, and each line read from stdin until then. stop releases the signals.
func untilStopped() (ctx context.Context, lines <-chan string, stop func()) {
	ctx, stopSig := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan string)
	// The reader ends with stdin; the process exits right after ctx ends,
	// so a reader still blocked then goes with it.
	go func() {
		defer cancel()
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, ch, func() { cancel(); stopSig() }
}

// keyFromSeed returns the Ed25519 identity of a hex seed, or a new one.
func keyFromSeed(seed string) (crypto.PrivKey, error) {
	if seed == "" {
		k, _, err := crypto.GenerateEd25519Key(nil)
		return k, err
	}
	b, err := hex.DecodeString(seed)
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("key_seed: want %d bytes in hex", ed25519.SeedSize)
	}
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(b))
}

// runStockRelay runs a go-libp2p circuit relay v2 service until stopped.
func runStockRelay(cfgJSON string) error {
	var cfg stockRelayConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("%s: %w", stockRelayEnv, err)
	}
	if len(cfg.Listen) == 0 {
		return errors.New("stock relay: no listen address")
	}
	key, err := keyFromSeed(cfg.KeySeed)
	if err != nil {
		return err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		// A relay is public by configuration: no AutoNAT probing, and no
		// relay client of its own.
		libp2p.ForceReachabilityPublic(),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return err
	}
	defer h.Close()
	limit := relayv2.DefaultLimit()
	if cfg.LimitDuration > 0 {
		limit.Duration = cfg.LimitDuration
	}
	if cfg.LimitData > 0 {
		limit.Data = cfg.LimitData
	}
	opts := []relayv2.Option{relayv2.WithLimit(limit)}
	if cfg.AnyReservationAddrs {
		opts = append(opts, relayv2.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
	}
	r, err := relayv2.New(h, opts...)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, _, stop := untilStopped()
	defer stop()
	out := &jsonOut{enc: json.NewEncoder(os.Stdout)}
	out.emit(map[string]any{"event": "ready", "peer_id": h.ID().String(), "addrs": addrStrings(h.Addrs()),
		"limit_duration_ms": limit.Duration.Milliseconds(), "limit_data": limit.Data})
	<-ctx.Done()
	return nil
}

// addrStrings formats multiaddrs.
func addrStrings(addrs []ma.Multiaddr) []string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return s
}

// testProgram makes command run this test binary instead of the securechat
// binary it is asked for.
func testProgram(t testing.TB, command cmdFactory) cmdFactory {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, _ string, args ...string) *exec.Cmd {
		return command(ctx, self, args...)
	}
}

// startStock starts the test program configured by env (stockRelayEnv or
// stockPeerEnv) with cfg, made by command, and waits for its ready event.
func startStock(t testing.TB, name string, command cmdFactory, env string, cfg any) *proc {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECURECHAT_") {
			vars = append(vars, kv)
		}
	}
	return startProc(t, name, testProgram(t, command), append(vars, env+"="+string(b)), "-test.run=^$")
}

// stop closes p's stdin, which ends a stock program, and waits for it to
// exit cleanly.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.stdin.Close()
	if code := p.waitExit(30 * time.Second); code != 0 {
		p.t.Errorf("%s exited with %d: %s", p.name, code, p.stderr.String())
	}
}

// readAllLimit reads r to its end, failing beyond n bytes.
func readAllLimit(r io.Reader, n int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err == nil && len(b) > n {
		err = fmt.Errorf("more than %d bytes", n)
	}
	return b, err
}
