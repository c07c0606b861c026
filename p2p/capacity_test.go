package p2p

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/securechat/securechat/e2e"
)

// TestCapacityLimits: the node-wide limits derived from MaxSessions, and
// that the default is what the node had before MaxSessions existed
// (libp2p's system defaults scaled to 256 MiB and 1024 descriptors, 256
// chat streams, 128 MiB of chat memory, watermarks 64/128).
func TestCapacityLimits(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	today := limitsFor{
		ConnsInbound: 80, Conns: 160, FDs: 1024, Memory: 384 * mib,
		StreamsInbound: 512, Streams: 1024,
		ChatStreams: 256, ChatMemory: 128 * mib,
		ConnLow: 64, ConnHigh: 128,
	}
	for _, tc := range []struct {
		sessions int
		want     limitsFor
	}{
		{0, today},
		{-1, today},
		{64, today},
		{8, limitsFor{
			ConnsInbound: 10, Conns: 20, FDs: 1024, Memory: 272 * mib,
			StreamsInbound: 64, Streams: 128,
			ChatStreams: 32, ChatMemory: 16 * mib,
			ConnLow: 8, ConnHigh: 16,
		}},
		{550, limitsFor{
			ConnsInbound: 687, Conns: 1374, FDs: 1630, Memory: 1356 * mib,
			StreamsInbound: 4400, Streams: 8800,
			ChatStreams: 2200, ChatMemory: 1100 * mib,
			ConnLow: 550, ConnHigh: 1100,
		}},
	} {
		got := capacityLimits(tc.sessions)
		if got != tc.want {
			t.Errorf("capacityLimits(%d) =\n%+v, want\n%+v", tc.sessions, got, tc.want)
		}
		s := max(tc.sessions, 1)
		if tc.sessions <= 0 {
			s = defaultMaxSessions
		}
		// The invariants the numbers are chosen for.
		if got.ConnsInbound < s || got.ConnHigh >= got.Conns || got.ConnLow < s ||
			got.FDs < got.Conns || got.ChatStreams < s || got.StreamsInbound < got.ChatStreams {
			t.Errorf("capacityLimits(%d) = %+v breaks an invariant", tc.sessions, got)
		}
	}

	// The default equals libp2p's scaled system defaults.
	def := rcmgr.DefaultLimits
	sys := rcmgr.NewFixedLimiter(def.Scale(rcmgrMemory, rcmgrFDs)).GetSystemLimits()
	if sys.GetConnLimit(network.DirInbound) != today.ConnsInbound ||
		sys.GetConnTotalLimit() != today.Conns ||
		sys.GetFDLimit() != today.FDs || sys.GetMemoryLimit() != today.Memory {
		t.Errorf("libp2p's scaled defaults changed: inbound %d, conns %d, FDs %d, memory %d",
			sys.GetConnLimit(network.DirInbound), sys.GetConnTotalLimit(), sys.GetFDLimit(), sys.GetMemoryLimit())
	}
}

// TestResourceManagerCapacity: newResourceManager applies the derived
// limits to the system and chat protocol scopes, and not to a peer.
func TestResourceManagerCapacity(t *testing.T) {
	t.Parallel()
	for _, sessions := range []int{0, 550} {
		cl := capacityLimits(sessions)
		rm, err := newResourceManager(cl)
		if err != nil {
			t.Fatal(err)
		}
		var sys, chat, one rcmgr.Limit
		_ = rm.ViewSystem(func(s network.ResourceScope) error {
			sys = s.(rcmgr.ResourceScopeLimiter).Limit()
			return nil
		})
		_ = rm.ViewProtocol(protocol.ID(e2e.ProtocolID), func(s network.ProtocolScope) error {
			chat = s.(rcmgr.ResourceScopeLimiter).Limit()
			return nil
		})
		_ = rm.ViewPeer(peer.ID("some-peer"), func(s network.PeerScope) error {
			one = s.(rcmgr.ResourceScopeLimiter).Limit()
			return nil
		})
		_ = rm.Close()
		if sys.GetConnLimit(network.DirInbound) != cl.ConnsInbound ||
			sys.GetConnLimit(network.DirOutbound) != cl.Conns ||
			sys.GetConnTotalLimit() != cl.Conns || sys.GetFDLimit() != cl.FDs ||
			sys.GetMemoryLimit() != cl.Memory ||
			sys.GetStreamLimit(network.DirInbound) != cl.StreamsInbound ||
			sys.GetStreamTotalLimit() != cl.Streams {
			t.Errorf("%d sessions: system limit %+v, want %+v", sessions, sys, cl)
		}
		if chat.GetStreamTotalLimit() != cl.ChatStreams || chat.GetMemoryLimit() != cl.ChatMemory {
			t.Errorf("%d sessions: chat limit %+v, want %+v", sessions, chat, cl)
		}
		if one.GetStreamTotalLimit() != peerStreams || one.GetMemoryLimit() != peerMemory {
			t.Errorf("%d sessions: peer limit %+v", sessions, one)
		}
	}
}
