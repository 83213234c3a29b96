package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDingTalkBot: a staff member @mentions the kefuhub bot in a DingTalk
// group; the signed message is verified, the command runs as their kefuhub
// user, and the answer comes back on the session; forged messages and
// strangers change nothing.
func TestDingTalkBot(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { webhookUrl setup } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"kind": "DINGTALK_BOT", "name": "kefuhub 机器人", "settings": map[string]any{"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret}}})
		webhook := str(d, "createChannel", "channel", "webhookUrl")
		e.must(e.adminA, `mutation { createUser(input: {name: "小李", email: "li@a.test", role: AGENT, dingtalkUserId: "staff-li"}) { userErrors { message } } }`, nil)
		e.createTicket(e.adminA, "发票重开", map[string]any{"category": "发票"})

		say := func(secret, staff, text string) string {
			t.Helper()
			before := len(e.dingtalk.Replies())
			status, body, err := e.dingtalk.StaffSays(ctx, webhook, secret, staff, "同事", text)
			if err != nil || status != http.StatusOK {
				t.Fatalf("%q: %d %s %v", text, status, body, err)
			}
			replies, err := e.dingtalk.WaitReplies(ctx, before+1)
			if err != nil {
				t.Fatal(err)
			}
			return replies[len(replies)-1].Text
		}
		if got := say(dingtalkAppSecret, "staff-li", "接单 T-1001"); !strings.Contains(got, "已接单") {
			t.Errorf("接单: %q", got)
		}
		if got := say(dingtalkAppSecret, "staff-li", "我的工单"); !strings.Contains(got, "T-1001 发票重开") {
			t.Errorf("我的工单: %q", got)
		}
		if got := say(dingtalkAppSecret, "stranger", "完成 T-1001"); !strings.Contains(got, "还没有绑定") {
			t.Errorf("stranger: %q", got)
		}
		if status, _, _ := e.dingtalk.StaffSays(ctx, webhook, "forged-secret", "staff-li", "同事", "完成 T-1001"); status != http.StatusUnauthorized {
			t.Errorf("forged robot message answered %d", status)
		}
		d = e.must(e.adminA, `{ tickets { nodes { reference status assignee { email } } } }`, nil)
		tk := get(d, "tickets", "nodes", 0)
		if str(tk, "status") != "OPEN" || str(tk, "assignee", "email") != "li@a.test" {
			t.Errorf("ticket after the bot: %v", tk)
		}
	})
}
