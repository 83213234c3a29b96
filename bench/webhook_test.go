package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/app"
	"github.com/kefuhub/kefuhub/connectors/app/appfake"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// BenchmarkWebhookIngest drives the real webhook path over HTTP: 32
// concurrent app backends post signed events of 200 customers, about ten
// messages per conversation (signature check, decoding, the ingest
// transaction, subscription fan-out to a live subscriber). It
// reports accepted messages per second and the p50/p99 time to the
// acknowledgement; every acknowledged message is committed.
func BenchmarkWebhookIngest(b *testing.B) {
	for _, eng := range storetest.Engines() {
		b.Run(eng.Name, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, eng.URL(&keep{B: b}), store.Options{MaxOpenConns: 64})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			box, _ := secret.NewBox(make([]byte, secret.KeySize))
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := httptest.NewUnstartedServer(nil)
			h, err := hub.New(hub.Config{Store: st, Box: box, Logger: log, Connectors: connectors.NewRegistry(app.Connector()),
				PublicURL: "http://" + srv.Listener.Addr().String()})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			srv.Config.Handler = api.New(h, api.Options{Logger: log})
			srv.Start()
			defer srv.Close()
			_, token, err := h.CreateTenant(ctx, "压测", "load", "admin@load.test", "")
			if err != nil {
				b.Fatal(err)
			}
			p, _ := h.Authenticate(ctx, token)
			actx := hub.WithPrincipal(ctx, p)
			const secret = "bench-app-secret-0123456789"
			ch, err := h.CreateChannel(actx, models.CreateChannelInput{Kind: models.ChannelApp, Name: "App",
				Settings: map[string]any{"secret": secret, "replyUrl": "http://127.0.0.1:9/replies"}})
			if err != nil {
				b.Fatal(err)
			}
			webhook := h.WebhookURL(ch)
			subCtx, cancel := context.WithCancel(actx)
			defer cancel()
			sub, err := h.SubscribeMessages(subCtx, nil)
			if err != nil {
				b.Fatal(err)
			}
			var fanned atomic.Int64
			go func() {
				for range sub {
					fanned.Add(1)
				}
			}()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
			var seq atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			var failed atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					n := seq.Add(1)
					ev := appfake.Event{ID: fmt.Sprintf("evt-%d", n), Type: "message", Text: "请问什么时候发货？",
						User: appfake.User{ID: fmt.Sprintf("user-%d", n%200), Name: "顾客"}}
					t0 := time.Now()
					resp, _, err := appfake.Send(ctx, client, webhook, secret, ev)
					if err != nil || resp.StatusCode != http.StatusOK {
						failed.Add(1)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d webhooks failed", n)
			}
			var stored int64
			st.DB.Model(&models.Message{}).Count(&stored)
			if stored != int64(len(lat)) {
				b.Fatalf("%d acknowledged, %d stored", len(lat), stored)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "msgs/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
