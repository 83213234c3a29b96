package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: a flag, an environment variable and
// a default, listed together so that -h documents every one of them.
type setting struct {
	flag, env, def, help string
}

var settings = []setting{
	{"addr", "KEFUHUB_ADDR", ":8080", "address the HTTP server listens on"},
	{"database-url", "KEFUHUB_DATABASE_URL", "sqlite://kefuhub.db", "database: sqlite://path/to/file.db or mysql://user:pass@tcp(host:3306)/db?params"},
	{"secret-key", "KEFUHUB_SECRET_KEY", "", "base64 of 32 bytes sealing channel secrets (AES-256-GCM); on SQLite, generated beside the database file when unset; required on MySQL"},
	{"bootstrap-token", "KEFUHUB_BOOTSTRAP_TOKEN", "", "admin token of the default tenant created on first start (khb_ + at least 32 characters); random and printed once when unset"},
	{"public-url", "KEFUHUB_PUBLIC_URL", "http://localhost:8080", "URL at which platforms and browsers reach this server"},
	{"wecom-api-base", "KEFUHUB_WECOM_API_BASE", "https://qyapi.weixin.qq.com", "WeCom API host (private deployments, proxies, fakes)"},
	{"wechat-api-base", "KEFUHUB_WECHAT_API_BASE", "https://api.weixin.qq.com", "WeChat Official Account API host"},
	{"taobao-gateway", "KEFUHUB_TAOBAO_GATEWAY", "https://gw.api.taobao.com/router/rest", "Taobao Open Platform gateway"},
	{"dingtalk-oapi-base", "KEFUHUB_DINGTALK_OAPI_BASE", "https://oapi.dingtalk.com", "DingTalk's oapi host (robots, work notices, tokens)"},
	{"dingtalk-api-base", "KEFUHUB_DINGTALK_API_BASE", "https://api.dingtalk.com", "DingTalk's v1.0 API host (to-dos, approvals)"},
	{"platform-timeout", "KEFUHUB_PLATFORM_TIMEOUT", "15s", "how long a call to a platform (WeCom, DingTalk, an OA system...) may take"},
	{"dispatch-workers", "KEFUHUB_DISPATCH_WORKERS", "8", "deliveries the dispatcher runs at once"},
	{"dispatch-max-attempts", "KEFUHUB_DISPATCH_MAX_ATTEMPTS", "10", "attempts before a delivery is a dead letter"},
	{"dispatch-base-backoff", "KEFUHUB_DISPATCH_BASE_BACKOFF", "2s", "wait after a delivery's first failure; doubles per attempt"},
	{"dispatch-max-backoff", "KEFUHUB_DISPATCH_MAX_BACKOFF", "1h", "longest wait between attempts"},
	{"dispatch-claim-ttl", "KEFUHUB_DISPATCH_CLAIM_TTL", "2m", "how long a replica holds a delivery it claimed; a dead replica's are taken over after it"},
	{"done-check-every", "KEFUHUB_DONE_CHECK_EVERY", "1m", "how often open tickets' DingTalk to-dos are checked (targets with resolveWhenDone)"},
	{"log-level", "KEFUHUB_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "KEFUHUB_LOG_FORMAT", "text", "text or json"},
	{"max-body-bytes", "KEFUHUB_MAX_BODY_BYTES", "1048576", "largest request body accepted"},
	{"max-complexity", "KEFUHUB_MAX_COMPLEXITY", "20000", "largest GraphQL query cost (connections cost their page size)"},
	{"max-depth", "KEFUHUB_MAX_DEPTH", "12", "deepest GraphQL selection nesting"},
	{"response-cache", "KEFUHUB_RESPONSE_CACHE", "2000", "query responses kept for reuse until the tenant's data changes (0 turns it off)"},
	{"db-max-conns", "KEFUHUB_DB_MAX_CONNS", "32", "database connection pool size"},
	{"shutdown-timeout", "KEFUHUB_SHUTDOWN_TIMEOUT", "20s", "how long SIGTERM waits for requests to finish"},
}

// config is the resolved configuration: flag over environment over default.
type config struct {
	values map[string]string
}

func (c config) str(name string) string { return c.values[name] }

func (c config) int(name string) (int, error) {
	n, err := strconv.Atoi(c.values[name])
	if err != nil {
		return 0, fmt.Errorf("config: %s: %q is not a whole number", name, c.values[name])
	}
	return n, nil
}

func (c config) duration(name string) (time.Duration, error) {
	d, err := time.ParseDuration(c.values[name])
	if err != nil {
		return 0, fmt.Errorf("config: %s: %q is not a duration (e.g. 20s)", name, c.values[name])
	}
	return d, nil
}

// registerSettings adds every setting to fs; resolve reads them back after
// fs.Parse.
func registerSettings(fs *flag.FlagSet) func() config {
	ptrs := map[string]*string{}
	for _, s := range settings {
		def := s.def
		if v, ok := os.LookupEnv(s.env); ok {
			def = v
		}
		ptrs[s.flag] = fs.String(s.flag, def, "")
	}
	return func() config {
		c := config{values: map[string]string{}}
		for name, p := range ptrs {
			c.values[name] = *p
		}
		return c
	}
}

func printSettings(w io.Writer) {
	fmt.Fprintln(w, "Settings (flag, environment variable, default):")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "  -%s, %s\n      %s (default %s)\n", s.flag, s.env, s.help, def)
	}
}

func newLogger(c config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.str("log-level"))); err != nil {
		return nil, fmt.Errorf("config: log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.str("log-format")) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("config: log-format must be text or json, not %q", c.str("log-format"))
}
