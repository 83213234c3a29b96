// Command kefuhub is the customer-service integration hub: one GraphQL API
// over every customer, conversation, message and ticket, whatever channel
// it came from.
//
//	kefuhub [serve]        run the server (the default)
//	kefuhub migrate        apply database migrations and exit
//	kefuhub tenant create  add a tenant with an admin token
//	kefuhub token create   issue an API token for a user
//	kefuhub seed           fill a tenant with demo data
//	kefuhub demo           run against fake platforms with simulated customers
//
// Run `kefuhub -h` for every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/connectors"
	appchannel "github.com/kefuhub/kefuhub/connectors/app"
	"github.com/kefuhub/kefuhub/connectors/dingtalk"
	"github.com/kefuhub/kefuhub/connectors/dingtalkbot"
	"github.com/kefuhub/kefuhub/connectors/email"
	"github.com/kefuhub/kefuhub/connectors/oa"
	"github.com/kefuhub/kefuhub/connectors/taobao"
	"github.com/kefuhub/kefuhub/connectors/wechat"
	"github.com/kefuhub/kefuhub/connectors/wecom"
	"github.com/kefuhub/kefuhub/connectors/wecomapp"
	"github.com/kefuhub/kefuhub/connectors/wecomwork"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kefuhub:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a command line. It returns when the command is done or,
// for serve, when ctx is cancelled and the server has drained.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
		if cmd == "tenant" || cmd == "token" {
			if len(args) == 0 || args[0] != "create" {
				return fmt.Errorf("usage: kefuhub %s create [flags]", cmd)
			}
			args = args[1:]
		}
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args, stdout, stderr)
	case "tenant":
		return tenantCreate(ctx, args, stdout, stderr)
	case "token":
		return tokenCreate(ctx, args, stdout, stderr)
	case "seed":
		return seedCmd(ctx, args, stdout, stderr)
	case "demo":
		return demoCmd(ctx, args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (serve, migrate, tenant create, token create, seed, demo)", cmd)
}

func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n", usage)
		var extra bool
		fs.VisitAll(func(f *flag.Flag) {
			for _, s := range settings {
				if s.flag == f.Name {
					return
				}
			}
			if !extra {
				fmt.Fprintln(stderr, "Flags:")
				extra = true
			}
			fmt.Fprintf(stderr, "  -%s\n      %s\n", f.Name, f.Usage)
		})
		if extra {
			fmt.Fprintln(stderr)
		}
		printSettings(stderr)
	}
	return fs
}

// app is what every command opens: configuration, logger, migrated store
// and hub.
type app struct {
	cfg   config
	log   *slog.Logger
	store *store.Store
	hub   *hub.Hub
}

func (a *app) Close() {
	a.hub.Close()
	_ = a.store.Close()
}

func open(ctx context.Context, cfg config, stderr io.Writer) (*app, error) {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return nil, err
	}
	maxConns, err := cfg.int("db-max-conns")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.str("database-url"), store.Options{MaxOpenConns: maxConns})
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", "engine", st.Engine, "applied", applied)
	}
	box, err := secretBox(cfg, st, log)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	timeout, err := cfg.duration("platform-timeout")
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	h, err := hub.New(hub.Config{Store: st, Box: box, Logger: log, HTTPClient: &http.Client{Timeout: timeout},
		Connectors: newRegistry(), PublicURL: cfg.str("public-url"),
		BaseURLs: map[models.ChannelKind]string{
			models.ChannelWeComKF:     cfg.str("wecom-api-base"),
			models.ChannelWeChatOA:    cfg.str("wechat-api-base"),
			models.ChannelTaobao:      cfg.str("taobao-gateway"),
			models.ChannelDingTalkBot: cfg.str("dingtalk-oapi-base"),
			models.ChannelWeComApp:    cfg.str("wecom-api-base"),
		},
		TargetBaseURLs: map[models.TargetKind]string{
			models.TargetDingTalkRobot:      cfg.str("dingtalk-oapi-base"),
			models.TargetDingTalkWorkNotice: cfg.str("dingtalk-oapi-base"),
			models.TargetDingTalkTodo:       cfg.str("dingtalk-oapi-base"),
			models.TargetDingTalkApproval:   cfg.str("dingtalk-oapi-base"),
			models.TargetWeComAppMessage:    cfg.str("wecom-api-base"),
			models.TargetWeComApproval:      cfg.str("wecom-api-base"),
			models.TargetWeComRobot:         cfg.str("wecom-api-base"),
		},
		TargetAPIBases: map[models.TargetKind]string{
			models.TargetDingTalkTodo:     cfg.str("dingtalk-api-base"),
			models.TargetDingTalkApproval: cfg.str("dingtalk-api-base"),
		}})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &app{cfg: cfg, log: log, store: st, hub: h}, nil
}

// secretBox loads the key that seals channel secrets: KEFUHUB_SECRET_KEY,
// or on SQLite a key file kept beside the database (created on first start).
func secretBox(cfg config, st *store.Store, log *slog.Logger) (*secret.Box, error) {
	var key []byte
	if raw := cfg.str("secret-key"); raw != "" {
		k, err := secret.ParseKey(raw)
		if err != nil {
			return nil, fmt.Errorf("config: secret-key: %w", err)
		}
		key = k
	} else {
		if st.Engine != store.EngineSQLite {
			return nil, errors.New("config: KEFUHUB_SECRET_KEY is required with MySQL (every replica must share it); make one with: head -c32 /dev/urandom | base64")
		}
		path := st.SQLitePath + ".key"
		k, created, err := secret.LoadOrCreateKeyFile(path)
		if err != nil {
			return nil, err
		}
		if created {
			log.Warn("KEFUHUB_SECRET_KEY is not set: generated a key for channel secrets; back it up, without it they cannot be read", "path", filepath.Clean(path))
		}
		key = k
	}
	return secret.NewBox(key)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kefuhub", "kefuhub [serve] [flags]", stderr)
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := resolve()
	a, err := open(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := bootstrap(ctx, a, stdout); err != nil {
		return err
	}
	dc, err := dispatchConfig(cfg)
	if err != nil {
		return err
	}
	a.hub.StartDispatcher(dc)
	a.hub.StartPolling()
	doneEvery, err := cfg.duration("done-check-every")
	if err != nil {
		return err
	}
	a.hub.StartWatchingDone(doneEvery)
	opts := api.Options{Logger: a.log}
	if opts.MaxBodyBytes, err = int64Setting(cfg, "max-body-bytes"); err != nil {
		return err
	}
	if opts.MaxComplexity, err = cfg.int("max-complexity"); err != nil {
		return err
	}
	if opts.MaxDepth, err = cfg.int("max-depth"); err != nil {
		return err
	}
	if opts.ResponseCache, err = cfg.int("response-cache"); err != nil {
		return err
	}
	if opts.ResponseCache == 0 {
		opts.ResponseCache = -1 // 0 in the configuration means off
	}
	grace, err := cfg.duration("shutdown-timeout")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.str("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return serveHTTP(ctx, a, ln, api.New(a.hub, opts), grace)
}

// dispatchConfig reads the dispatcher's settings.
func dispatchConfig(cfg config) (hub.DispatchConfig, error) {
	var dc hub.DispatchConfig
	var err error
	if dc.Workers, err = cfg.int("dispatch-workers"); err != nil {
		return dc, err
	}
	if dc.MaxAttempts, err = cfg.int("dispatch-max-attempts"); err != nil {
		return dc, err
	}
	if dc.BaseBackoff, err = cfg.duration("dispatch-base-backoff"); err != nil {
		return dc, err
	}
	if dc.MaxBackoff, err = cfg.duration("dispatch-max-backoff"); err != nil {
		return dc, err
	}
	if dc.ClaimTTL, err = cfg.duration("dispatch-claim-ttl"); err != nil {
		return dc, err
	}
	if dc.SendTimeout, err = cfg.duration("platform-timeout"); err != nil {
		return dc, err
	}
	return dc, nil
}

// newRegistry assembles the channel connectors kefuhub runs with.
func newRegistry() *connectors.Registry {
	return connectors.NewRegistry(
		appchannel.Connector(),
		taobao.Connector(),
		wecom.Connector(),
		email.Connector(),
		wechat.Connector(),
		dingtalkbot.Connector(),
		wecomapp.Connector(),
	).WithTargets(
		oa.Connector(),
		dingtalk.RobotConnector(),
		dingtalk.WorkNoticeConnector(),
		dingtalk.TodoConnector(),
		dingtalk.ApprovalConnector(),
		wecomwork.AppMessageConnector(),
		wecomwork.ApprovalConnector(),
		wecomwork.RobotConnector(),
	)
}

func int64Setting(cfg config, name string) (int64, error) {
	n, err := cfg.int(name)
	return int64(n), err
}

// serveHTTP serves until ctx ends, then drains: it stops accepting, lets
// running requests finish, completes every subscription, and closes
// WebSockets, within grace.
func serveHTTP(ctx context.Context, a *app, ln net.Listener, h http.Handler, grace time.Duration) error {
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("kefuhub listening", "addr", ln.Addr().String(), "engine", a.store.Engine, "graphiql", "http://"+displayAddr(ln.Addr())+"/")

	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: draining requests and subscriptions", "grace", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(shutdownCtx) }()
	// Subscriptions end cleanly (each gets "complete"), then the hijacked
	// WebSocket connections, which Shutdown does not track, are closed.
	a.hub.Close()
	time.AfterFunc(200*time.Millisecond, cancelBase)
	if err := <-done; err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("shutdown complete")
	return nil
}

func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return addr.String()
}

// bootstrap creates the default tenant and its admin token on a fresh
// database, and prints the token once.
func bootstrap(ctx context.Context, a *app, stdout io.Writer) error {
	n, err := a.hub.TenantCount(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	given := a.cfg.str("bootstrap-token")
	_, token, err := a.hub.CreateTenant(ctx, "Default", "default", "admin@kefuhub.local", given)
	if err != nil {
		if hub.CodeOf(err) == hub.CodeConflict {
			return nil // another replica bootstrapped first
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	a.log.Info("created the default tenant and its admin user", "tenant", "default")
	if given == "" {
		fmt.Fprintf(stdout, "\nkefuhub: admin API token for tenant \"default\" (shown once, keep it):\n\n    %s\n\nUse it as: Authorization: Bearer %s\n\n", token, token)
	}
	return nil
}
