package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func newHub(t *testing.T, url string, key []byte) *hub.Hub {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, _ := secret.NewBox(key)
	h, err := hub.New(hub.Config{Store: st, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); st.Close() })
	return h
}

// TestRelayAcrossReplicas: two replicas share one MariaDB; a message sent
// through one reaches a subscriber of the other, scoped to its tenant.
func TestRelayAcrossReplicas(t *testing.T) {
	url := storetest.MySQLURL(t)
	key := make([]byte, secret.KeySize)
	a, b := newHub(t, url, key), newHub(t, url, key)
	ctx := context.Background()
	tenant, token, err := a.CreateTenant(ctx, "甲", "relay-a", "admin@relay.test", "")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := a.CreateTenant(ctx, "乙", "relay-b", "admin@relay-b.test", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	actx := hub.WithPrincipal(ctx, p)
	sctx, cancel := context.WithTimeout(actx, 10*time.Second)
	defer cancel()
	onB, err := b.SubscribeMessages(sctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherEvents, unsubscribe := b.Bus().Subscribe(other.ID)
	defer unsubscribe()

	cust, _ := a.CreateCustomer(actx, models.CreateCustomerInput{Name: "客户"})
	ch, _ := a.CreateChannel(actx, models.CreateChannelInput{Kind: models.ChannelWeb, Name: "官网"})
	conv, err := a.StartConversation(actx, models.StartConversationInput{CustomerID: cust.GlobalID(), ChannelID: ch.GlobalID()})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := a.SendMessage(actx, models.SendMessageInput{ConversationID: conv.GlobalID(), Text: "跨副本消息"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-onB:
		if m == nil || m.ID != sent.ID || m.Text != "跨副本消息" || m.TenantID != tenant.ID {
			t.Fatalf("replica B got %+v, want message %d", m, sent.ID)
		}
	case <-sctx.Done():
		t.Fatal("replica B's subscriber never saw the message sent through replica A")
	}
	select {
	case e := <-otherEvents:
		t.Fatalf("another tenant's subscriber got %+v", e)
	default:
	}
}

// TestDataVersionFollowsRemoteWrites: a write on one replica moves the
// tenant's data version on the other (so cached responses there expire),
// even a write that has no event for subscribers.
func TestDataVersionFollowsRemoteWrites(t *testing.T) {
	url := storetest.MySQLURL(t)
	key := make([]byte, secret.KeySize)
	a, b := newHub(t, url, key), newHub(t, url, key)
	ctx := context.Background()
	tenant, token, err := a.CreateTenant(ctx, "甲", "version-a", "admin@version.test", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	before := b.DataVersion(tenant.ID)
	localBefore := a.DataVersion(tenant.ID)
	if _, err := a.CreateCustomer(hub.WithPrincipal(ctx, p), models.CreateCustomerInput{Name: "新客户"}); err != nil {
		t.Fatal(err)
	}
	if a.DataVersion(tenant.ID) == localBefore {
		t.Fatal("the local data version did not move on commit")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.DataVersion(tenant.ID) == before {
		if time.Now().After(deadline) {
			t.Fatal("the other replica's data version did not move within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
