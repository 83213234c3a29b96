package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wechat/wechatfake"
)

// TestWeChatOAEndToEnd covers both modes of an Official Account: the URL
// check, pushed messages (plain and encrypted) landing in one conversation,
// a forged push refused, and the agent's reply through the customer-service
// message API, refused with a clear reason once the 48 h window is closed.
func TestWeChatOAEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, mode := range []struct {
			name   string
			aesKey string
		}{{"safe", wechatfake.NewAESKey()}, {"plain", ""}} {
			t.Run(mode.name, func(t *testing.T) {
				const token = "wechatToken"
				settings := map[string]any{"appId": wechatAppID, "appSecret": wechatSecret, "token": token}
				if mode.aesKey != "" {
					settings["encodingAESKey"] = mode.aesKey
				}
				d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id webhookUrl } userErrors { field message } } }`,
					map[string]any{"in": map[string]any{"kind": "WECHAT_OA", "name": "公众号-" + mode.name, "settings": settings}})
				webhook := str(d, "createChannel", "channel", "webhookUrl")
				if check, err := e.wechat.VerifyURL(ctx, webhook, token); err != nil || !check.OK() {
					t.Fatalf("URL check: %+v %v", check, err)
				}
				openID := "oUser-" + mode.name
				for _, xml := range [][]byte{e.wechat.UserEvent(openID, "subscribe", ""), e.wechat.UserSays(openID, "请问门店几点开门？")} {
					status, body, err := e.wechat.Push(ctx, webhook, token, mode.aesKey, wechatAppID, xml)
					if err != nil || status != http.StatusOK || strings.TrimSpace(body) != "success" {
						t.Fatalf("push: %d %q %v", status, body, err)
					}
				}
				// A push signed with the wrong token is refused.
				if status, _, _ := e.wechat.Push(ctx, webhook, "wrong", mode.aesKey, wechatAppID, e.wechat.UserSays(openID, "伪造")); status != http.StatusUnauthorized {
					t.Errorf("forged push answered %d", status)
				}
				d = e.must(e.adminA, `query($q: String) { conversations(filter: {search: $q}) { nodes { id messages { nodes { text contentType } } customer { identities { externalId } } } } }`,
					map[string]any{"q": "几点开门"})
				conv := get(d, "conversations", "nodes", 0)
				msgs, _ := get(conv, "messages", "nodes").([]any)
				if len(msgs) != 2 || str(msgs[1], "text") != "请问门店几点开门？" || str(conv, "customer", "identities", 0, "externalId") != openID {
					t.Fatalf("conversation: %v", conv)
				}
				convID := str(conv, "id")
				before := len(e.wechat.Sent())
				reply := e.sendMessage(e.adminA, convID, "您好，门店早上9点开门。")
				waitDelivery(t, e, reply, "SENT")
				sent := e.wechat.Sent()
				if len(sent) != before+1 || sent[len(sent)-1].ToUser != openID || sent[len(sent)-1].Content != "您好，门店早上9点开门。" {
					t.Errorf("custom/send got %+v", sent)
				}
			})
		}
		// Three days on, the platform refuses replies: the agent sees why.
		e.wechat.SetClock(func() time.Time { return time.Now().Add(72 * time.Hour) })
		d := e.must(e.adminA, `query($q: String) { conversations(filter: {search: $q}) { nodes { id } } }`, map[string]any{"q": "几点开门"})
		late := e.sendMessage(e.adminA, str(d, "conversations", "nodes", 0, "id"), "还有问题吗？")
		if got := waitDelivery(t, e, late, "SENT", "FAILED"); got != "FAILED" {
			t.Fatalf("a reply outside the window was %s", got)
		}
	})
}
