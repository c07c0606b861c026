// Package relay holds securechat's use of libp2p's circuit relay v2: the
// bounded relay service a node runs with --serve-relay, and the [Keeper]
// that holds a node's reservations on the relays it was given with --relay.
//
// A relay carries the two ends' Noise (or TLS) session and sees only its
// bytes, sizes and timing: the end-to-end layer runs on top, unchanged.
package relay

import (
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
)

// The relay service's bounds. Every resource a stranger can make a relay
// spend has one: reservations, circuits, bytes and time, per relayed
// connection, per peer and in total. A chat is small and long-lived, so
// the per-connection limits are far above libp2p's stock 2 minutes and
// 128 KiB (a stock relay cuts a chat every two minutes; the chat then
// reconnects without loss, but a securechat relay should not cut it at all),
// and still bounded, so that no circuit holds the relay forever.
const (
	// MaxReservations bounds the reservations held at once, over all peers
	// (libp2p's default).
	MaxReservations = 128
	// MaxReservationsPerIP bounds the reservations from one IP address, so
	// that one machine cannot take every slot with throwaway peer IDs
	// (libp2p's default). A peer holds one reservation at most.
	MaxReservationsPerIP = 8
	// MaxReservationsPerASN bounds the reservations from one IPv6
	// autonomous system (libp2p's default).
	MaxReservationsPerASN = 32
	// ReservationTTL is how long a reservation lasts unless refreshed; the
	// [Keeper] refreshes well before it ends.
	ReservationTTL = time.Hour

	// MaxCircuitsPerPeer bounds the relayed connections one peer takes part
	// in at once, as source or as destination. A chat needs one per
	// contact reached through the relay; a node has few such contacts at a
	// time.
	MaxCircuitsPerPeer = 8
	// MaxCircuits bounds the relayed connections over all peers: each one
	// holds two streams in the relay service's scope of the resource
	// manager ([ServiceLimits]).
	MaxCircuits = 256

	// CircuitDuration is how long one relayed connection may last. At the
	// end the relay resets it and the two ends reconnect (the outbox
	// resends what was not acknowledged), usually through a hole punch
	// long before.
	CircuitDuration = 24 * time.Hour
	// CircuitData is how many bytes one relayed connection may carry in
	// each direction: thousands of chat messages, and a bound on what one
	// circuit costs the relay's operator.
	CircuitData = 64 << 20

	// BufferSize is the copy buffer per direction of a relayed connection
	// (libp2p's default).
	BufferSize = 2048
	// serviceMemory bounds the relay's buffers and messages over all
	// circuits: two buffers each, and room for the hop messages.
	serviceMemory = MaxCircuits*2*BufferSize + 4<<20
	// servicePeerMemory is the same for one peer.
	servicePeerMemory = MaxCircuitsPerPeer*2*BufferSize + 256<<10
)

// Resources returns the relay service's resources with the bounds above.
func Resources() relayv2.Resources {
	return relayv2.Resources{
		Limit:                 &relayv2.RelayLimit{Duration: CircuitDuration, Data: CircuitData},
		ReservationTTL:        ReservationTTL,
		MaxReservations:       MaxReservations,
		MaxCircuits:           MaxCircuitsPerPeer,
		BufferSize:            BufferSize,
		MaxReservationsPerIP:  MaxReservationsPerIP,
		MaxReservationsPerASN: MaxReservationsPerASN,
	}
}

// NewService starts a circuit relay v2 service on h with [Resources]. It is
// started directly: libp2p.EnableRelayService would wait for AutoNAT to call
// the node public, which a node never learns without AutoNAT servers. The
// caller closes it before h.
func NewService(h host.Host, opts ...relayv2.Option) (*relayv2.Relay, error) {
	return relayv2.New(h, append([]relayv2.Option{relayv2.WithResources(Resources())}, opts...)...)
}

// ServiceLimits sets the resource manager's limits for the relay service:
// streams and memory over all circuits ([MaxCircuits]) and per peer
// ([MaxCircuitsPerPeer]). Each circuit holds a hop stream from its source
// and a stop stream to its destination.
func ServiceLimits(l *rcmgr.ScalingLimitConfig) {
	l.AddServiceLimit(relayv2.ServiceName,
		rcmgr.BaseLimit{
			StreamsInbound:  MaxCircuits,
			StreamsOutbound: MaxCircuits,
			Streams:         2 * MaxCircuits,
			Memory:          serviceMemory,
		}, rcmgr.BaseLimitIncrease{})
	l.AddServicePeerLimit(relayv2.ServiceName,
		rcmgr.BaseLimit{
			StreamsInbound:  MaxCircuitsPerPeer + 2, // and a reservation or two
			StreamsOutbound: MaxCircuitsPerPeer,
			Streams:         2*MaxCircuitsPerPeer + 2,
			Memory:          servicePeerMemory,
		}, rcmgr.BaseLimitIncrease{})
}
