package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// wecomCallback encrypts and signs plainXML as WeCom calls an app's
// callback URL, and returns the status.
func wecomCallback(t *testing.T, webhook, token, aesKey string, plainXML []byte) int {
	t.Helper()
	enc, err := wxcrypto.Encrypt(aesKey, wecomCorpID, plainXML)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := fmt.Sprint(time.Now().Unix()), wxcrypto.Nonce()
	q := url.Values{"msg_signature": {wxcrypto.Signature(token, ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	body := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt><AgentID>1000003</AgentID></xml>", wecomCorpID, enc)
	resp, err := http.Post(webhook+"?"+q.Encode(), "text/xml", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWeComApp: staff message the kefuhub WeCom app like a bot, and the
// approvals kefuhub filed are reported on it: approved resolves the
// ticket, rejected reopens it with the reason.
func TestWeComApp(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const token = "wecomAppToken"
		aesKey := wxcrypto.NewAESKey()
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { webhookUrl } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "WECOM_APP", "name": "kefuhub 应用", "settings": map[string]any{
				"corpId": wecomCorpID, "secret": wecomSecret, "agentId": "1000003", "token": token, "encodingAESKey": aesKey}}})
		webhook := str(d, "createChannel", "channel", "webhookUrl")
		e.must(e.adminA, `mutation { createUser(input: {name: "王工", email: "wang@a.test", role: AGENT, wecomUserId: "wanggong"}) { userErrors { message } } }`, nil)

		// An approval target and rule, then a ticket that files an approval.
		d = e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"kind": "WECOM_APPROVAL", "name": "审批", "settings": map[string]any{
				"corpId": wecomCorpID, "secret": wecomSecret, "templateId": "3Tka1eD6v6JfzhDMqPd3aMkFdxqtJMc2ZRioeFXk", "creatorUserId": "wanggong"}}})
		e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"name": "审批", "targetId": str(d, "createTarget", "target", "id"), "events": []string{"TICKET_CREATED"}}})
		ticket := e.createTicket(e.adminA, "大额退款审批", nil)
		var spNo string
		for deadline := time.Now().Add(10 * time.Second); spNo == ""; time.Sleep(20 * time.Millisecond) {
			if a := e.wecomWork.Approvals(); len(a) == 1 {
				spNo = a[0].SpNo
			}
			if time.Now().After(deadline) {
				t.Fatal("no approval filed")
			}
		}
		// Wait until the sp_no is on the ticket.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { externalRefs { externalId } } } }`, map[string]any{"id": ticket})
			if strings.Contains(string(mustJSON(d)), spNo) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sp_no not on the ticket: %v", d)
			}
		}

		// Rejected: the ticket reopens (NEW → OPEN) with the reason.
		if status := wecomCallback(t, webhook, token, aesKey, e.wecomWork.ApprovalChangeXML(spNo, 3, "金额超出权限")); status != http.StatusOK {
			t.Fatalf("approval callback answered %d", status)
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status } } auditEvents(filter: {objectId: $id, action: "ticket.transition"}) { nodes { after } } }`, map[string]any{"id": ticket})
		if str(d, "node", "status") != "OPEN" || str(d, "auditEvents", "nodes", 0, "after", "comment") != "金额超出权限" {
			t.Errorf("after rejection: %v", d)
		}
		// Approved: resolved.
		wecomCallback(t, webhook, token, aesKey, e.wecomWork.ApprovalChangeXML(spNo, 2, "同意"))
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status } } }`, map[string]any{"id": ticket})
		if str(d, "node", "status") != "RESOLVED" {
			t.Errorf("after approval: %v", d)
		}

		// The staff member asks the app about the ticket.
		before := len(e.wecomWork.AppMessages())
		msg := []byte(fmt.Sprintf("<xml><ToUserName>%s</ToUserName><FromUserName>wanggong</FromUserName><CreateTime>%d</CreateTime>"+
			"<MsgType>text</MsgType><Content>查工单 T-1001</Content><MsgId>1</MsgId><AgentID>1000003</AgentID></xml>", wecomCorpID, time.Now().Unix()))
		if status := wecomCallback(t, webhook, token, aesKey, msg); status != http.StatusOK {
			t.Fatalf("message callback answered %d", status)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			msgs := e.wecomWork.AppMessages()
			if len(msgs) > before {
				last := msgs[len(msgs)-1]
				if !strings.Contains(last.Content, "T-1001 大额退款审批") || len(last.ToUser) != 1 || last.ToUser[0] != "wanggong" {
					t.Errorf("bot answer: %+v", last)
				}
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				t.Fatal("no answer from the app")
			}
		}
		// A forged callback is refused.
		if status := wecomCallback(t, webhook, "wrong-token", aesKey, msg); status != http.StatusUnauthorized {
			t.Errorf("forged callback answered %d", status)
		}
	})
}
