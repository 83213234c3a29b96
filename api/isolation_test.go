package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// isoMarker is part of every name, email and secret created in tenant A, so
// that any of tenant A's data leaking into a tenant B response is spotted
// (compared case-insensitively).
const isoMarker = "iso-a"

const isoSecret = "ISO-A-SECRET-9f2c1e"

// isoWorld holds the global IDs of one tenant's objects.
type isoWorld struct {
	customer, channel, conv, msg, note, ticket string
	user, team, token, tenant, admin, audit    string
	tokenSecret                                string
}

// isoAll lists every ID of w (for node/nodes and leak checks).
func (w isoWorld) isoAll() map[string]string {
	return map[string]string{
		"customer": w.customer, "channel": w.channel, "conversation": w.conv,
		"message": w.msg, "note": w.note, "ticket": w.ticket, "user": w.user,
		"team": w.team, "apiToken": w.token, "tenant": w.tenant,
		"adminUser": w.admin, "auditEvent": w.audit,
	}
}

// isoMutate runs a one-input mutation and returns the response.
func isoMutate(e *env, token, field string, in map[string]any) gqlResponse {
	e.t.Helper()
	typ := strings.ToUpper(field[:1]) + field[1:] + "Input"
	return e.do(token, `mutation($in: `+typ+`!) { `+field+`(input: $in) { userErrors { field message code } } }`,
		map[string]any{"in": in})
}

// isoMust is e.must for a one-input mutation, returning the payload.
func isoMust(e *env, token, field, selection string, in map[string]any) any {
	e.t.Helper()
	typ := strings.ToUpper(field[:1]) + field[1:] + "Input"
	d := e.must(token, `mutation($in: `+typ+`!) { `+field+`(input: $in) { `+selection+` userErrors { field message code } } }`,
		map[string]any{"in": in})
	return get(d, field)
}

// isoBuildA creates one of everything in tenant A.
func isoBuildA(e *env) isoWorld {
	e.t.Helper()
	var w isoWorld
	tok := e.adminA
	w.customer = str(isoMust(e, tok, "createCustomer", "customer { id }", map[string]any{
		"name": "ISO-A 客户", "phone": "13800000001", "email": "iso-a-customer@example.com",
		"tags": []string{"iso-a-vip"}, "attributes": map[string]any{"note": "iso-a"},
	}), "customer", "id")
	w.channel = str(isoMust(e, tok, "createChannel", "channel { id settings secretKeys }", map[string]any{
		// A WEB channel: no platform, so no deliveries change A's state
		// behind the test's back.
		"kind": "WEB", "name": "ISO-A 企业微信",
		"settings": map[string]any{"corpId": "ww-iso-a", "secret": isoSecret},
	}), "channel", "id")
	w.conv = str(isoMust(e, tok, "startConversation", "conversation { id }", map[string]any{
		"customerId": w.customer, "channelId": w.channel, "subject": "ISO-A 物流",
	}), "conversation", "id")
	w.msg = str(isoMust(e, tok, "sendMessage", "message { id }", map[string]any{
		"conversationId": w.conv, "text": "ISO-A 您好",
	}), "message", "id")
	w.note = str(isoMust(e, tok, "addNote", "message { id }", map[string]any{
		"conversationId": w.conv, "text": "ISO-A 内部备注",
	}), "message", "id")
	w.user = str(isoMust(e, tok, "createUser", "user { id }", map[string]any{
		"name": "ISO-A 坐席", "email": "iso-a-agent@a.test", "role": "AGENT",
	}), "user", "id")
	w.team = str(isoMust(e, tok, "createTeam", "team { id }", map[string]any{
		"name": "ISO-A 售后组", "description": "iso-a", "memberIds": []string{w.user},
	}), "team", "id")
	isoMust(e, tok, "assignConversation", "conversation { id }", map[string]any{
		"conversationId": w.conv, "assigneeId": w.user, "teamId": w.team,
	})
	w.ticket = str(isoMust(e, tok, "createTicket", "ticket { id }", map[string]any{
		"title": "ISO-A 包裹丢失", "conversationId": w.conv, "assigneeId": w.user, "teamId": w.team,
	}), "ticket", "id")
	p := isoMust(e, tok, "createApiToken", "token apiToken { id }", map[string]any{"name": "iso-a-token", "userId": w.user})
	w.token, w.tokenSecret = str(p, "apiToken", "id"), str(p, "token")
	d := e.must(tok, `{ viewer { user { id } tenant { id } } auditEvents(first: 1) { nodes { id } } }`, nil)
	w.tenant, w.admin, w.audit = str(d, "viewer", "tenant", "id"), str(d, "viewer", "user", "id"), str(d, "auditEvents", "nodes", 0, "id")
	for k, v := range w.isoAll() {
		if v == "" {
			e.t.Fatalf("tenant A fixture %s has no id", k)
		}
	}
	return w
}

// isoBuildB creates tenant B's own objects, the targets of cross-tenant
// references.
func isoBuildB(e *env) isoWorld {
	e.t.Helper()
	var w isoWorld
	tok := e.adminB
	w.customer = e.createCustomer(tok, "乙客户")
	w.channel = e.createChannel(tok, "WEB", "乙官网", nil)
	w.conv = e.startConversation(tok, w.customer, w.channel)
	w.team = str(isoMust(e, tok, "createTeam", "team { id }", map[string]any{"name": "乙组"}), "team", "id")
	w.ticket = e.createTicket(tok, "乙工单", map[string]any{"customerId": w.customer})
	d := e.must(tok, `{ viewer { user { id } tenant { id } } apiTokens { nodes { id } } }`, nil)
	w.admin, w.user, w.tenant = str(d, "viewer", "user", "id"), str(d, "viewer", "user", "id"), str(d, "viewer", "tenant", "id")
	w.token = str(d, "apiTokens", "nodes", 0, "id")
	return w
}

// isoFingerprint captures everything a cross-tenant mutation could touch in
// one tenant, as seen by that tenant's admin.
func isoFingerprint(e *env, token string, w isoWorld) string {
	e.t.Helper()
	d := e.must(token, `query($cust: ID!, $ch: ID!, $conv: ID!, $tk: ID!, $user: ID!, $team: ID!) {
		cust: node(id: $cust) { ... on Customer { name phone email tags attributes updatedAt mergedInto { id } } }
		ch: node(id: $ch) { ... on Channel { name enabled settings secretKeys updatedAt } }
		conv: node(id: $conv) { ... on Conversation { status subject snoozedUntil updatedAt lastActivityAt assignee { id } team { id } customer { id } tickets { id } messages(first: 50) { totalCount nodes { id text } } } }
		tk: node(id: $tk) { ... on Ticket { title status updatedAt assignee { id } team { id } customer { id } conversations { id } } }
		user: node(id: $user) { ... on User { name email role active teams { id } } }
		team: node(id: $team) { ... on Team { name members { id } } }
		customers(filter: {includeMerged: true}) { totalCount }
		conversations { totalCount }
		tickets { totalCount }
		users { totalCount }
		teams { totalCount }
		channels { totalCount }
		apiTokens { totalCount nodes { id revokedAt } }
		auditEvents { totalCount }
	}`, map[string]any{"cust": w.customer, "ch": w.channel, "conv": w.conv, "tk": w.ticket, "user": w.user, "team": w.team})
	b, _ := json.Marshal(d)
	return string(b)
}

// isoCheckB fails when a response to tenant B carries tenant A's data or an
// internal error.
func isoCheckB(t *testing.T, r gqlResponse) {
	t.Helper()
	raw := string(r.Raw)
	if strings.Contains(strings.ToLower(raw), isoMarker) || strings.Contains(raw, isoSecret) {
		t.Errorf("tenant B's response carries tenant A's data: %s", raw)
	}
	for _, er := range r.Errors {
		if er.Extensions["code"] == "INTERNAL" {
			t.Errorf("internal error: %s", raw)
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		a := isoBuildA(e)
		b := isoBuildB(e)
		aIDs := a.isoAll()

		t.Run("secret setting never returned", func(t *testing.T) {
			r := e.do(e.adminA, `query($id: ID!) { node(id: $id) { ... on Channel { settings secretKeys } } auditEvents(first: 100) { nodes { after before } } }`,
				map[string]any{"id": a.channel})
			if strings.Contains(string(r.Raw), isoSecret) {
				t.Errorf("the channel secret is readable through the API: %s", r.Raw)
			}
			if keys := get(r.Data, "node", "secretKeys"); !slices.Contains(keys.([]any), any("secret")) {
				t.Errorf("secretKeys = %v, want it to name secret", keys)
			}
			if str(r.Data, "node", "settings", "corpId") != "ww-iso-a" {
				t.Errorf("non-secret setting lost: %v", get(r.Data, "node", "settings"))
			}
		})

		t.Run("node", func(t *testing.T) {
			for name, id := range aIDs {
				t.Run(name, func(t *testing.T) {
					// The ID is real: tenant A resolves it.
					ra := e.do(e.adminA, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
					if str(ra.Data, "node", "id") != id {
						t.Fatalf("tenant A cannot resolve its own %s: %s", name, ra.Raw)
					}
					r := e.do(e.adminB, `query($id: ID!) { node(id: $id) { id __typename } }`, map[string]any{"id": id})
					isoCheckB(t, r)
					if get(r.Data, "node") != nil {
						t.Errorf("tenant B resolved tenant A's %s: %s", name, r.Raw)
					}
					if r.Code() != "NOT_FOUND" {
						t.Errorf("node(A's %s) as B: code %q, want NOT_FOUND: %s", name, r.Code(), r.Raw)
					}
				})
			}
		})

		t.Run("nodes", func(t *testing.T) {
			var ids []string
			for _, id := range aIDs {
				ids = append(ids, id)
			}
			ids = append(ids, b.customer) // one of B's own, to show the call works
			r := e.do(e.adminB, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids})
			isoCheckB(t, r)
			if len(r.Errors) > 0 {
				t.Errorf("nodes: unexpected errors: %s", r.Raw)
			}
			got, _ := get(r.Data, "nodes").([]any)
			if len(got) != len(ids) {
				t.Fatalf("nodes returned %d entries for %d ids: %s", len(got), len(ids), r.Raw)
			}
			for i, n := range got[:len(got)-1] {
				if n != nil {
					t.Errorf("nodes[%d] (A's %s) = %v, want null", i, ids[i], n)
				}
			}
			if str(got[len(got)-1], "id") != b.customer {
				t.Errorf("nodes did not resolve B's own customer: %s", r.Raw)
			}
		})

		t.Run("lists", func(t *testing.T) {
			cases := []struct {
				name  string
				query string
				vars  map[string]any
				field string
				want  []string // exactly these IDs; nil: only check A's are absent
			}{
				{"customers", `{ x: customers(filter: {includeMerged: true}) { totalCount nodes { id } } }`, nil, "x", []string{b.customer}},
				{"customers by A's channel", `query($v: ID!) { x: customers(filter: {channelId: $v, includeMerged: true}) { totalCount nodes { id } } }`, map[string]any{"v": a.channel}, "x", []string{}},
				{"customers search", `{ x: customers(filter: {search: "ISO-A", includeMerged: true}) { totalCount nodes { id } } }`, nil, "x", []string{}},
				{"conversations", `{ x: conversations { totalCount nodes { id } } }`, nil, "x", []string{b.conv}},
				{"conversations by A's customer", `query($v: ID!) { x: conversations(filter: {customerId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.customer}, "x", []string{}},
				{"conversations by A's channel", `query($v: ID!) { x: conversations(filter: {channelId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.channel}, "x", []string{}},
				{"conversations by A's assignee", `query($v: ID!) { x: conversations(filter: {assigneeId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.user}, "x", []string{}},
				{"conversations by A's team", `query($v: ID!) { x: conversations(filter: {teamId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.team}, "x", []string{}},
				{"conversations search", `{ x: conversations(filter: {search: "ISO-A"}) { totalCount nodes { id } } }`, nil, "x", []string{}},
				{"messages of A's conversation", `query($v: ID!) { x: messages(filter: {conversationId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.conv}, "x", []string{}},
				{"messages of A's conversation incl. private", `query($v: ID!) { x: messages(filter: {conversationId: $v, includePrivate: true}) { totalCount nodes { id } } }`, map[string]any{"v": a.conv}, "x", []string{}},
				{"tickets", `{ x: tickets { totalCount nodes { id } } }`, nil, "x", []string{b.ticket}},
				{"tickets by A's customer", `query($v: ID!) { x: tickets(filter: {customerId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.customer}, "x", []string{}},
				{"tickets by A's assignee", `query($v: ID!) { x: tickets(filter: {assigneeId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.user}, "x", []string{}},
				{"tickets search", `{ x: tickets(filter: {search: "ISO-A"}) { totalCount nodes { id } } }`, nil, "x", []string{}},
				{"tickets by reference", `{ x: tickets(filter: {search: "T-1001"}) { totalCount nodes { id } } }`, nil, "x", []string{b.ticket}},
				{"users", `{ x: users { totalCount nodes { id } } }`, nil, "x", []string{b.admin}},
				{"users by A's team", `query($v: ID!) { x: users(filter: {teamId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.team}, "x", []string{}},
				{"teams", `{ x: teams { totalCount nodes { id } } }`, nil, "x", []string{b.team}},
				{"channels", `{ x: channels { totalCount nodes { id } } }`, nil, "x", []string{b.channel}},
				{"apiTokens", `{ x: apiTokens { totalCount nodes { id } } }`, nil, "x", []string{b.token}},
				{"apiTokens of A's user", `query($v: ID!) { x: apiTokens(filter: {userId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.user}, "x", []string{}},
				{"auditEvents", `{ x: auditEvents(first: 100) { totalCount nodes { id objectId actor { id } } } }`, nil, "x", nil},
				{"auditEvents of A's customer", `query($v: ID!) { x: auditEvents(filter: {objectId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.customer}, "x", []string{}},
				{"auditEvents by A's admin", `query($v: ID!) { x: auditEvents(filter: {actorId: $v}) { totalCount nodes { id } } }`, map[string]any{"v": a.admin}, "x", []string{}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r := e.do(e.adminB, c.query, c.vars)
					isoCheckB(t, r)
					if len(r.Errors) > 0 {
						t.Fatalf("errors: %s", r.Raw)
					}
					nodes, _ := get(r.Data, c.field, "nodes").([]any)
					var got []string
					for _, n := range nodes {
						got = append(got, str(n, "id"))
						for k, id := range aIDs {
							if str(n, "id") == id || str(n, "objectId") == id || str(n, "actor", "id") == id {
								t.Errorf("tenant B's %s lists tenant A's %s (%s)", c.name, k, id)
							}
						}
					}
					if c.want != nil {
						if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
							t.Errorf("%s as B = %v, want %v", c.name, got, c.want)
						}
						if total := get(r.Data, c.field, "totalCount"); total != float64(len(c.want)) {
							t.Errorf("%s totalCount as B = %v, want %d", c.name, total, len(c.want))
						}
					}
				})
			}
			// Tenant A's own log is not empty, so the checks above mean something.
			d := e.must(e.adminA, `query($v: ID!) { auditEvents(filter: {objectId: $v}) { totalCount } }`, map[string]any{"v": a.customer})
			if get(d, "auditEvents", "totalCount") == float64(0) {
				t.Errorf("tenant A has no audit event for its customer")
			}
		})

		t.Run("mutations", func(t *testing.T) {
			cases := []struct {
				name  string
				field string
				in    map[string]any
				want  []string // userErrors[0].field
			}{
				{"updateCustomer", "updateCustomer", map[string]any{"id": a.customer, "name": "hijacked", "phone": nil, "email": nil}, []string{"input", "id"}},
				{"mergeCustomers A into B", "mergeCustomers", map[string]any{"survivorId": b.customer, "mergedId": a.customer}, []string{"input", "mergedId"}},
				{"mergeCustomers B into A", "mergeCustomers", map[string]any{"survivorId": a.customer, "mergedId": b.customer}, []string{"input", "survivorId"}},
				{"startConversation A's customer", "startConversation", map[string]any{"customerId": a.customer, "channelId": b.channel, "text": "hi"}, []string{"input", "customerId"}},
				{"startConversation A's channel", "startConversation", map[string]any{"customerId": b.customer, "channelId": a.channel, "text": "hi"}, []string{"input", "channelId"}},
				{"sendMessage", "sendMessage", map[string]any{"conversationId": a.conv, "text": "hijacked"}, []string{"input", "conversationId"}},
				{"addNote", "addNote", map[string]any{"conversationId": a.conv, "text": "hijacked"}, []string{"input", "conversationId"}},
				{"assignConversation A's conversation", "assignConversation", map[string]any{"conversationId": a.conv, "assigneeId": nil, "teamId": nil}, []string{"input", "conversationId"}},
				{"assignConversation A's assignee", "assignConversation", map[string]any{"conversationId": b.conv, "assigneeId": a.user}, []string{"input", "assigneeId"}},
				{"assignConversation A's team", "assignConversation", map[string]any{"conversationId": b.conv, "teamId": a.team}, []string{"input", "teamId"}},
				{"setConversationStatus", "setConversationStatus", map[string]any{"conversationId": a.conv, "status": "RESOLVED"}, []string{"input", "conversationId"}},
				{"createTicket A's customer", "createTicket", map[string]any{"title": "x", "customerId": a.customer}, []string{"input", "customerId"}},
				{"createTicket A's conversation", "createTicket", map[string]any{"title": "x", "conversationId": a.conv}, []string{"input", "conversationId"}},
				{"createTicket A's assignee", "createTicket", map[string]any{"title": "x", "assigneeId": a.user}, []string{"input", "assigneeId"}},
				{"createTicket A's team", "createTicket", map[string]any{"title": "x", "teamId": a.team}, []string{"input", "teamId"}},
				{"updateTicket", "updateTicket", map[string]any{"id": a.ticket, "title": "hijacked", "assigneeId": nil}, []string{"input", "id"}},
				{"updateTicket A's assignee on B's ticket", "updateTicket", map[string]any{"id": b.ticket, "assigneeId": a.user}, []string{"input", "assigneeId"}},
				{"updateTicket A's team on B's ticket", "updateTicket", map[string]any{"id": b.ticket, "teamId": a.team}, []string{"input", "teamId"}},
				{"transitionTicket", "transitionTicket", map[string]any{"id": a.ticket, "status": "CLOSED"}, []string{"input", "id"}},
				{"linkConversationToTicket A's ticket", "linkConversationToTicket", map[string]any{"ticketId": a.ticket, "conversationId": b.conv}, []string{"input", "ticketId"}},
				{"linkConversationToTicket A's conversation", "linkConversationToTicket", map[string]any{"ticketId": b.ticket, "conversationId": a.conv}, []string{"input", "conversationId"}},
				{"createUser A's team", "createUser", map[string]any{"name": "乙新人", "email": "new@b.test", "role": "AGENT", "teamIds": []string{a.team}}, []string{"input", "teamIds"}},
				{"createTeam A's member", "createTeam", map[string]any{"name": "乙新组", "memberIds": []string{a.user}}, []string{"input", "memberIds"}},
				{"createApiToken A's user", "createApiToken", map[string]any{"name": "stolen", "userId": a.user}, []string{"input", "userId"}},
				{"createApiToken A's admin", "createApiToken", map[string]any{"name": "stolen", "userId": a.admin}, []string{"input", "userId"}},
				{"revokeApiToken", "revokeApiToken", map[string]any{"id": a.token}, []string{"input", "id"}},
			}
			beforeA, beforeB := isoFingerprint(e, e.adminA, a), isoFingerprint(e, e.adminB, b)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r := isoMutate(e, e.adminB, c.field, c.in)
					isoCheckB(t, r)
					if len(r.Errors) > 0 {
						t.Fatalf("top-level errors, want a NOT_FOUND userError: %s", r.Raw)
					}
					ue := get(r.Data, c.field, "userErrors")
					if str(ue, 0, "code") != "NOT_FOUND" {
						t.Errorf("userErrors = %v, want NOT_FOUND", ue)
					}
					field := isoFieldPath(ue)
					if !slices.Equal(field, c.want) {
						t.Errorf("userErrors[0].field = %v, want %v", field, c.want)
					}
					if afterA := isoFingerprint(e, e.adminA, a); afterA != beforeA {
						t.Errorf("tenant A changed:\nbefore %s\nafter  %s", beforeA, afterA)
						beforeA = afterA
					}
					if afterB := isoFingerprint(e, e.adminB, b); afterB != beforeB {
						t.Errorf("tenant B changed:\nbefore %s\nafter  %s", beforeB, afterB)
						beforeB = afterB
					}
				})
			}
			// A's token survived B's attempt to revoke it.
			r := e.do(a.tokenSecret, `{ viewer { user { id } } }`, nil)
			if r.Status != 200 || str(r.Data, "viewer", "user", "id") != a.user {
				t.Errorf("tenant A's token stopped working after B tried to revoke it: %d %s", r.Status, r.Raw)
			}
		})
	})
}

// isoFieldPath returns userErrors[0].field as strings (nil when absent).
func isoFieldPath(userErrors any) []string {
	var out []string
	fs, _ := get(userErrors, 0, "field").([]any)
	for _, f := range fs {
		s, _ := f.(string)
		out = append(out, s)
	}
	return out
}
