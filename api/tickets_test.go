package api_test

import (
	"strings"
	"testing"
)

func TestTicketLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		cust := e.createCustomer(e.adminA, "王五")
		ch := e.createChannel(e.adminA, "WEB", "官网", nil)
		conv := e.startConversation(e.adminA, cust, ch)
		first := e.createTicket(e.adminA, "包裹丢失", map[string]any{"conversationId": conv, "category": "物流", "priority": "HIGH"})
		second := e.createTicket(e.adminA, "发票抬头错误", nil)

		d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket {
			number reference status priority category allowedTransitions
			customer { id } conversations { id } createdBy { email } } } }`, map[string]any{"id": first})
		tk := get(d, "node")
		if str(tk, "reference") != "T-1001" || get(tk, "number") != float64(1001) {
			t.Errorf("first ticket is %v / %v, want T-1001", get(tk, "reference"), get(tk, "number"))
		}
		if str(tk, "customer", "id") != cust {
			t.Errorf("ticket did not take the conversation's customer")
		}
		if str(tk, "conversations", 0, "id") != conv {
			t.Errorf("ticket not linked to its conversation")
		}
		if str(tk, "createdBy", "email") != "admin@a.test" {
			t.Errorf("createdBy = %v", get(tk, "createdBy"))
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { reference } } }`, map[string]any{"id": second})
		if got := str(d, "node", "reference"); got != "T-1002" {
			t.Errorf("second ticket is %q, want T-1002", got)
		}

		transition := func(id, status string) gqlResponse {
			return e.do(e.adminA, `mutation($in: TransitionTicketInput!) { transitionTicket(input: $in) {
				ticket { status resolvedAt closedAt } userErrors { field message code } } }`,
				map[string]any{"in": map[string]any{"id": id, "status": status, "comment": "处理中"}})
		}
		steps := []struct {
			to       string
			ok       bool
			resolved bool
		}{
			{"OPEN", true, false},
			{"NEW", false, false},
			{"PENDING", true, false},
			{"RESOLVED", true, true},
			{"PENDING", false, true},
			{"OPEN", true, false}, // reopened
			{"CLOSED", true, true},
			{"OPEN", false, true},
			{"RESOLVED", false, true},
		}
		for i, s := range steps {
			r := transition(first, s.to)
			ue := get(r.Data, "transitionTicket", "userErrors").([]any)
			if s.ok != (len(ue) == 0) {
				t.Fatalf("step %d → %s: ok=%v, userErrors %v", i, s.to, s.ok, ue)
			}
			if !s.ok {
				if str(ue, 0, "code") != "BAD_USER_INPUT" || !strings.Contains(str(ue, 0, "message"), "allowed") {
					t.Errorf("step %d: refusal %v does not name the allowed moves", i, ue[0])
				}
				continue
			}
			resolvedAt := get(r.Data, "transitionTicket", "ticket", "resolvedAt")
			if (resolvedAt != nil) != s.resolved {
				t.Errorf("step %d → %s: resolvedAt = %v", i, s.to, resolvedAt)
			}
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { status allowedTransitions closedAt } } }`, map[string]any{"id": first})
		if str(d, "node", "status") != "CLOSED" || len(get(d, "node", "allowedTransitions").([]any)) != 0 || get(d, "node", "closedAt") == nil {
			t.Errorf("closed ticket: %v", get(d, "node"))
		}
		// A closed ticket no longer changes.
		r := e.do(e.adminA, `mutation($in: UpdateTicketInput!) { updateTicket(input: $in) { userErrors { code } } }`,
			map[string]any{"in": map[string]any{"id": first, "title": "x"}})
		if str(r.Data, "updateTicket", "userErrors", 0, "code") != "CONFLICT" {
			t.Errorf("updating a closed ticket: %s", r.Raw)
		}

		// Every transition is in the audit log with before and after.
		d = e.must(e.adminA, `query($id: ID!) { auditEvents(first: 50, filter: {objectId: $id, action: "ticket.transition"}) { totalCount nodes { before after actor { email } } } }`,
			map[string]any{"id": first})
		if got := get(d, "auditEvents", "totalCount"); got != float64(5) {
			t.Errorf("ticket.transition audit events = %v, want 5", got)
		}
		if str(d, "auditEvents", "nodes", 0, "after", "comment") != "处理中" {
			t.Errorf("comment not recorded: %v", get(d, "auditEvents", "nodes", 0, "after"))
		}

		// Search by reference and by title, filter by status and category.
		for _, c := range []struct {
			filter map[string]any
			want   int
		}{
			{map[string]any{"search": "T-1002"}, 1},
			{map[string]any{"search": "包裹"}, 1},
			{map[string]any{"status": []string{"CLOSED"}}, 1},
			{map[string]any{"status": []string{"NEW", "OPEN"}}, 1},
			{map[string]any{"category": "物流"}, 1},
			{map[string]any{"priority": []string{"LOW"}}, 0},
			{map[string]any{"customerId": cust}, 1},
		} {
			d := e.must(e.adminA, `query($f: TicketFilter) { tickets(first: 10, filter: $f) { totalCount } }`, map[string]any{"f": c.filter})
			if got := get(d, "tickets", "totalCount"); got != float64(c.want) {
				t.Errorf("tickets(filter: %v) = %v, want %d", c.filter, got, c.want)
			}
		}

		// Update with explicit null clears; omission keeps.
		agentID, _ := e.createUser(e.adminA, "客服小张", "zhang@a.test", "AGENT")
		e.must(e.adminA, `mutation($in: UpdateTicketInput!) { updateTicket(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"id": second, "assigneeId": agentID, "dueAt": "2030-01-02T03:04:05Z"}})
		e.must(e.adminA, `mutation($in: UpdateTicketInput!) { updateTicket(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"id": second, "dueAt": nil}})
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Ticket { assignee { id } dueAt } } }`, map[string]any{"id": second})
		if str(d, "node", "assignee", "id") != agentID || get(d, "node", "dueAt") != nil {
			t.Errorf("after updates: %v", get(d, "node"))
		}

		// Linking twice is harmless; the conversation sees its open tickets.
		for range 2 {
			e.must(e.adminA, `mutation($in: LinkConversationToTicketInput!) { linkConversationToTicket(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"ticketId": second, "conversationId": conv}})
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { openTicketCount tickets { reference } } } }`, map[string]any{"id": conv})
		if get(d, "node", "openTicketCount") != float64(1) || len(get(d, "node", "tickets").([]any)) != 2 {
			t.Errorf("conversation tickets: %v", get(d, "node"))
		}
	})
}

func TestMergeCustomers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ch := e.createChannel(e.adminA, "WEB", "官网", nil)
		d := e.must(e.adminA, `mutation { a: createCustomer(input: {name: "赵六", phone: "13900000001", tags: ["VIP"]}) { customer { id } }
			b: createCustomer(input: {name: "赵六(邮件)", email: "zhao@example.com", tags: ["老客户"], attributes: {city: "杭州"}}) { customer { id } } }`, nil)
		survivor, merged := str(d, "a", "customer", "id"), str(d, "b", "customer", "id")
		conv := e.startConversation(e.adminA, merged, ch)
		e.createTicket(e.adminA, "退款", map[string]any{"customerId": merged})

		d = e.must(e.adminA, `mutation($in: MergeCustomersInput!) { mergeCustomers(input: $in) {
			customer { id phone email tags attributes conversations { totalCount } tickets { totalCount } } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"survivorId": survivor, "mergedId": merged}})
		c := get(d, "mergeCustomers", "customer")
		if str(c, "id") != survivor || str(c, "email") != "zhao@example.com" || str(c, "phone") != "13900000001" {
			t.Errorf("survivor after merge: %v", c)
		}
		if get(c, "conversations", "totalCount") != float64(1) || get(c, "tickets", "totalCount") != float64(1) {
			t.Errorf("conversations/tickets not moved: %v", c)
		}
		if tags := get(c, "tags").([]any); len(tags) != 2 {
			t.Errorf("tags = %v, want both", tags)
		}
		if str(c, "attributes", "city") != "杭州" {
			t.Errorf("attributes = %v", get(c, "attributes"))
		}
		d = e.must(e.adminA, `query($id: ID!, $m: ID!) { conv: node(id: $id) { ... on Conversation { customer { id } } }
			merged: node(id: $m) { ... on Customer { mergedInto { id } } } }`, map[string]any{"id": conv, "m": merged})
		if str(d, "conv", "customer", "id") != survivor || str(d, "merged", "mergedInto", "id") != survivor {
			t.Errorf("after merge: %v", d)
		}
		// Merged customers leave the default list, and cannot be merged again.
		d = e.must(e.adminA, `{ customers { totalCount } all: customers(filter: {includeMerged: true}) { totalCount } }`, nil)
		if get(d, "customers", "totalCount") != float64(1) || get(d, "all", "totalCount") != float64(2) {
			t.Errorf("customer lists after merge: %v", d)
		}
		r := e.do(e.adminA, `mutation($in: MergeCustomersInput!) { mergeCustomers(input: $in) { userErrors { code field } } }`,
			map[string]any{"in": map[string]any{"survivorId": survivor, "mergedId": merged}})
		if str(r.Data, "mergeCustomers", "userErrors", 0, "code") != "CONFLICT" {
			t.Errorf("second merge: %s", r.Raw)
		}
		d = e.must(e.adminA, `query($id: ID!) { auditEvents(filter: {objectId: $id, action: "customer.merge"}) { nodes { after } } }`, map[string]any{"id": survivor})
		if got := get(d, "auditEvents", "nodes", 0, "after", "moved", "conversations"); got != float64(1) {
			t.Errorf("merge audit event records %v moved conversations, want 1", got)
		}
	})
}

// TestEngineNeutralInputRules: rules that the two engines would otherwise
// apply differently hold the same on both.
func TestEngineNeutralInputRules(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		e.must(e.adminA, `mutation { createTeam(input: {name: "Support"}) { userErrors { message } } }`, nil)
		r := e.do(e.adminA, `mutation { createTeam(input: {name: "support"}) { team { id } userErrors { code field } } }`, nil)
		if str(r.Data, "createTeam", "userErrors", 0, "code") != "CONFLICT" {
			t.Errorf("team names differing only in case: %s", r.Raw)
		}
		for _, due := range []string{"0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"} {
			r := e.do(e.adminA, `mutation($due: Time) { createTicket(input: {title: "t", dueAt: $due}) { ticket { id } userErrors { code field } } }`,
				map[string]any{"due": due})
			if str(r.Data, "createTicket", "userErrors", 0, "code") != "BAD_USER_INPUT" ||
				str(r.Data, "createTicket", "userErrors", 0, "field", 1) != "dueAt" {
				t.Errorf("dueAt %s: %s", due, r.Raw)
			}
		}
	})
}
