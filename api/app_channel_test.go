package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/app/appfake"
)

const appSecret = "app-channel-secret-0123456789"

// createAppChannel connects a fake app backend and returns the channel's
// ID and webhook URL.
func (e *env) createAppChannel(t *testing.T, fake *appfake.Server) (id, webhook string) {
	t.Helper()
	d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) {
		channel { id webhookUrl setup secretKeys settings } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"kind": "APP", "name": "官方App", "settings": map[string]any{"secret": appSecret, "replyUrl": fake.ReplyURL()}}})
	ch := get(d, "createChannel", "channel")
	id, webhook = str(ch, "id"), str(ch, "webhookUrl")
	if webhook != e.server.URL+"/webhooks/"+id {
		t.Fatalf("webhookUrl = %q", webhook)
	}
	if !strings.Contains(str(ch, "setup"), webhook) {
		t.Errorf("setup does not name the webhook URL: %q", str(ch, "setup"))
	}
	if keys := get(ch, "secretKeys").([]any); len(keys) != 1 || keys[0] != "secret" {
		t.Errorf("secretKeys = %v", keys)
	}
	if strings.Contains(string(mustJSON(ch)), appSecret) {
		t.Fatal("the secret is returned")
	}
	return id, webhook
}

// TestAppChannelEndToEnd: a customer writes in the app → the message is in
// GraphQL and on a subscription → an agent replies → the app backend
// receives the signed reply, and the message turns SENT.
func TestAppChannelEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		fake := appfake.New(appSecret)
		defer fake.Close()
		settleSubscribers(t, e)
		_, webhook := e.createAppChannel(t, fake)

		ws := openWS(t, e, "graphql-transport-ws", e.adminA)
		defer ws.close()
		added := ws.subscribe(t, `subscription { messageAdded { id text direction conversation { id } senderCustomer { name phone } } }`, nil)
		updated := ws.subscribe(t, `subscription { messageUpdated { id deliveryStatus deliveryError } }`, nil)
		waitSubscribers(t, e, 2)

		in := appfake.Event{ID: "evt-1", Type: "message", Text: "我的订单还没到",
			User: appfake.User{ID: "u-42", Name: "张三", Phone: "13800138000"}}
		resp, body, err := appfake.Send(ctx, nil, webhook, appSecret, in)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook: %v %v %s", err, resp, body)
		}
		got := added.next(t)
		msg := get(got, "messageAdded")
		if str(msg, "text") != "我的订单还没到" || str(msg, "direction") != "INBOUND" || str(msg, "senderCustomer", "name") != "张三" {
			t.Fatalf("subscription got %v", msg)
		}
		convID := str(msg, "conversation", "id")

		// Redelivery changes nothing.
		if resp, _, err := appfake.Send(ctx, nil, webhook, appSecret, in); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("redelivery: %v %v", err, resp)
		}
		d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { status waitingSince
			messages { totalCount nodes { text externalId } } customer { name phone identities { externalId channel { kind } } } } } }`,
			map[string]any{"id": convID})
		conv := get(d, "node")
		if get(conv, "messages", "totalCount") != float64(1) || str(conv, "messages", "nodes", 0, "externalId") != "evt-1" {
			t.Fatalf("after redelivery: %v", get(conv, "messages"))
		}
		if get(conv, "waitingSince") == nil || str(conv, "status") != "OPEN" {
			t.Errorf("conversation not waiting for an answer: %v", conv)
		}
		if str(conv, "customer", "identities", 0, "externalId") != "u-42" || str(conv, "customer", "phone") != "13800138000" {
			t.Errorf("identity: %v", get(conv, "customer"))
		}

		// The agent replies; the backend receives it, signed, once.
		reply := e.sendMessage(e.adminA, convID, "已为您查询，包裹明天送达")
		replies, err := fake.WaitReplies(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if replies[0].UserID != "u-42" || replies[0].Text != "已为您查询，包裹明天送达" || !strings.HasPrefix(replies[0].DeliveryID, "msg-") {
			t.Errorf("backend got %+v", replies[0])
		}
		up := get(updated.next(t), "messageUpdated")
		if str(up, "id") != reply || str(up, "deliveryStatus") != "SENT" {
			t.Errorf("messageUpdated: %v", up)
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Message { deliveryStatus externalId } } }`, map[string]any{"id": reply})
		if str(d, "node", "deliveryStatus") != "SENT" || str(d, "node", "externalId") != "am-1" {
			t.Errorf("reply after delivery: %v", get(d, "node"))
		}

		// A backend that fails transiently gets the same delivery again, and
		// keeps only one copy; one that refuses for good fails the message
		// with the reason.
		fake.FailNext(2, http.StatusServiceUnavailable, 0)
		second := e.sendMessage(e.adminA, convID, "还有其他问题吗？")
		if _, err := fake.WaitReplies(ctx, 2); err != nil {
			t.Fatal(err)
		}
		up = get(updated.next(t), "messageUpdated")
		if str(up, "id") != second || str(up, "deliveryStatus") != "SENT" {
			t.Errorf("retried reply: %v", up)
		}
		fake.FailNext(1, http.StatusNotFound, 0)
		third := e.sendMessage(e.adminA, convID, "再见")
		up = get(updated.next(t), "messageUpdated")
		if str(up, "id") != third || str(up, "deliveryStatus") != "FAILED" || !strings.Contains(str(up, "deliveryError"), "404") {
			t.Errorf("refused reply: %v", up)
		}
		for id, n := range fake.Deliveries() {
			if n != 1 {
				t.Errorf("delivery %s accepted %d times", id, n)
			}
		}
	})
}

// TestAppWebhookBadInput: wrong signatures, stale timestamps, malformed
// bodies, oversize bodies and unknown or disabled channels are refused
// with the right status, and store nothing.
func TestAppWebhookBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fake := appfake.New(appSecret)
		defer fake.Close()
		id, webhook := e.createAppChannel(t, fake)
		good := []byte(`{"id":"e1","type":"message","user":{"id":"u1"},"text":"hi"}`)
		cases := []struct {
			name   string
			url    string
			secret string
			at     time.Time
			body   []byte
			want   int
		}{
			{"wrong secret", webhook, "not-the-secret-at-all", time.Now(), good, http.StatusUnauthorized},
			{"stale timestamp", webhook, appSecret, time.Now().Add(-10 * time.Minute), good, http.StatusUnauthorized},
			{"not json", webhook, appSecret, time.Now(), []byte(`{"id":`), http.StatusBadRequest},
			{"no sender", webhook, appSecret, time.Now(), []byte(`{"id":"e2","type":"message","text":"x"}`), http.StatusBadRequest},
			{"empty message", webhook, appSecret, time.Now(), []byte(`{"id":"e3","type":"message","user":{"id":"u1"}}`), http.StatusBadRequest},
			{"unknown type", webhook, appSecret, time.Now(), []byte(`{"id":"e4","type":"poke","user":{"id":"u1"}}`), http.StatusBadRequest},
			{"oversize", webhook, appSecret, time.Now(), []byte(`{"id":"e5","type":"message","user":{"id":"u1"},"text":"` + strings.Repeat("长", 400000) + `"}`), http.StatusRequestEntityTooLarge},
			{"unknown channel", e.server.URL + "/webhooks/Q2hhbm5lbDo5OTk5", appSecret, time.Now(), good, http.StatusNotFound},
			{"not a channel id", e.server.URL + "/webhooks/garbage", appSecret, time.Now(), good, http.StatusNotFound},
		}
		for _, c := range cases {
			resp, body, err := appfake.SendRaw(ctx, nil, c.url, c.secret, c.at, c.body)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if resp.StatusCode != c.want {
				t.Errorf("%s: status %d, want %d (%s)", c.name, resp.StatusCode, c.want, body)
			}
			if resp.StatusCode >= 400 && resp.StatusCode < 500 && len(strings.TrimSpace(string(body))) == 0 {
				t.Errorf("%s: no reason given", c.name)
			}
		}
		d := e.must(e.adminA, `query($id: ID!) { conversations { totalCount } customers { totalCount } node(id: $id) { ... on Channel { rejectedWebhooks } } }`, map[string]any{"id": id})
		if get(d, "conversations", "totalCount") != float64(0) || get(d, "customers", "totalCount") != float64(0) {
			t.Errorf("refused webhooks stored something: %v", d)
		}
		if get(d, "node", "rejectedWebhooks") != float64(2) {
			t.Errorf("rejectedWebhooks = %v, want 2", get(d, "node", "rejectedWebhooks"))
		}
		// A disabled channel's webhook is gone; enabling it brings it back.
		e.must(e.adminA, `mutation($id: ID!) { disableChannel(input: {id: $id}) { channel { enabled } userErrors { message } } }`, map[string]any{"id": id})
		if resp, _, _ := appfake.SendRaw(ctx, nil, webhook, appSecret, time.Now(), good); resp.StatusCode != http.StatusNotFound {
			t.Errorf("disabled channel answered %d, want 404", resp.StatusCode)
		}
		e.must(e.adminA, `mutation($id: ID!) { updateChannel(input: {id: $id, enabled: true}) { channel { enabled } userErrors { message } } }`, map[string]any{"id": id})
		if resp, _, _ := appfake.SendRaw(ctx, nil, webhook, appSecret, time.Now(), good); resp.StatusCode != http.StatusOK {
			t.Errorf("re-enabled channel answered %d, want 200", resp.StatusCode)
		}
	})
}

// TestAppChannelSettings: settings are checked against the kind's spec,
// and testChannel reaches the backend.
func TestAppChannelSettings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		fake := appfake.New(appSecret)
		defer fake.Close()
		for _, c := range []struct {
			settings map[string]any
			field    string
		}{
			{map[string]any{"secret": appSecret}, "replyUrl"},
			{map[string]any{"replyUrl": fake.ReplyURL()}, "secret"},
			{map[string]any{"secret": "short", "replyUrl": fake.ReplyURL()}, "secret"},
			{map[string]any{"secret": appSecret, "replyUrl": "ftp://x"}, "replyUrl"},
			{map[string]any{"secret": appSecret, "replyUrl": fake.ReplyURL(), "colour": "red"}, "colour"},
		} {
			r := e.do(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id } userErrors { field code message } } }`,
				map[string]any{"in": map[string]any{"kind": "APP", "name": "x", "settings": c.settings}})
			ue := get(r.Data, "createChannel", "userErrors", 0)
			if str(ue, "code") != "BAD_USER_INPUT" || str(ue, "field", 2) != c.field {
				t.Errorf("settings %v: %s", c.settings, r.Raw)
			}
		}
		id, _ := e.createAppChannel(t, fake)
		d := e.must(e.adminA, `mutation($id: ID!) { testChannel(input: {id: $id}) { ok error userErrors { message } } }`, map[string]any{"id": id})
		if get(d, "testChannel", "ok") != true {
			t.Errorf("testChannel against a live backend: %v", d)
		}
		fake.Close()
		d = e.must(e.adminA, `mutation($id: ID!) { testChannel(input: {id: $id}) { ok error userErrors { message } } }`, map[string]any{"id": id})
		if get(d, "testChannel", "ok") != false || str(d, "testChannel", "error") == "" {
			t.Errorf("testChannel against a dead backend: %v", d)
		}
	})
}

// TestCustomerToldWhenTicketResolved: resolving a work order tells the
// customer on the channel they wrote from, through the dispatcher.
func TestCustomerToldWhenTicketResolved(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		fake := appfake.New(appSecret)
		defer fake.Close()
		_, webhook := e.createAppChannel(t, fake)
		if resp, _, err := appfake.Send(ctx, nil, webhook, appSecret, appfake.Event{ID: "r-1", Type: "message", Text: "包裹破损",
			User: appfake.User{ID: "u-9", Name: "赵敏"}}); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook: %v", err)
		}
		d := e.must(e.adminA, `{ conversations { nodes { id } } }`, nil)
		conv := str(d, "conversations", "nodes", 0, "id")
		ticket := e.createTicket(e.adminA, "包裹破损补发", map[string]any{"conversationId": conv})
		e.must(e.adminA, `mutation($id: ID!) { transitionTicket(input: {id: $id, status: RESOLVED, comment: "已补发新的商品"}) { userErrors { message } } }`,
			map[string]any{"id": ticket})
		replies, err := fake.WaitReplies(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(replies[0].Text, "T-1001") || !strings.Contains(replies[0].Text, "已补发新的商品") || replies[0].UserID != "u-9" {
			t.Errorf("customer was told: %+v", replies[0])
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { lastMessage { senderType direction } } } }`, map[string]any{"id": conv})
		if str(d, "node", "lastMessage", "senderType") != "SYSTEM" {
			t.Errorf("notice: %v", d)
		}

		// The channel's own wording, once an admin sets it; a template that
		// cannot run is refused and changes nothing.
		d = e.must(e.adminA, `{ channels { nodes { id } } }`, nil)
		channel := str(d, "channels", "nodes", 0, "id")
		for _, bad := range []string{"{{.Reference", "{{.Nope}}", "{{/* nothing */}}"} {
			r := e.do(e.adminA, `mutation($in: UpdateChannelInput!) { updateChannel(input: $in) { userErrors { field code } } }`,
				map[string]any{"in": map[string]any{"id": channel, "resolvedNotice": bad}})
			if ue := get(r.Data, "updateChannel", "userErrors", 0); str(ue, "code") != "BAD_USER_INPUT" || str(ue, "field", 1) != "resolvedNotice" {
				t.Errorf("resolvedNotice %q: %s", bad, r.Raw)
			}
		}
		const notice = "{{.CustomerName}}，{{.Reference}} 已办结：{{.Comment}}"
		d = e.must(e.adminA, `mutation($in: UpdateChannelInput!) { updateChannel(input: $in) { channel { resolvedNotice } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"id": channel, "resolvedNotice": notice}})
		if got := str(d, "updateChannel", "channel", "resolvedNotice"); got != notice {
			t.Fatalf("resolvedNotice saved as %q: %v", got, d)
		}
		e.must(e.adminA, `mutation($id: ID!) { transitionTicket(input: {id: $id, status: OPEN}) { userErrors { message } } }`, map[string]any{"id": ticket})
		e.must(e.adminA, `mutation($id: ID!) { transitionTicket(input: {id: $id, status: RESOLVED, comment: "已退款"}) { userErrors { message } } }`,
			map[string]any{"id": ticket})
		replies, err = fake.WaitReplies(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := replies[1].Text; got != "赵敏，T-1001 已办结：已退款" {
			t.Errorf("customer was told %q with the channel's template", got)
		}
	})
}
