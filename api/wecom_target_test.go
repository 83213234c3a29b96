package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wecomwork/wecomworkfake"
)

// TestWeComWorkOrders: a new urgent ticket reaches staff as a WeCom app
// textcard and files a WeCom approval; an expired token and a lost answer
// change nothing of that, and the approval's sp_no lands on the ticket.
func TestWeComWorkOrders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		rule := func(kind string, settings map[string]any) {
			d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"kind": kind, "name": kind, "settings": settings}})
			e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": kind, "targetId": str(d, "createTarget", "target", "id"), "events": []string{"TICKET_CREATED"},
					"condition": map[string]any{"priority": []string{"URGENT", "HIGH"}}}})
		}
		rule("WECOM_APP_MESSAGE", map[string]any{"corpId": wecomCorpID, "secret": wecomSecret, "agentId": "1000002", "toUser": "zhangsan|lisi"})
		rule("WECOM_APPROVAL", map[string]any{"corpId": wecomCorpID, "secret": wecomSecret, "templateId": "3Tka1eD6v6JfzhDMqPd3aMkFdxqtJMc2ZRioeFXk", "creatorUserId": "zhangsan"})

		e.wecomWork.ExpireTokens()
		e.wecomWork.DropNext(wecomworkfake.PathSendMsg, 1)
		ticket := e.createTicket(e.adminA, "VIP 客户退款加急", map[string]any{"priority": "URGENT"})
		e.createTicket(e.adminA, "普通咨询", map[string]any{"priority": "LOW"}) // no rule matches
		deadline := time.Now().Add(15 * time.Second)
		var d map[string]any
		for {
			d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { deliveries { status lastError } externalRefs { system externalId } } } }`, map[string]any{"id": ticket})
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
		msgs := e.wecomWork.AppMessages()
		if len(msgs) != 1 || msgs[0].TextCard == nil || !strings.Contains(msgs[0].TextCard.Title, "VIP 客户退款加急") {
			t.Errorf("app messages (one despite the lost answer): %+v", msgs)
		}
		approvals := e.wecomWork.Approvals()
		if len(approvals) != 1 {
			t.Fatalf("approvals: %+v", approvals)
		}
		var spNo bool
		for _, r := range get(d, "node", "externalRefs").([]any) {
			spNo = spNo || str(r, "externalId") == approvals[0].SpNo
		}
		if !spNo {
			t.Errorf("sp_no %s not on the ticket: %v", approvals[0].SpNo, get(d, "node", "externalRefs"))
		}
	})
}
