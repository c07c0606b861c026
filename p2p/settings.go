package p2p

import (
	"sync/atomic"
	"time"

	"github.com/securechat/securechat/e2e"
)

// settings are a node's internal timings and key source. [New] always uses
// [defaultSettings]; the tests start nodes through newNode with their own
// (shorter deadlines, fixture identities), so that no test changes a
// package variable and independent tests run in parallel. The node keeps
// its copy for its whole life and only reads it.
type settings struct {
	// handshakeTimeout bounds the whole e2e handshake on a stream
	// (e2e.HandshakeTimeout).
	handshakeTimeout time.Duration
	// firstMessageTimeout bounds a responder's wait for the initiator's
	// first handshake message ([firstMessageTimeout]).
	firstMessageTimeout time.Duration
	// frameTimeout bounds the time between a record frame's first byte
	// and its last ([frameTimeout]).
	frameTimeout time.Duration
	// fileRetry is the first pause before a file stream is tried again
	// (filestream.go).
	fileRetry time.Duration
	// fileTest holds test hooks of file transfers; nil in production
	// (filestream.go).
	fileTest *fileTestHooks
	// idleTimeout cuts a session that carried no record for this long
	// ([sessionIdleTimeout]).
	idleTimeout time.Duration
	// heartbeatInterval is how soon a record received is answered when
	// nothing else goes out (e2e.HeartbeatInterval).
	heartbeatInterval time.Duration
	// newIdentity makes the RSA identity of a new key file or an
	// ephemeral node (e2e.GenerateIdentity, about a second for RSA-3072).
	newIdentity func() (*e2e.Identity, error)
	// listenDefaults are the addresses a node listens on without
	// Config.ListenAddrs (defaultListenAddrs; tests use 127.0.0.1), with
	// the ports it had last time if it is persistent (ports.go).
	listenDefaults []string
	// noReceipts, when set and true, makes the node show messages but
	// never send receipts, like a peer that lost them all. Always nil in
	// production.
	noReceipts *atomic.Bool
}

// defaultSettings are the production values.
func defaultSettings() settings {
	return settings{
		handshakeTimeout:    e2e.HandshakeTimeout,
		firstMessageTimeout: firstMessageTimeout,
		frameTimeout:        frameTimeout,
		fileRetry:           2 * time.Second,
		idleTimeout:         sessionIdleTimeout,
		heartbeatInterval:   e2e.HeartbeatInterval,
		newIdentity:         e2e.GenerateIdentity,
		listenDefaults:      defaultListenAddrs,
	}
}

// dropReceipts reports whether the noReceipts test switch is on.
func (s *settings) dropReceipts() bool {
	return s.noReceipts != nil && s.noReceipts.Load()
}
