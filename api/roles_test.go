package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// roleRank orders the roles as the hub does.
var roleRank = map[string]int{"VIEWER": 1, "AGENT": 2, "ADMIN": 3}

// roleOp is one query or mutation with the least role that may run it.
type roleOp struct {
	name  string
	min   string
	field string // the root field to look at in data
	query string
	// vars builds fresh variables (creating what they need as the admin),
	// so an allowed call succeeds however often it runs.
	vars func() map[string]any
}

// roleSend posts query with a raw Authorization header ("" for none).
func roleSend(e *env, auth, query string) gqlResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/graphql", strings.NewReader(`{"query":`+fmt.Sprintf("%q", query)+`}`))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return e.send(req)
}

// roleWriteState is what a refused mutation must leave alone.
func roleWriteState(e *env, conv string) string {
	e.t.Helper()
	d := e.must(e.adminA, `query($c: ID!) { auditEvents { totalCount } messages(filter: {conversationId: $c}) { totalCount }
		customers(filter: {includeMerged: true}) { totalCount } conversations { totalCount } tickets { totalCount }
		users { totalCount } teams { totalCount } channels { totalCount } apiTokens { totalCount nodes { revokedAt } } }`,
		map[string]any{"c": conv})
	return fmt.Sprint(d)
}

// roleNoInternal fails on any INTERNAL error.
func roleNoInternal(t *testing.T, r gqlResponse) {
	t.Helper()
	for _, er := range r.Errors {
		if er.Extensions["code"] == "INTERNAL" {
			t.Errorf("internal error: %s", r.Raw)
		}
	}
}

func TestRoles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		viewerID, viewerTok := e.createUser(e.adminA, "只读小王", "viewer@a.test", "VIEWER")
		agentID, agentTok := e.createUser(e.adminA, "坐席小李", "agent@a.test", "AGENT")
		tokens := map[string]string{"VIEWER": viewerTok, "AGENT": agentTok, "ADMIN": e.adminA}

		cust := e.createCustomer(e.adminA, "角色测试客户")
		ch := e.createChannel(e.adminA, "WEB", "官网", nil)
		conv := e.startConversation(e.adminA, cust, ch)
		ticket := e.createTicket(e.adminA, "角色测试工单", map[string]any{"conversationId": conv})
		d := e.must(e.adminA, `{ apiTokens(first: 1) { nodes { id } } }`, nil)
		someToken := str(d, "apiTokens", "nodes", 0, "id")

		seq := 0
		next := func() int { seq++; return seq }
		in := func(m map[string]any) map[string]any { return map[string]any{"in": m} }
		mut := func(field, sel string) string {
			typ := strings.ToUpper(field[:1]) + field[1:] + "Input"
			return `mutation($in: ` + typ + `!) { ` + field + `(input: $in) { ` + sel + ` userErrors { field message code } } }`
		}
		noVars := func() map[string]any { return nil }
		newToken := func() string {
			d := e.must(e.adminA, mut("createApiToken", "apiToken { id }"), in(map[string]any{"name": fmt.Sprint("tmp", next()), "userId": agentID}))
			return str(d, "createApiToken", "apiToken", "id")
		}

		ops := []roleOp{
			// Queries.
			{"viewer", "VIEWER", "viewer", `{ viewer { role user { id } tenant { id } } }`, noVars},
			{"customers", "VIEWER", "customers", `{ customers { totalCount nodes { id name identities { id } } } }`, noVars},
			{"conversations", "VIEWER", "conversations", `{ conversations { totalCount nodes { id assignee { id } lastMessage { id } } } }`, noVars},
			{"messages", "VIEWER", "messages", `query($c: ID!) { messages(filter: {conversationId: $c}) { totalCount } }`, func() map[string]any { return map[string]any{"c": conv} }},
			{"tickets", "VIEWER", "tickets", `{ tickets { totalCount nodes { id reference allowedTransitions } } }`, noVars},
			{"users", "VIEWER", "users", `{ users { totalCount nodes { id email teams { id } } } }`, noVars},
			{"teams", "VIEWER", "teams", `{ teams { totalCount nodes { id members { id } } } }`, noVars},
			{"channels", "VIEWER", "channels", `{ channels { totalCount nodes { id settings secretKeys } } }`, noVars},
			{"node", "VIEWER", "node", `query($id: ID!) { node(id: $id) { id ... on Ticket { reference } } }`, func() map[string]any { return map[string]any{"id": ticket} }},
			{"nodes", "VIEWER", "nodes", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, func() map[string]any { return map[string]any{"ids": []string{cust, conv}} }},
			{"auditEvents", "ADMIN", "auditEvents", `{ auditEvents { totalCount } }`, noVars},
			{"apiTokens", "ADMIN", "apiTokens", `{ apiTokens { totalCount } }`, noVars},
			{"node of an apiToken", "ADMIN", "node", `query($id: ID!) { node(id: $id) { id } }`, func() map[string]any { return map[string]any{"id": someToken} }},

			// AGENT mutations.
			{"createCustomer", "AGENT", "createCustomer", mut("createCustomer", "customer { id }"), func() map[string]any { return in(map[string]any{"name": fmt.Sprint("客户", next())}) }},
			{"updateCustomer", "AGENT", "updateCustomer", mut("updateCustomer", "customer { id }"), func() map[string]any { return in(map[string]any{"id": cust, "name": fmt.Sprint("改名", next())}) }},
			{"mergeCustomers", "AGENT", "mergeCustomers", mut("mergeCustomers", "customer { id }"), func() map[string]any {
				return in(map[string]any{"survivorId": e.createCustomer(e.adminA, "留"), "mergedId": e.createCustomer(e.adminA, "并")})
			}},
			{"startConversation", "AGENT", "startConversation", mut("startConversation", "conversation { id }"), func() map[string]any {
				return in(map[string]any{"customerId": cust, "channelId": ch, "text": "您好"})
			}},
			{"sendMessage", "AGENT", "sendMessage", mut("sendMessage", "message { id }"), func() map[string]any { return in(map[string]any{"conversationId": conv, "text": "回复"}) }},
			{"addNote", "AGENT", "addNote", mut("addNote", "message { id }"), func() map[string]any { return in(map[string]any{"conversationId": conv, "text": "备注"}) }},
			{"assignConversation", "AGENT", "assignConversation", mut("assignConversation", "conversation { id }"), func() map[string]any {
				return in(map[string]any{"conversationId": conv, "assigneeId": agentID})
			}},
			{"setConversationStatus", "AGENT", "setConversationStatus", mut("setConversationStatus", "conversation { id }"), func() map[string]any {
				return in(map[string]any{"conversationId": conv, "status": "PENDING"})
			}},
			{"createTicket", "AGENT", "createTicket", mut("createTicket", "ticket { id }"), func() map[string]any { return in(map[string]any{"title": fmt.Sprint("工单", next())}) }},
			{"updateTicket", "AGENT", "updateTicket", mut("updateTicket", "ticket { id }"), func() map[string]any { return in(map[string]any{"id": ticket, "category": fmt.Sprint("类", next())}) }},
			{"transitionTicket", "AGENT", "transitionTicket", mut("transitionTicket", "ticket { id }"), func() map[string]any {
				return in(map[string]any{"id": e.createTicket(e.adminA, "待处理", nil), "status": "OPEN"})
			}},
			{"linkConversationToTicket", "AGENT", "linkConversationToTicket", mut("linkConversationToTicket", "ticket { id }"), func() map[string]any {
				return in(map[string]any{"ticketId": e.createTicket(e.adminA, "待关联", nil), "conversationId": conv})
			}},

			// ADMIN mutations.
			{"createChannel", "ADMIN", "createChannel", mut("createChannel", "channel { id }"), func() map[string]any {
				return in(map[string]any{"kind": "WEB", "name": fmt.Sprint("官网", next())})
			}},
			{"createUser", "ADMIN", "createUser", mut("createUser", "user { id }"), func() map[string]any {
				return in(map[string]any{"name": "新人", "email": fmt.Sprintf("new%d@a.test", next()), "role": "AGENT"})
			}},
			{"createTeam", "ADMIN", "createTeam", mut("createTeam", "team { id }"), func() map[string]any { return in(map[string]any{"name": fmt.Sprint("组", next())}) }},
			{"createApiToken", "ADMIN", "createApiToken", mut("createApiToken", "token apiToken { id }"), func() map[string]any {
				return in(map[string]any{"name": fmt.Sprint("tok", next()), "userId": agentID})
			}},
			{"revokeApiToken", "ADMIN", "revokeApiToken", mut("revokeApiToken", "apiToken { id revokedAt }"), func() map[string]any { return in(map[string]any{"id": newToken()}) }},
		}

		for _, op := range ops {
			for _, role := range []string{"VIEWER", "AGENT", "ADMIN"} {
				t.Run(op.name+"/"+role, func(t *testing.T) {
					vars := op.vars()
					isMutation := strings.HasPrefix(op.query, "mutation")
					var before string
					if isMutation {
						before = roleWriteState(e, conv)
					}
					r := e.do(tokens[role], op.query, vars)
					roleNoInternal(t, r)
					if roleRank[role] >= roleRank[op.min] {
						if len(r.Errors) > 0 || r.Status != http.StatusOK {
							t.Fatalf("%s may run %s, got %d %s", role, op.name, r.Status, r.Raw)
						}
						if get(r.Data, op.field) == nil {
							t.Fatalf("%s: data.%s is null: %s", op.name, op.field, r.Raw)
						}
						if ue, ok := get(r.Data, op.field, "userErrors").([]any); ok && len(ue) > 0 {
							t.Fatalf("%s as %s: userErrors %v", op.name, role, ue)
						}
						if op.name == "viewer" && str(r.Data, "viewer", "role") != role {
							t.Errorf("viewer.role = %q, want %s", str(r.Data, "viewer", "role"), role)
						}
						return
					}
					if r.Code() != "FORBIDDEN" {
						t.Errorf("%s ran %s (needs %s): code %q, %s", role, op.name, op.min, r.Code(), r.Raw)
					}
					if get(r.Data, op.field) != nil {
						t.Errorf("%s as %s: data.%s = %v, want null", op.name, role, op.field, get(r.Data, op.field))
					}
					if isMutation {
						if after := roleWriteState(e, conv); after != before {
							t.Errorf("refused %s still wrote:\nbefore %s\nafter  %s", op.name, before, after)
						}
					}
				})
			}
		}

		t.Run("VIEWER cannot be assigned", func(t *testing.T) {
			before := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { assignee { id } } } }`, map[string]any{"id": conv})
			for _, c := range []struct {
				field string
				in    map[string]any
			}{
				{"assignConversation", map[string]any{"conversationId": conv, "assigneeId": viewerID}},
				{"createTicket", map[string]any{"title": "给只读", "assigneeId": viewerID}},
				{"updateTicket", map[string]any{"id": ticket, "assigneeId": viewerID}},
			} {
				r := e.do(e.adminA, mut(c.field, ""), in(c.in))
				roleNoInternal(t, r)
				ue := get(r.Data, c.field, "userErrors")
				if str(ue, 0, "code") != "BAD_USER_INPUT" || fmt.Sprint(get(ue, 0, "field")) != "[input assigneeId]" {
					t.Errorf("%s with a VIEWER assignee: %s", c.field, r.Raw)
				}
			}
			after := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { assignee { id } } } }`, map[string]any{"id": conv})
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Errorf("assignee changed: %v → %v", before, after)
			}
			// An AGENT can be.
			d := e.must(e.adminA, mut("assignConversation", "conversation { assignee { id } }"), in(map[string]any{"conversationId": conv, "assigneeId": agentID}))
			if str(d, "assignConversation", "conversation", "assignee", "id") != agentID {
				t.Errorf("AGENT not assigned: %v", d)
			}
		})

		t.Run("authentication", func(t *testing.T) {
			cases := []struct{ name, auth string }{
				{"no header", ""},
				{"empty bearer", "Bearer "},
				{"basic scheme", "Basic YWRtaW46YWRtaW4="},
				{"token without scheme", e.adminA},
				{"malformed token", "Bearer not-a-token"},
				{"bare prefix", "Bearer khb_"},
				{"unknown token", "Bearer khb_" + strings.Repeat("A", 43)},
				{"tampered token", "Bearer " + e.adminA[:len(e.adminA)-1] + "x"},
				{"overlong token", "Bearer khb_" + strings.Repeat("A", 300)},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r := roleSend(e, c.auth, `{ viewer { role } }`)
					if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" || r.Data != nil {
						t.Errorf("status %d, code %q, data %v: %s; want 401 UNAUTHENTICATED", r.Status, r.Code(), r.Data, r.Raw)
					}
				})
			}
			// Control: the same request with a good token passes.
			if r := roleSend(e, "bearer "+e.adminA, `{ viewer { role } }`); r.Status != http.StatusOK || str(r.Data, "viewer", "role") != "ADMIN" {
				t.Errorf("good token refused: %d %s", r.Status, r.Raw)
			}
		})

		t.Run("revoked token", func(t *testing.T) {
			d := e.must(e.adminA, mut("createApiToken", "token apiToken { id }"), in(map[string]any{"name": "soon revoked", "userId": agentID}))
			secret, id := str(d, "createApiToken", "token"), str(d, "createApiToken", "apiToken", "id")
			if r := e.do(secret, `{ viewer { role } }`, nil); r.Status != http.StatusOK || str(r.Data, "viewer", "role") != "AGENT" {
				t.Fatalf("fresh token refused: %d %s", r.Status, r.Raw)
			}
			d = e.must(e.adminA, mut("revokeApiToken", "apiToken { revokedAt }"), in(map[string]any{"id": id}))
			if get(d, "revokeApiToken", "apiToken", "revokedAt") == nil {
				t.Errorf("revokedAt not set: %v", d)
			}
			r := e.do(secret, `{ viewer { role } }`, nil)
			if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
				t.Errorf("revoked token: status %d, %s; want 401 UNAUTHENTICATED", r.Status, r.Raw)
			}
			// Other tokens of the same user keep working.
			if r := e.do(agentTok, `{ viewer { role } }`, nil); r.Status != http.StatusOK {
				t.Errorf("revoking one token refused another: %d %s", r.Status, r.Raw)
			}
		})

		t.Run("expired token", func(t *testing.T) {
			expires := time.Now().Add(2 * time.Second)
			mk := func(name string) string {
				d := e.must(e.adminA, mut("createApiToken", "token apiToken { expiresAt }"),
					in(map[string]any{"name": name, "userId": agentID, "expiresAt": expires.UTC().Format(time.RFC3339Nano)}))
				return str(d, "createApiToken", "token")
			}
			used, unused := mk("used before expiry"), mk("never used")
			if r := e.do(used, `{ viewer { role } }`, nil); r.Status != http.StatusOK {
				t.Fatalf("token refused before it expired: %d %s", r.Status, r.Raw)
			}
			time.Sleep(time.Until(expires) + 250*time.Millisecond)
			for name, tok := range map[string]string{"used before expiry": used, "never used": unused} {
				r := e.do(tok, `{ viewer { role } }`, nil)
				if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
					t.Errorf("expired token (%s): status %d, %s; want 401 UNAUTHENTICATED", name, r.Status, r.Raw)
				}
			}
		})

		t.Run("VIEWER reads every list", func(t *testing.T) {
			// Reads return the same rows to VIEWER as to ADMIN.
			q := `{ customers { totalCount } conversations { totalCount } tickets { totalCount } users { totalCount } teams { totalCount } channels { totalCount } }`
			v, a := e.must(viewerTok, q, nil), e.must(e.adminA, q, nil)
			if fmt.Sprint(v) != fmt.Sprint(a) {
				t.Errorf("VIEWER sees %v, ADMIN %v", v, a)
			}
			if get(v, "customers", "totalCount") == float64(0) || get(v, "users", "totalCount").(float64) < 3 {
				t.Errorf("VIEWER's lists are not the tenant's: %v", v)
			}
		})
	})
}
