package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/oa"
	"github.com/kefuhub/kefuhub/connectors/oa/oafake"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// BenchmarkWorkOrderDispatch measures the dispatcher against a healthy OA
// system with its default settings: deliveries per second (b.N tickets are
// created first, then the dispatcher starts and the clock runs until the
// last work order arrives), and the time from a ticket's creation to its
// arrival at the OA system (p50, p99) for 200 tickets created one every
// 10 ms while the dispatcher runs.
func BenchmarkWorkOrderDispatch(b *testing.B) {
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
			h, err := hub.New(hub.Config{Store: st, Box: box, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Connectors: connectors.NewRegistry().WithTargets(oa.Connector())})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			_, token, err := h.CreateTenant(ctx, "派单", "dispatch", "admin@dispatch.test", "")
			if err != nil {
				b.Fatal(err)
			}
			p, _ := h.Authenticate(ctx, token)
			actx := hub.WithPrincipal(ctx, p)
			sys := oafake.New("bench-oa-secret-0123456789")
			defer sys.Close()
			t, err := h.CreateTarget(actx, models.CreateTargetInput{Kind: models.TargetOAWebhook, Name: "OA",
				Settings: map[string]any{"url": sys.URL, "secret": "bench-oa-secret-0123456789"}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.CreateDispatchRule(actx, models.CreateDispatchRuleInput{Name: "all", TargetID: t.GlobalID(),
				Events: []models.TicketEvent{models.TicketCreated}}); err != nil {
				b.Fatal(err)
			}
			create := func(title string) time.Time {
				at := time.Now()
				if _, err := h.CreateTicket(actx, models.CreateTicketInput{Title: title}); err != nil {
					b.Fatal(err)
				}
				return at
			}
			for i := range b.N {
				create(fmt.Sprintf("积压工单 %d", i))
			}
			b.ResetTimer()
			start := time.Now()
			h.StartDispatcher(hub.DispatchConfig{})
			if _, err := sys.WaitOrders(ctx, b.N); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")

			created := map[string]time.Time{}
			for i := range 200 {
				title := fmt.Sprintf("实时工单 %d", i)
				created[title] = create(title)
				time.Sleep(10 * time.Millisecond)
			}
			orders, err := sys.WaitOrders(ctx, b.N+200)
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for _, o := range orders {
				ticket, _ := o.Document["ticket"].(map[string]any)
				title, _ := ticket["title"].(string)
				if at, ok := created[title]; ok {
					lat = append(lat, o.FirstAt.Sub(at))
				}
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
