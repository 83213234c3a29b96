package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestHelpListsEverySetting(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(stderr.String(), s.env) || !strings.Contains(stderr.String(), "-"+s.flag) {
			t.Errorf("-h does not list %s / -%s", s.env, s.flag)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

var tokenRE = regexp.MustCompile(`khb_[A-Za-z0-9_-]{43}`)

// TestBootstrapAndAdminCommands covers first start on an empty database,
// then the tenant and token commands, on both engines.
func TestBootstrapAndAdminCommands(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.URL(t)
			base := []string{"-database-url", url, "-log-level", "error"}
			if eng.Name != "sqlite" {
				base = append(base, "-secret-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
			}
			cfg := testConfig(t, base...)
			a, err := open(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var out bytes.Buffer
			if err := bootstrap(ctx, a, &out); err != nil {
				t.Fatal(err)
			}
			token := tokenRE.FindString(out.String())
			if token == "" {
				t.Fatalf("bootstrap printed no token: %q", out.String())
			}
			p, err := a.hub.Authenticate(ctx, token)
			if err != nil || p.Role != "ADMIN" {
				t.Fatalf("bootstrap token: %+v, %v", p, err)
			}
			// A second start does nothing and prints nothing.
			out.Reset()
			if err := bootstrap(ctx, a, &out); err != nil || out.Len() != 0 {
				t.Fatalf("second bootstrap: %v, printed %q", err, out.String())
			}

			out.Reset()
			if err := run(ctx, append([]string{"tenant", "create", "-name", "杭州小店", "-slug", "hz-shop"}, base...), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			shopToken := tokenRE.FindString(out.String())
			if p, err := a.hub.Authenticate(ctx, shopToken); err != nil || p.TenantID == 0 {
				t.Fatalf("tenant create token: %v", err)
			}
			if err := run(ctx, append([]string{"tenant", "create", "-name", "again", "-slug", "hz-shop"}, base...), io.Discard, io.Discard); err == nil {
				t.Fatal("duplicate slug accepted")
			}
			out.Reset()
			if err := run(ctx, append([]string{"token", "create", "-tenant", "hz-shop", "-user", "admin@hz-shop.local"}, base...), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if _, err := a.hub.Authenticate(ctx, tokenRE.FindString(out.String())); err != nil {
				t.Fatalf("token create token: %v", err)
			}
			if err := run(ctx, append([]string{"token", "create", "-tenant", "hz-shop", "-user", "nobody@x"}, base...), io.Discard, io.Discard); err == nil {
				t.Fatal("token for an unknown user accepted")
			}
		})
	}
}

func TestBootstrapTokenFromEnvironment(t *testing.T) {
	const given = "khb_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
	t.Setenv("KEFUHUB_BOOTSTRAP_TOKEN", given)
	cfg := testConfig(t, "-database-url", storetest.SQLiteURL(t), "-log-level", "error")
	a, err := open(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out bytes.Buffer
	if err := bootstrap(context.Background(), a, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), given) {
		t.Errorf("a given bootstrap token must not be printed")
	}
	if _, err := a.hub.Authenticate(context.Background(), given); err != nil {
		t.Fatalf("given bootstrap token does not authenticate: %v", err)
	}
}

func TestSecretKeyRequiredOnMySQL(t *testing.T) {
	cfg := testConfig(t, "-database-url", storetest.MySQLURL(t), "-log-level", "error")
	if _, err := open(context.Background(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "KEFUHUB_SECRET_KEY") {
		t.Fatalf("err = %v, want a message naming KEFUHUB_SECRET_KEY", err)
	}
}

func TestSecretKeyFileBesideSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "-database-url", "sqlite://"+filepath.Join(dir, "k.db"), "-log-level", "error")
	a, err := open(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	fi, err := os.Stat(filepath.Join(dir, "k.db.key"))
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestGracefulShutdown cancels a serving kefuhub while a subscription is
// streaming: the stream completes, serveHTTP returns, and the port closes.
func TestGracefulShutdown(t *testing.T) {
	t.Setenv("KEFUHUB_BOOTSTRAP_TOKEN", "khb_shutdownshutdownshutdownshutdownshutdown")
	cfg := testConfig(t, "-database-url", storetest.SQLiteURL(t), "-log-level", "error")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := open(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := bootstrap(ctx, a, io.Discard); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serveHTTP(ctx, a, ln, api.New(a.hub, api.Options{Logger: a.log}), 5*time.Second) }()
	base := "http://" + ln.Addr().String()

	// Open a Server-Sent Events subscription.
	body, _ := json.Marshal(map[string]any{"query": "subscription { ticketUpdated { id } }"})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer khb_shutdownshutdownshutdownshutdownshutdown")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscription status %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return a.hub.Bus().Subscribers() == 1 })

	cancel()
	streamed := make(chan string, 1)
	go func() {
		rest, _ := io.ReadAll(resp.Body)
		streamed <- string(rest)
	}()
	select {
	case s := <-streamed:
		if !strings.Contains(s, "event: complete") {
			t.Errorf("subscription stream ended without completing: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription still open after shutdown")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serveHTTP: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("serveHTTP did not return")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func testConfig(t *testing.T, args ...string) config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	resolve := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return resolve()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDemo runs the demo briefly: simulated customers' messages arrive
// through the fake platforms and become conversations.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-addr", addr, "-every", "50ms", "-log-level", "error"}, &out, io.Discard)
	}()
	var token string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if token == "" {
			token = tokenRE.FindString(out.String())
		}
		if token != "" {
			body, _ := json.Marshal(map[string]any{"query": "{ conversations { totalCount nodes { channel { kind } } } }"})
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				var r struct {
					Data struct {
						Conversations struct {
							TotalCount int
							Nodes      []struct{ Channel struct{ Kind string } }
						}
					}
				}
				_ = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				kinds := map[string]bool{}
				for _, n := range r.Data.Conversations.Nodes {
					kinds[n.Channel.Kind] = true
				}
				if len(kinds) == 3 {
					break // conversations from WeCom, Taobao and the app
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conversations from all three demo channels in 20s; output: %s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop")
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
