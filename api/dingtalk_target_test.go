package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// TestDingTalkWorkOrders: a new ticket is posted to a DingTalk group robot
// (signed, with msgUuid) and becomes a DingTalk to-do (keyed on the ticket
// with sourceId); a lost answer and an expired token change nothing of that.
func TestDingTalkWorkOrders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		target := func(kind string, settings map[string]any) string {
			d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"kind": kind, "name": kind, "settings": settings}})
			id := str(d, "createTarget", "target", "id")
			e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": kind, "targetId": id, "events": []string{"TICKET_CREATED"}}})
			return id
		}
		target("DINGTALK_ROBOT", map[string]any{"accessToken": "robot-token-0123456789", "secret": dingtalkRobotSecret})
		target("DINGTALK_TODO", map[string]any{"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret,
			"operatorUnionId": "union-op", "executorUnionIds": "union-a,union-b"})

		e.dingtalkWork.ExpireTokens()
		e.dingtalkWork.DropNext(dingtalkfake.PathRobotSend, 1)
		ticket := e.createTicket(e.adminA, "大客户投诉", map[string]any{"priority": "URGENT"})
		deadline := time.Now().Add(15 * time.Second)
		for {
			d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { deliveries { status lastError } externalRefs { system externalId } } } }`, map[string]any{"id": ticket})
			sent := 0
			for _, del := range get(d, "node", "deliveries").([]any) {
				if str(del, "status") == "SENT" {
					sent++
				}
			}
			if sent == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries: %v", d)
			}
			time.Sleep(30 * time.Millisecond)
		}
		robot := e.dingtalkWork.RobotMessages()
		if len(robot) != 1 || !strings.Contains(robot[0].Text, "T-1001") || robot[0].MsgUUID == "" {
			t.Errorf("robot messages: %+v", robot)
		}
		todos := e.dingtalkWork.Todos()
		if len(todos) != 1 || !strings.Contains(todos[0].Subject, "大客户投诉") || len(todos[0].ExecutorIDs) != 2 || !strings.Contains(todos[0].SourceID, "T-1001") {
			t.Errorf("to-dos: %+v", todos)
		}
	})
}

// TestDingTalkApprovalResults: an approval filed in DingTalk for a new
// ticket is reported back by DingTalk's event push (encrypted, signed) on
// the bot channel, and resolves the ticket when agreed.
func TestDingTalkApprovalResults(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		const eventToken = "dingEventToken"
		aesKey := wxcrypto.NewAESKey()
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { webhookUrl } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "DINGTALK_BOT", "name": "机器人", "settings": map[string]any{
				"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret, "eventToken": eventToken, "eventAESKey": aesKey}}})
		webhook := str(d, "createChannel", "channel", "webhookUrl")
		d = e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "DINGTALK_APPROVAL", "name": "审批", "settings": map[string]any{
				"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret, "processCode": "PROC-TICKET", "originatorUserId": "manager01"}}})
		e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"name": "审批", "targetId": str(d, "createTarget", "target", "id"), "events": []string{"TICKET_CREATED"}}})
		ticket := e.createTicket(e.adminA, "赔付审批", nil)
		var instance string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { externalRefs { externalId } } } }`, map[string]any{"id": ticket})
			if refs, _ := get(d, "node", "externalRefs").([]any); len(refs) == 1 {
				instance = str(refs[0], "externalId")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no approval instance on the ticket: %v", d)
			}
		}
		push := func(token string, event map[string]any) (int, map[string]any) {
			t.Helper()
			plain := mustJSON(event)
			enc, err := wxcrypto.Encrypt(aesKey, dingtalkAppKey, plain)
			if err != nil {
				t.Fatal(err)
			}
			ts, nonce := fmt.Sprint(time.Now().UnixMilli()), wxcrypto.Nonce()
			q := url.Values{"signature": {wxcrypto.Signature(token, ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
			resp, err := http.Post(webhook+"?"+q.Encode(), "application/json", bytes.NewReader(mustJSON(map[string]string{"encrypt": enc})))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		status, out := push(eventToken, map[string]any{"EventType": "check_url"})
		if status != http.StatusOK || str(out, "encrypt") == "" {
			t.Fatalf("check_url: %d %v", status, out)
		}
		if plain, _, err := wxcrypto.Decrypt(aesKey, str(out, "encrypt")); err != nil || string(plain) != "success" {
			t.Errorf("check_url answer decrypts to %q, %v", plain, err)
		}
		if status, _ := push("forged", map[string]any{"EventType": "bpms_instance_change", "processInstanceId": instance, "type": "finish", "result": "agree"}); status != http.StatusUnauthorized {
			t.Errorf("forged event answered %d", status)
		}
		if status, _ := push(eventToken, map[string]any{"EventType": "bpms_instance_change", "processInstanceId": instance, "type": "finish", "result": "agree"}); status != http.StatusOK {
			t.Fatalf("approval event answered %d", status)
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status } } }`, map[string]any{"id": ticket})
		if str(d, "node", "status") != "RESOLVED" {
			t.Errorf("ticket after the approval: %v", d)
		}
	})
}

// TestDingTalkTodoDoneResolvesTicket: with resolveWhenDone, a to-do ticked
// off in DingTalk resolves its ticket (and nothing is sent back to the
// to-do target); a to-do still open, or a target without the setting,
// leaves its ticket alone; a to-do DingTalk cannot answer about does not
// hold up the others.
func TestDingTalkTodoDoneResolvesTicket(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		target := func(name, operator string, watch bool) {
			settings := map[string]any{"appKey": dingtalkAppKey, "appSecret": dingtalkAppSecret,
				"operatorUnionId": operator, "executorUnionIds": "union-a"}
			if watch {
				settings["resolveWhenDone"] = true
			}
			d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"kind": "DINGTALK_TODO", "name": name, "settings": settings}})
			id := str(d, "createTarget", "target", "id")
			e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": name, "targetId": id, "events": []string{"TICKET_CREATED", "TICKET_RESOLVED"},
					"condition": map[string]any{"category": name}}})
		}
		target("watched", "union-watch", true)
		target("unwatched", "union-plain", false)
		ticket := func(category string) string {
			return e.createTicket(e.adminA, "补发 "+category, map[string]any{"category": category})
		}
		open, done, plain := ticket("watched"), ticket("watched"), ticket("unwatched")
		todoOf := func(id string) string {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { externalRefs { externalId } } } }`, map[string]any{"id": id})
				if refs, _ := get(d, "node", "externalRefs").([]any); len(refs) == 1 {
					return str(refs[0], "externalId")
				}
				if time.Now().After(deadline) {
					t.Fatalf("no to-do on the ticket: %v", d)
				}
			}
		}
		for _, id := range []string{done, plain} {
			if !e.dingtalkWork.CompleteTodo(todoOf(id)) {
				t.Fatalf("the fake does not know the to-do of %s", id)
			}
		}
		todoOf(open)
		// DingTalk cannot answer about the first to-do asked (the open
		// ticket's): the check reports it and still does the others.
		e.dingtalkWork.FailNextHTTP(dingtalkfake.PathTodoTask, 1, http.StatusNotFound, dingtalkfake.CodeTaskNotFound)
		n, err := e.hub.CheckDoneWorkOrders(t.Context())
		if err == nil || n != 1 {
			t.Fatalf("CheckDoneWorkOrders = %d, %v; want 1 ticket resolved and the failed question reported", n, err)
		}
		want := map[string]string{done: "RESOLVED", open: "NEW", plain: "NEW"}
		for id, status := range want {
			d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status deliveries { status } } } }`, map[string]any{"id": id})
			if got := str(d, "node", "status"); got != status {
				t.Errorf("ticket %s is %s, want %s", id, got, status)
			}
			if dels := get(d, "node", "deliveries").([]any); len(dels) != 1 {
				t.Errorf("ticket %s has %d deliveries, want only the to-do's creation: %v", id, len(dels), dels)
			}
		}
		if got := e.dingtalkWork.Calls(dingtalkfake.PathTodoTask); got != 2 {
			t.Errorf("%d to-do detail calls, want 2 (the watched target's open tickets only)", got)
		}
		// Checked again, a resolved ticket is not asked about.
		if n, err := e.hub.CheckDoneWorkOrders(t.Context()); err != nil || n != 0 {
			t.Errorf("second check = %d, %v", n, err)
		}
		if got := e.dingtalkWork.Calls(dingtalkfake.PathTodoTask); got != 3 {
			t.Errorf("%d to-do detail calls after the second check, want 3", got)
		}
	})
}
