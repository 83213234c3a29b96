package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// feed is a platform whose events are fetched page by page: event i has id
// "m<i>", the cursor is the next index.
type feed struct {
	mu     sync.Mutex
	events int
	page   int
	down   bool
	calls  int
}

func (f *feed) Sync(_ context.Context, cursor string, _ connectors.SyncHint) (*connectors.SyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, errors.New("platform down")
	}
	start, _ := strconv.Atoi(cursor)
	end := min(start+f.page, f.events)
	res := &connectors.SyncResult{Cursor: strconv.Itoa(end), More: end < f.events}
	for i := start; i < end; i++ {
		res.Events = append(res.Events, connectors.InboundEvent{ExternalID: fmt.Sprintf("m%d", i), Kind: connectors.KindMessage,
			Sender: connectors.Sender{ExternalID: fmt.Sprintf("buyer%d", i%3)}, Text: fmt.Sprintf("消息 %d", i)})
	}
	return res, nil
}

func (f *feed) Send(context.Context, connectors.OutboundMessage) (connectors.SendResult, error) {
	return connectors.SendResult{}, &connectors.PermanentError{Reason: "no replies"}
}
func (f *feed) Test(context.Context) error { return nil }

func feedHub(t *testing.T, url string, f *feed) (*hub.Hub, *models.Channel) {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	reg := connectors.NewRegistry(connectors.Connector{
		Spec: connectors.Spec{Kind: models.ChannelTaobao},
		New:  func(connectors.Config) (connectors.Channel, error) { return f, nil },
	})
	h, err := hub.New(hub.Config{Store: st, Box: box, Connectors: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); st.Close() })
	tenant, token, err := h.CreateTenant(context.Background(), "店", "shop", "a@shop.test", "")
	if err != nil {
		t.Fatal(err)
	}
	_ = tenant
	p, _ := h.Authenticate(context.Background(), token)
	ch, err := h.CreateChannel(hub.WithPrincipal(context.Background(), p), models.CreateChannelInput{Kind: models.ChannelTaobao, Name: "淘宝"})
	if err != nil {
		t.Fatal(err)
	}
	return h, ch
}

func countMessages(t *testing.T, h *hub.Hub) int64 {
	t.Helper()
	var n int64
	if err := h.Store().DB.Model(&models.Message{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSyncChannel: pages are fetched until the platform has no more, the
// cursor moves with what was stored, a platform outage moves nothing, and
// concurrent syncs store each event once.
func TestSyncChannel(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			f := &feed{events: 25, page: 10}
			h, ch := feedHub(t, eng.URL(t), f)
			ctx := context.Background()
			n, err := h.SyncChannel(ctx, ch, connectors.SyncHint{Key: "default"})
			if err != nil || n != 25 {
				t.Fatalf("first sync stored %d, err %v; want 25", n, err)
			}
			if got := countMessages(t, h); got != 25 {
				t.Fatalf("messages = %d, want 25", got)
			}
			var cur models.ChannelCursor
			if err := h.Store().DB.Take(&cur).Error; err != nil || cur.Checkpoint != "25" || cur.Stream != "default" {
				t.Fatalf("cursor %+v, %v", cur, err)
			}

			// Outage: an error, and the cursor stays.
			f.mu.Lock()
			f.down, f.events = true, 30
			f.mu.Unlock()
			if _, err := h.SyncChannel(ctx, ch, connectors.SyncHint{Key: "default"}); err == nil {
				t.Fatal("sync against a platform that is down succeeded")
			}
			h.Store().DB.Take(&cur)
			if cur.Checkpoint != "25" {
				t.Fatalf("cursor moved to %q during an outage", cur.Checkpoint)
			}

			// Back up: the 5 new events, each once, even with syncs racing.
			f.mu.Lock()
			f.down = false
			f.mu.Unlock()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if _, err := h.SyncChannel(ctx, ch, connectors.SyncHint{Key: "default"}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := countMessages(t, h); got != 30 {
				t.Fatalf("messages = %d after recovery, want 30", got)
			}
			h.Store().DB.Take(&cur)
			if cur.Checkpoint != "30" {
				t.Fatalf("cursor %q, want 30", cur.Checkpoint)
			}
			// Each buyer is one customer with one open conversation.
			var convs int64
			h.Store().DB.Model(&models.Conversation{}).Count(&convs)
			if convs != 3 {
				t.Errorf("conversations = %d, want 3 (one per buyer)", convs)
			}
		})
	}
}

// DecodeRaw reads a stored event: the raw payload is the sender's id.
func (f *feed) DecodeRaw(raw []byte) ([]connectors.InboundEvent, error) {
	return []connectors.InboundEvent{{ExternalID: "replayed-1", Kind: connectors.KindMessage,
		Sender: connectors.Sender{ExternalID: string(raw)}, Text: "重放", Raw: raw}}, nil
}

// TestFailedEventsAreKeptAndReplayed: an event that cannot be processed is
// kept as FAILED (nothing accepted is lost) and an admin's replay stores it.
func TestFailedEventsAreKeptAndReplayed(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			f := &feed{page: 10}
			h, ch := feedHub(t, eng.URL(t), f)
			ctx := context.Background()
			// No sender id: the hub cannot file it under a customer.
			bad := []connectors.InboundEvent{{ExternalID: "replayed-1", Kind: connectors.KindMessage, Text: "?", Raw: []byte("buyer-9")}}
			_, err := h.Ingest(ctx, ch, bad)
			if err == nil {
				t.Fatal("an event without a sender was ingested")
			}
			if err := h.RecordFailed(ctx, ch, bad, err); err != nil {
				t.Fatal(err)
			}
			var raw models.RawEvent
			if err := h.Store().DB.Where("status = ?", models.RawFailed).Take(&raw).Error; err != nil {
				t.Fatalf("failed event not kept: %v", err)
			}
			if raw.Error == "" || string(raw.Payload) != "buyer-9" {
				t.Errorf("kept event: %+v", raw)
			}
			if n := countMessages(t, h); n != 0 {
				t.Fatalf("a failed event stored %d messages", n)
			}
			admin := hub.WithPrincipal(ctx, hub.System(ch.TenantID))
			got, msg, err := h.ReplayRawEvent(admin, raw.GlobalID())
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != models.RawStored || msg == nil || msg.Text != "重放" || got.MessageID == nil || *got.MessageID != msg.ID {
				t.Fatalf("replay: %+v, message %+v", got, msg)
			}
			// Another tenant's admin cannot see or replay it.
			other := hub.WithPrincipal(ctx, hub.System(ch.TenantID+1000))
			if _, _, err := h.ReplayRawEvent(other, raw.GlobalID()); hub.CodeOf(err) != hub.CodeNotFound {
				t.Errorf("another tenant replayed the event: %v", err)
			}
		})
	}
}

// TestUnionIDLinksAcrossChannels: the same WeChat unionid on two channels
// is one customer, unless another verified key points elsewhere.
func TestUnionIDLinksAcrossChannels(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			h, oa := feedHub(t, eng.URL(t), &feed{})
			ctx := hub.WithPrincipal(context.Background(), hub.System(oa.TenantID))
			kf, err := h.CreateChannel(ctx, models.CreateChannelInput{Kind: models.ChannelWeb, Name: "客服"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := h.CreateCustomer(ctx, models.CreateCustomerInput{Name: "别人", Email: ptr("other@example.com")})
			if err != nil {
				t.Fatal(err)
			}
			msg := func(ch *models.Channel, id string, s connectors.Sender) *models.Message {
				t.Helper()
				res, err := h.Ingest(context.Background(), ch, []connectors.InboundEvent{{ExternalID: id, Kind: connectors.KindMessage, Sender: s, Text: "你好"}})
				if err != nil || len(res.Messages) != 1 {
					t.Fatalf("ingest %s: %v", id, err)
				}
				return res.Messages[0]
			}
			first := msg(oa, "oa-1", connectors.Sender{ExternalID: "openid-1", UnionID: "union-U"})
			second := msg(kf, "kf-1", connectors.Sender{ExternalID: "wm-1", UnionID: "union-U"})
			if *first.SenderCustomerID != *second.SenderCustomerID {
				t.Fatalf("the same unionid became two customers (%d, %d)", *first.SenderCustomerID, *second.SenderCustomerID)
			}
			var ev models.AuditEvent
			if err := h.Store().DB.Where("action = ?", "identity.link").Take(&ev).Error; err != nil || ev.After["reason"] != "linked to the existing customer by same WeChat unionid" {
				t.Errorf("link not explained: %+v %v", ev.After, err)
			}
			// The unionid says one customer, the email another: no link.
			third := msg(kf, "kf-2", connectors.Sender{ExternalID: "wm-2", UnionID: "union-U", Email: "other@example.com"})
			if *third.SenderCustomerID == *first.SenderCustomerID || *third.SenderCustomerID == other.ID {
				t.Errorf("conflicting keys linked the identity")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
