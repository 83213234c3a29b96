// Package bench measures kefuhub on a seeded tenant: the agent inbox, a
// ticket search and sendMessage, in-process and over real HTTP, on SQLite
// and MariaDB. Run with:
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// KEFUHUB_BENCH_SCALE sets the tenant size: "full" (10k customers, 50k
// conversations, 500k messages; the default), or "small" (1k/5k/50k).
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/seed"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const inboxQuery = `query Inbox($first: Int!) {
  conversations(first: $first, filter: {status: [OPEN, PENDING]}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id number subject status priority lastActivityAt waitingSince tags
      customer { id name phone }
      assignee { id name }
      team { id name }
      channel { id kind name }
      lastMessage { id text direction createdAt }
      openTicketCount
    }
  }
}`

const ticketSearchQuery = `query Search($q: String!) {
  tickets(first: 20, filter: {search: $q, status: [NEW, OPEN, PENDING]}) {
    totalCount
    nodes { id reference title status priority customer { name } assignee { name } }
  }
}`

const sendMessageMutation = `mutation Send($in: SendMessageInput!) {
  sendMessage(input: $in) { message { id deliveryStatus } userErrors { code } }
}`

// fixture is a seeded kefuhub on one engine.
type fixture struct {
	hub *hub.Hub
	// handler answers every query afresh; cached has the response cache on.
	handler, cached http.Handler
	token           string
	// agentTokens act as 32 different agents, one per load-test client.
	agentTokens []string
	convIDs     []string
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

func scale() seed.Options {
	if os.Getenv("KEFUHUB_BENCH_SCALE") == "small" {
		return seed.Options{Customers: 1000, Conversations: 5000, MessagesPerConversation: 10, Tickets: 500, Seed: 1}
	}
	return seed.Options{Customers: 10000, Conversations: 50000, MessagesPerConversation: 10, Tickets: 5000, Seed: 1}
}

// seeded returns the engine's seeded fixture, building it on first use (the
// seed is shared by every benchmark of the run).
func seeded(b *testing.B, eng storetest.Engine) *fixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := fixtures[eng.Name]; ok {
		return f
	}
	ctx := context.Background()
	// The database outlives this benchmark: later benchmarks reuse it.
	url := eng.URL(&keep{B: b})
	st, err := store.Open(ctx, url, store.Options{MaxOpenConns: 64})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	k, _ := secret.NewKey()
	raw, _ := secret.ParseKey(k)
	box, _ := secret.NewBox(raw)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New(hub.Config{Store: st, Box: box, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	tenant, token, err := h.CreateTenant(ctx, "基准测试", "bench", "admin@bench.test", "")
	if err != nil {
		b.Fatal(err)
	}
	opt := scale()
	start := time.Now()
	stats, err := seed.Run(ctx, st.DB, tenant.ID, opt)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "bench: seeded %s with %d customers, %d conversations, %d messages, %d tickets in %s\n",
		eng.Name, stats.Customers, stats.Conversations, stats.Messages, stats.Tickets, time.Since(start).Round(time.Millisecond))
	f := &fixture{hub: h, token: token,
		handler: api.New(h, api.Options{Logger: log, ResponseCache: -1}),
		cached:  api.New(h, api.Options{Logger: log}),
	}
	p, err := h.Authenticate(ctx, token)
	if err != nil {
		b.Fatal(err)
	}
	actx := hub.WithPrincipal(ctx, p)
	for i := range 32 {
		u, err := h.CreateUser(actx, models.CreateUserInput{Name: fmt.Sprintf("坐席%02d", i), Email: fmt.Sprintf("load%02d@bench.test", i), Role: models.RoleAgent})
		if err != nil {
			b.Fatal(err)
		}
		uid := u.GlobalID()
		_, secret, err := h.CreateAPIToken(actx, models.CreateAPITokenInput{Name: "load", UserID: &uid})
		if err != nil {
			b.Fatal(err)
		}
		f.agentTokens = append(f.agentTokens, secret)
	}
	var convs []models.Conversation
	if err := st.DB.Where("tenant_id = ?", tenant.ID).Order("id").Limit(1000).Find(&convs).Error; err != nil {
		b.Fatal(err)
	}
	for _, c := range convs {
		f.convIDs = append(f.convIDs, c.GlobalID())
	}
	fixtures[eng.Name] = f
	return f
}

// keep lets a database made for one benchmark outlive it: cleanups are
// dropped (the test binary's exit removes the temp dirs and server).
type keep struct{ *testing.B }

func (k *keep) Cleanup(func()) {}

func (k *keep) TempDir() string {
	dir, err := os.MkdirTemp("", "kefuhub-bench-")
	if err != nil {
		k.Fatal(err)
	}
	return dir
}

func body(query string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return b
}

// do runs one GraphQL request through the handler in-process and returns
// the statements it ran.
func (f *fixture) do(b *testing.B, payload []byte) int64 {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.token)
	ctx, counter := store.CountStatements(req.Context())
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req.WithContext(ctx))
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		b.Fatalf("request failed: %d %s", rec.Code, rec.Body.Bytes())
	}
	return counter.Count()
}

func forEngines(b *testing.B, fn func(b *testing.B, f *fixture)) {
	for _, eng := range storetest.Engines() {
		b.Run(eng.Name, func(b *testing.B) { fn(b, seeded(b, eng)) })
	}
}

// BenchmarkInbox is the agent inbox: 50 open conversations with customer,
// assignee, team, channel, last message and open ticket count, with and
// without the total count of open conversations (a COUNT over the tenant).
func BenchmarkInbox(b *testing.B) {
	forEngines(b, func(b *testing.B, f *fixture) {
		for _, v := range []struct{ name, query string }{
			{"page", strings.Replace(inboxQuery, "    totalCount\n", "", 1)},
			{"page+total", inboxQuery},
		} {
			b.Run(v.name, func(b *testing.B) {
				payload := body(v.query, map[string]any{"first": 50})
				f.do(b, payload)
				var stmts int64
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					stmts += f.do(b, payload)
				}
				b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
			})
		}
	})
}

// BenchmarkTicketSearch searches open tickets by text.
func BenchmarkTicketSearch(b *testing.B) {
	forEngines(b, func(b *testing.B, f *fixture) {
		payload := body(ticketSearchQuery, map[string]any{"q": "退款"})
		f.do(b, payload)
		var stmts int64
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			stmts += f.do(b, payload)
		}
		b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
	})
}

// BenchmarkSendMessage stores an agent reply (one transaction: message,
// conversation update) and fans it out to subscribers.
func BenchmarkSendMessage(b *testing.B) {
	forEngines(b, func(b *testing.B, f *fixture) {
		var stmts int64
		i := 0
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			conv := f.convIDs[i%len(f.convIDs)]
			i++
			stmts += f.do(b, body(sendMessageMutation, map[string]any{"in": map[string]any{"conversationId": conv, "text": "您好，已为您登记，请耐心等待。"}}))
		}
		b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
	})
}

// BenchmarkInboxHTTP is a load test over real HTTP: 32 concurrent clients,
// each an agent with its own token (parallelism 16 on the 2-core build
// machine), request the 50-row inbox; it reports requests per second, with
// the response cache off ("uncached": every request runs its SQL) and on
// ("cached": no writes happen during the run, so after each agent's first
// request the answers come from memory).
func BenchmarkInboxHTTP(b *testing.B) {
	forEngines(b, func(b *testing.B, f *fixture) {
		for _, mode := range []struct {
			name    string
			handler http.Handler
		}{{"uncached", f.handler}, {"cached", f.cached}} {
			b.Run(mode.name, func(b *testing.B) { loadTest(b, f, mode.handler) })
		}
	})
}

func loadTest(b *testing.B, f *fixture, handler http.Handler) {
	srv := httptest.NewServer(handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	payload := body(inboxQuery, map[string]any{"first": 50})
	var failed, next atomic.Int64
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		token := f.agentTokens[int(next.Add(1)-1)%len(f.agentTokens)]
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
}
