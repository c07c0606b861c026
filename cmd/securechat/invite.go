package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p"
)

// This file is the command's side of invites (docs/INTERFACE.md, "invite"):
// everywhere an address to dial is accepted an invite is accepted too,
// `securechat invite` prints this node's, and the headless `invite`
// command answers with it.

// dialTarget is what a user asked to dial: a multiaddr ending in
// /p2p/<peer-id>, an invite, or (where a contact may be named) a known
// contact by the rules of [p2p.MatchPeer], dialled at its stored addresses.
type dialTarget struct {
	addr    multiaddr.Multiaddr // set for a multiaddr
	invite  string              // the invite, whitespace removed
	peerID  string              // the invite's peer
	contact string              // a name, ID or fingerprint prefix of a contact
}

// String names the target in messages: the address, the invite's peer (an
// invite is too long for one error line), or the contact as named.
func (t dialTarget) String() string {
	switch {
	case t.addr != nil:
		return t.addr.String()
	case t.contact != "":
		return "contact " + p2p.SanitizeName(t.contact)
	}
	return "invite for " + t.peerID
}

// arg is the target as a user gives it: the address, the invite or the name.
func (t dialTarget) arg() string {
	switch {
	case t.addr != nil:
		return t.addr.String()
	case t.contact != "":
		return t.contact
	}
	return t.invite
}

// parseDialTarget reads s as an invite (it starts with "securechat:") or
// as a multiaddr ending in /p2p/<peer-id>. An invite is checked (its
// signature, peer ID and addresses) before anything is dialled.
func parseDialTarget(s string) (dialTarget, error) {
	if p2p.IsInvite(s) {
		inv := p2p.CleanInvite(s)
		parsed, err := p2p.ParseInvite(inv)
		if err != nil {
			return dialTarget{}, errors.New(strings.TrimPrefix(err.Error(), "p2p: "))
		}
		return dialTarget{invite: inv, peerID: parsed.PeerID}, nil
	}
	a, err := parseMultiaddr(s, true)
	if err != nil {
		return dialTarget{}, err
	}
	return dialTarget{addr: a}, nil
}

// parseConnectArg is parseDialTarget where a known contact may also be
// named (the headless connect command and the UIs' /connect; not
// --connect, whose malformed multiaddr is a usage error): anything that is
// neither an invite nor starts with "/" names a contact.
func parseConnectArg(s string) (dialTarget, error) {
	s = strings.TrimSpace(s)
	if s != "" && !p2p.IsInvite(s) && !strings.HasPrefix(s, "/") && !strings.ContainsAny(s, " \t\n") {
		return dialTarget{contact: s}, nil
	}
	return parseDialTarget(s)
}

// connect dials t on n.
func connectTarget(ctx context.Context, n chatNode, t dialTarget) (p2p.Connected, error) {
	switch {
	case t.addr != nil:
		return n.Connect(ctx, t.addr)
	case t.contact != "":
		c, err := n.ConnectPeer(ctx, t.contact)
		if errors.Is(err, p2p.ErrUnknownPeer) {
			// Not a contact either: to a script that sent a malformed
			// address this is still a bad address.
			err = fmt.Errorf("%w: %s is not a multiaddr ending in /p2p/<peer-id>, an invite or a known contact", p2p.ErrBadAddress, p2p.SanitizeName(t.contact))
		}
		return c, err
	}
	return n.ConnectInvite(ctx, t.invite)
}

// connectList is the repeatable --connect flag: multiaddrs and invites.
type connectList struct {
	targets *[]dialTarget
	failed  *error
}

func (l connectList) String() string { return "" }

func (l connectList) Set(s string) error {
	t, err := parseDialTarget(s)
	if err != nil {
		*l.failed = usageErrorf("", "--connect %q: %v", clip(s), err)
		return err
	}
	*l.targets = append(*l.targets, t)
	return nil
}

// inviteEvent answers the headless invite command.
type inviteEvent struct {
	Event  string   `json:"event"`
	Invite string   `json:"invite"`
	Addrs  []string `json:"addrs"`
	Ref    string   `json:"ref,omitempty"`
}

// invite answers the headless invite command: the invite and the
// addresses it was made from.
func (h *headless) invite(c command) {
	inv, err := h.node.Invite()
	if err != nil {
		h.fail(c.Ref, codeNoAddress, oneLine(err.Error()))
		return
	}
	addrs := h.node.Addrs()
	if addrs == nil {
		addrs = []string{}
	}
	h.out.emit(inviteEvent{Event: "invite", Invite: inv, Addrs: addrs, Ref: c.Ref})
}

// codeNoAddress answers invite while the node has no address to put in it,
// and a connect to a contact whose addresses are not known.
const codeNoAddress = "no_address"

// relayWait bounds how long `securechat invite`, `id` and `doctor` wait
// for the reservations on --relay relays before they print.
const relayWait = 8 * time.Second

// waitRelays waits until every relay of n has a reservation or has had an
// attempt fail, at most bound (or ctx). Without relays it returns at once.
func waitRelays(ctx context.Context, n *p2p.Node, bound time.Duration) {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, r := range n.Diagnostics().Relays {
			if !r.Reserved && r.LastAttempt.IsZero() {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// briefNode starts the node as a query subcommand (id, invite, doctor)
// needs it: the configured listen addresses and relays, no mDNS, the
// node's events drained, and its start-up logs shown only when debugging.
// It waits for the relays' reservations (see waitRelays). The caller
// closes the node with stop, whose error (a panic in Close) ends the
// command. A nil node and nil error mean ctx ended.
func briefNode(ctx context.Context, cfg *config, env environment, stderr io.Writer) (n *p2p.Node, stop func() error, err error) {
	c := *cfg
	c.mdns = false
	held := &heldWriter{w: stderr, held: !cfg.debug}
	logger := newLogger(held, cfg.debug)
	n, err = startNode(ctx, &c, env, logger)
	// A query's output is its lines, and a failure is the one error line.
	held.release(false)
	if err != nil || n == nil {
		return nil, nil, err
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range n.Events() {
		}
	}()
	waitRelays(ctx, n, relayWait)
	return n, func() error {
		err := closeNode(n, closeTimeout, logger)
		select {
		case <-drained:
		case <-time.After(time.Second):
		}
		return err
	}, nil
}

// runInvite prints this node's invite on one line and exits.
func runInvite(ctx context.Context, cfg *config, env environment, stdout, stderr io.Writer) error {
	n, stop, err := briefNode(ctx, cfg, env, stderr)
	if err != nil || n == nil {
		return err
	}
	inv, err := n.Invite()
	if cerr := stop(); cerr != nil {
		return cerr
	}
	if err != nil {
		return failf("pass --listen with an address peers can reach, or --relay", "invite: %v", err)
	}
	fmt.Fprintln(stdout, inv)
	return nil
}

// runID prints the node's peer ID and fingerprint, then the addresses it
// listened on for this run and its invite.
func runID(ctx context.Context, cfg *config, env environment, stdout, stderr io.Writer) error {
	n, stop, err := briefNode(ctx, cfg, env, stderr)
	if err != nil || n == nil {
		return err
	}
	peerID, fp, addrs := n.PeerID(), n.Fingerprint(), n.Addrs()
	inv, invErr := n.Invite()
	if err := stop(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "peer ID:     %s\nfingerprint: %s\n", peerID, fp)
	for _, a := range addrs {
		fmt.Fprintf(stdout, "address:     %s\n", a)
	}
	if invErr == nil {
		fmt.Fprintf(stdout, "invite:      %s\n", inv)
	}
	return nil
}
