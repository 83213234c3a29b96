package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wecom/wecomfake"
)

// TestWeComKFEndToEnd: the admin pastes the callback URL (WeCom checks it),
// a customer writes in 微信客服 → the encrypted callback is verified → the
// messages are fetched with sync_msg → they appear in GraphQL → the agent's
// reply goes out with send_msg; a forged callback stores nothing; replies
// outside the 48 h window fail with a clear reason.
func TestWeComKFEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const token, openKf = "wecomCallbackToken", "wkABCDEF123"
		aesKey := wecomfake.NewAESKey()
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id webhookUrl secretKeys } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "WECOM_KF", "name": "企业微信客服", "settings": map[string]any{
				"corpId": wecomCorpID, "secret": wecomSecret, "token": token, "encodingAESKey": aesKey, "openKfId": openKf}}})
		webhook := str(d, "createChannel", "channel", "webhookUrl")
		if keys := get(d, "createChannel", "channel", "secretKeys").([]any); len(keys) != 3 {
			t.Errorf("secretKeys = %v", keys)
		}
		check, err := e.wecom.VerifyURL(ctx, webhook, token, aesKey, wecomCorpID)
		if err != nil || !check.OK() {
			t.Fatalf("URL verification: %+v %v", check, err)
		}

		e.wecom.CustomerSays(openKf, "wmCustomer001", "你好，我的快递到哪了？")
		e.wecom.CustomerSays(openKf, "wmCustomer001", "单号 SF1234567890")
		res, err := e.wecom.Notify(ctx, webhook, token, aesKey, wecomCorpID, openKf)
		if err != nil || res.Status != http.StatusOK || strings.TrimSpace(res.Body) != "success" {
			t.Fatalf("callback: %+v %v", res, err)
		}
		// The sync runs after the acknowledgement.
		var conv string
		deadline := time.Now().Add(10 * time.Second)
		for {
			d = e.must(e.adminA, `{ conversations { nodes { id messages { nodes { text } } customer { identities { externalId } } } } }`, nil)
			if n, _ := get(d, "conversations", "nodes", 0, "messages", "nodes").([]any); len(n) == 2 {
				conv = str(d, "conversations", "nodes", 0, "id")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("messages not fetched after the callback: %v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if str(d, "conversations", "nodes", 0, "customer", "identities", 0, "externalId") != "wmCustomer001" {
			t.Errorf("identity: %v", d)
		}
		// A second callback for the same messages stores nothing new.
		if _, err := e.wecom.Notify(ctx, webhook, token, aesKey, wecomCorpID, openKf); err != nil {
			t.Fatal(err)
		}

		// A forged callback (wrong token) is refused and stores nothing.
		e.wecom.CustomerSays(openKf, "wmCustomer002", "伪造")
		forged, err := e.wecom.Notify(ctx, webhook, "not-the-token", aesKey, wecomCorpID, openKf)
		if err != nil || forged.Status != http.StatusUnauthorized {
			t.Fatalf("forged callback: %+v %v", forged, err)
		}

		reply := e.sendMessage(e.adminA, conv, "您的快递今天下午送达")
		deadline = time.Now().Add(10 * time.Second)
		for len(e.wecom.Sent()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("reply not sent with send_msg")
			}
			time.Sleep(20 * time.Millisecond)
		}
		sent := e.wecom.Sent()[0]
		if sent.ToUser != "wmCustomer001" || sent.OpenKfID != openKf || sent.Content != "您的快递今天下午送达" {
			t.Errorf("send_msg got %+v", sent)
		}
		waitDelivery(t, e, reply, "SENT")

		// Three days later the 48 h window is closed: a clear failure.
		e.wecom.SetClock(func() time.Time { return time.Now().Add(72 * time.Hour) })
		// (The hub's clock has not moved, so the platform is the one to refuse.)
		late := e.sendMessage(e.adminA, conv, "还在吗？")
		if got := waitDelivery(t, e, late, "SENT", "FAILED"); got != "FAILED" {
			t.Fatalf("a reply outside the 48 h window was %s", got)
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Message { deliveryError } } }`, map[string]any{"id": late})
		if reason := str(d, "node", "deliveryError"); !strings.Contains(reason, "48") {
			t.Errorf("the agent is not told why: %q", reason)
		}
	})
}

// waitDelivery waits until the message's delivery status is one of want and
// returns it.
func waitDelivery(t *testing.T, e *env, id string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Message { deliveryStatus deliveryError } } }`, map[string]any{"id": id})
		got := str(d, "node", "deliveryStatus")
		for _, w := range want {
			if got == w {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s is %s (%s), want %v", id, got, str(d, "node", "deliveryError"), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
