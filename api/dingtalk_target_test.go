package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
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
