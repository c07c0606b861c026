package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/doctor"
)

// runDoctor is `securechat doctor`: it starts the node briefly with the
// given flags (as invite does), waits for the relays' reservations, and
// prints what decides whether a friend can reach this node: addresses,
// reachability, relays, hole punches, mDNS. --json prints the report as
// one JSON object for scripts.
func runDoctor(ctx context.Context, cfg *config, env environment, stdout, stderr io.Writer) error {
	n, stop, err := briefNode(ctx, cfg, env, stderr)
	if err != nil || n == nil {
		return err
	}
	d := n.Diagnostics()
	if err := stop(); err != nil {
		return err
	}
	// The query's node never runs mDNS; a chat started with these flags
	// would.
	d.MDNS = cfg.mdns
	r := doctor.New(d)
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	for _, l := range doctor.Text(r, time.Local) {
		fmt.Fprintln(stdout, l)
	}
	return nil
}
