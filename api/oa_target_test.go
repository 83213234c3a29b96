package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/oa/oafake"
)

const oaSecret = "oa-shared-secret-0123456789"

// TestOAWorkOrders: tickets reach the OA system as signed, versioned
// documents, exactly once even when the OA system fails or loses its
// answer; the OA system's id lands on the ticket; its callbacks change the
// ticket like an agent would, without echoing back to it.
func TestOAWorkOrders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		oaSys, other := oafake.New(oaSecret), oafake.New(oaSecret)
		defer oaSys.Close()
		defer other.Close()
		target := func(name, url string) (id, callback string) {
			d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id callbackUrl secretKeys settings } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"kind": "OA_WEBHOOK", "name": name, "settings": map[string]any{"url": url, "secret": oaSecret}}})
			return str(d, "createTarget", "target", "id"), str(d, "createTarget", "target", "callbackUrl")
		}
		oaID, callback := target("OA 系统", oaSys.URL)
		otherID, _ := target("另一个系统", other.URL)
		d := e.must(e.adminA, `mutation($id: ID!) { testTarget(input: {id: $id}) { ok error } }`, map[string]any{"id": oaID})
		if get(d, "testTarget", "ok") != true {
			t.Fatalf("testTarget: %v", d)
		}
		for _, tg := range []string{oaID, otherID} {
			e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { dispatchRule { id } userErrors { field message } } }`,
				map[string]any{"in": map[string]any{"name": "退款工单", "targetId": tg, "events": []string{"TICKET_CREATED", "TICKET_RESOLVED"},
					"condition": map[string]any{"category": "退款"}}})
		}

		// The first attempt fails, the second is applied but its answer is
		// lost: the OA system still holds one work order.
		oaSys.FailNext(1, http.StatusBadGateway)
		oaSys.DropNext(1)
		cust := e.createCustomer(e.adminA, "退款客户")
		ticket := e.createTicket(e.adminA, "退款未到账", map[string]any{"category": "退款", "customerId": cust, "priority": "HIGH"})
		e.createTicket(e.adminA, "发票问题", map[string]any{"category": "发票"}) // no rule matches
		orders, err := oaSys.WaitOrders(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		o := orders[0]
		if p := loadOASchema(t).check(o.Document); p != nil {
			t.Errorf("delivered document breaks docs/oa-webhook/schema.json: %v", p)
		}
		if o.Event != "ticket.created" || get(o.Document, "schemaVersion") != float64(1) || str(o.Document, "ticket", "title") != "退款未到账" ||
			str(o.Document, "customer", "name") != "退款客户" || str(o.Document, "performedBy", "type") != "user" {
			t.Errorf("work order document: %v", o.Document)
		}
		// Wait for the delivery to settle (the retry after the lost answer).
		deadline := time.Now().Add(15 * time.Second)
		for {
			d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { externalRefs { system externalId url } deliveries { status attempts externalRef target { id } } } } }`, map[string]any{"id": ticket})
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
				t.Fatalf("deliveries did not settle: %v", d)
			}
			time.Sleep(30 * time.Millisecond)
		}
		if got := oaSys.Orders(); len(got) != 1 || got[0].Received < 2 {
			t.Errorf("OA system holds %d work orders (received %v), want 1 received at least twice", len(got), got)
		}
		if len(other.Orders()) != 1 {
			t.Errorf("the second target holds %d work orders, want 1", len(other.Orders()))
		}
		refs := get(d, "node", "externalRefs").([]any)
		if len(refs) != 2 || str(refs[0], "externalId") != "OA-0001" {
			t.Errorf("external refs: %v", refs)
		}

		// The OA system resolves the ticket: it changes like an agent's
		// change, the other target hears of it, the OA system does not.
		status, body, err := oaSys.Callback(ctx, callback, map[string]any{"ticket": "T-1001", "action": "status", "status": "RESOLVED", "comment": "已退款"})
		if err != nil || status != http.StatusOK {
			t.Fatalf("callback: %d %s %v", status, body, err)
		}
		if _, err := other.WaitOrders(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if got := other.Orders()[1]; got.Event != "ticket.resolved" || str(got.Document, "performedBy", "type") != "target" || str(got.Document, "comment") != "已退款" {
			t.Errorf("resolved work order: %+v", got)
		}
		// Deliveries are written with the change, so the absence of one to
		// the OA system is final.
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { deliveries { event target { id } } } } }`, map[string]any{"id": ticket})
		for _, del := range get(d, "node", "deliveries").([]any) {
			if str(del, "event") == "ticket.resolved" && str(del, "target", "id") == oaID {
				t.Errorf("the OA system's own change was queued back to it")
			}
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status } } auditEvents(filter: {objectId: $id, action: "ticket.transition"}) { nodes { after } } }`, map[string]any{"id": ticket})
		if str(d, "node", "status") != "RESOLVED" || str(d, "auditEvents", "nodes", 0, "after", "performedVia") != oaID {
			t.Errorf("after the callback: %v", d)
		}
		// Bad callbacks: wrong signature, unknown ticket, refused transition.
		bad := oafake.New("not-the-right-secret-at-all")
		defer bad.Close()
		if status, _, _ := bad.Callback(ctx, callback, map[string]any{"ticket": "T-1001", "action": "comment", "comment": "x"}); status != http.StatusUnauthorized {
			t.Errorf("forged callback answered %d", status)
		}
		if status, _, _ := oaSys.Callback(ctx, callback, map[string]any{"ticket": "T-9999", "action": "comment", "comment": "x"}); status != http.StatusNotFound {
			t.Errorf("unknown ticket answered %d", status)
		}
		if status, body, _ := oaSys.Callback(ctx, callback, map[string]any{"ticket": "T-1001", "action": "status", "status": "NEW"}); status != http.StatusBadRequest {
			t.Errorf("refused transition answered %d %s", status, body)
		}
	})
}

// TestDeliveryAdmin: a work order the target refuses is a dead letter in
// deliveries(filter: {status: FAILED}); retryDelivery sends it again once
// the target is fixed; cancelDelivery stops a pending one.
func TestDeliveryAdmin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		oaSys := oafake.New(oaSecret)
		defer oaSys.Close()
		d := e.must(e.adminA, `mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"kind": "OA_WEBHOOK", "name": "OA", "settings": map[string]any{"url": oaSys.URL, "secret": oaSecret}}})
		targetID := str(d, "createTarget", "target", "id")
		e.must(e.adminA, `mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"name": "全部", "targetId": targetID, "events": []string{"TICKET_CREATED"}}})

		oaSys.FailNext(1, http.StatusUnprocessableEntity)
		e.createTicket(e.adminA, "被拒的工单", nil)
		var dead string
		deadline := time.Now().Add(10 * time.Second)
		for dead == "" {
			d = e.must(e.adminA, `{ deliveries(filter: {status: "FAILED"}) { nodes { id lastError event } } }`, nil)
			if n, _ := get(d, "deliveries", "nodes").([]any); len(n) == 1 {
				dead = str(n[0], "id")
				if !contains(str(n[0], "lastError"), "422") {
					t.Errorf("dead letter reason: %v", n[0])
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter: %v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.must(e.adminA, `mutation($id: ID!) { retryDelivery(input: {id: $id}) { delivery { status } userErrors { message } } }`, map[string]any{"id": dead})
		if _, err := oaSys.WaitOrders(ctx, 1); err != nil {
			t.Fatal(err)
		}
		r := e.do(e.adminA, `mutation($id: ID!) { cancelDelivery(input: {id: $id}) { userErrors { code } } }`, map[string]any{"id": dead})
		if str(r.Data, "cancelDelivery", "userErrors", 0, "code") != "CONFLICT" {
			waitDeliveryStatus(t, e, dead, "SENT")
		}

		// A pending delivery waiting an hour (the target said Retry-After)
		// is cancelled and never sent.
		oaSys.FailNextRetryAfter(1, http.StatusServiceUnavailable, 3600)
		before := len(oaSys.Orders())
		e.createTicket(e.adminA, "要取消的工单", nil)
		var pendingID string
		deadline = time.Now().Add(10 * time.Second)
		for pendingID == "" {
			d = e.must(e.adminA, `{ deliveries(filter: {status: "PENDING"}) { nodes { id attempts } } }`, nil)
			for _, n := range get(d, "deliveries", "nodes").([]any) {
				if get(n, "attempts") == float64(1) {
					pendingID = str(n, "id")
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no pending delivery after a failed attempt: %v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		d = e.must(e.adminA, `mutation($id: ID!) { cancelDelivery(input: {id: $id}) { delivery { status } userErrors { message } } }`, map[string]any{"id": pendingID})
		if str(d, "cancelDelivery", "delivery", "status") != "CANCELLED" {
			t.Fatalf("cancel: %v", d)
		}
		if len(oaSys.Orders()) != before {
			t.Errorf("a cancelled delivery arrived")
		}
		// Agents may not see or touch deliveries.
		_, agent := e.createUser(e.adminA, "坐席", "agent-dlv@a.test", "AGENT")
		if r := e.do(agent, `{ deliveries { totalCount } }`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("agent listed deliveries: %s", r.Raw)
		}
	})
}

func waitDeliveryStatus(t *testing.T, e *env, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Delivery { status } } }`, map[string]any{"id": id})
		if str(d, "node", "status") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is %v, want %s", id, get(d, "node"), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
