package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kefuhub/kefuhub/seed"
)

func seedCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub seed", "kefuhub seed [-tenant SLUG] [-customers N] [-conversations N] [-messages N] [flags]", stderr)
	slug := fs.String("tenant", "default", "tenant slug to fill (created by the first start)")
	customers := fs.Int("customers", 100, "customers to create")
	conversations := fs.Int("conversations", 0, "conversations to create (default 3 per customer)")
	messages := fs.Int("messages", 10, "average messages per conversation")
	tickets := fs.Int("tickets", 0, "tickets to create (default one per 10 conversations)")
	agents := fs.Int("agents", 8, "agents to create")
	rnd := fs.Int64("seed", 1, "random seed (same seed, same data)")
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := open(ctx, resolve(), stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := bootstrap(ctx, a, stdout); err != nil {
		return err
	}
	t, err := a.hub.TenantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("seed: tenant %q: %w", *slug, err)
	}
	start := time.Now()
	last := time.Now()
	stats, err := seed.Run(ctx, a.store.DB, t.ID, seed.Options{
		Customers: *customers, Conversations: *conversations, MessagesPerConversation: *messages,
		Tickets: *tickets, Agents: *agents, Seed: *rnd,
		Progress: func(stage string, done, total int) {
			if time.Since(last) > 2*time.Second || done == total {
				last = time.Now()
				fmt.Fprintf(stderr, "seed: %s %d/%d\n", stage, done, total)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded tenant %q in %s: %d customers (%d identities), %d conversations, %d messages, %d tickets, %d agents, %d teams, %d channels\n",
		*slug, time.Since(start).Round(time.Millisecond), stats.Customers, stats.Identities, stats.Conversations,
		stats.Messages, stats.Tickets, stats.Users, stats.Teams, stats.Channels)
	return nil
}
