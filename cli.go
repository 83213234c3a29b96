package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub migrate", "kefuhub migrate [flags]", stderr)
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := open(ctx, resolve(), stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

func tenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub tenant create", "kefuhub tenant create -name NAME -slug SLUG [-admin-email EMAIL] [flags]", stderr)
	name := fs.String("name", "", "tenant's display name (required)")
	slug := fs.String("slug", "", "tenant's short name: lower-case letters, digits, dashes (required)")
	email := fs.String("admin-email", "", "email of the tenant's first admin (default admin@<slug>.local)")
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *slug == "" {
		fs.Usage()
		return errors.New("tenant create: -name and -slug are required")
	}
	if *email == "" {
		*email = "admin@" + *slug + ".local"
	}
	a, err := open(ctx, resolve(), stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	t, token, err := a.hub.CreateTenant(ctx, *name, *slug, *email, "")
	if err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	fmt.Fprintf(stdout, "created tenant %q (%s)\nadmin API token (shown once): %s\n", t.Slug, t.GlobalID(), token)
	return nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub token create", "kefuhub token create -tenant SLUG -user EMAIL [-name NAME] [flags]", stderr)
	slug := fs.String("tenant", "default", "tenant slug")
	email := fs.String("user", "", "email of the user the token acts as (required)")
	name := fs.String("name", "cli", "a name to tell the token apart")
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		fs.Usage()
		return errors.New("token create: -user is required")
	}
	a, err := open(ctx, resolve(), stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	t, err := a.hub.TenantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("token create: tenant %q: %w", *slug, err)
	}
	u, err := a.hub.UserByEmail(ctx, t.ID, *email)
	if err != nil {
		return fmt.Errorf("token create: user %q: %w", *email, err)
	}
	sys := hub.WithPrincipal(ctx, hub.System(t.ID))
	uid := u.GlobalID()
	tok, secret, err := a.hub.CreateAPIToken(sys, models.CreateAPITokenInput{Name: *name, UserID: &uid})
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintf(stdout, "API token %q for %s (role %s), shown once:\n%s\n", tok.Name, u.Email, u.Role, secret)
	return nil
}
