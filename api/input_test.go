package api_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// inputLeak matches what a database error would put in a message.
var inputLeak = regexp.MustCompile(`\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b|(?i)sql|gorm|constraint|duplicate entry|syntax error`)

// inputCheckClean fails when any error of r (top-level or userError) is
// INTERNAL or reads like a database error.
func inputCheckClean(t *testing.T, r gqlResponse) {
	t.Helper()
	var msgs []string
	for _, er := range r.Errors {
		if er.Extensions["code"] == "INTERNAL" {
			t.Errorf("INTERNAL error: %s", r.Raw)
		}
		msgs = append(msgs, er.Message)
	}
	for _, v := range r.Data {
		ue, _ := get(v, "userErrors").([]any)
		for _, u := range ue {
			msgs = append(msgs, str(u, "message"))
		}
	}
	for _, m := range msgs {
		if inputLeak.MatchString(m) {
			t.Errorf("error message leaks database details: %q", m)
		}
	}
}

// inputMutation builds `mutation($in: XInput!) { x(input: $in) { userErrors } }`.
func inputMutation(field string) string {
	typ := strings.ToUpper(field[:1]) + field[1:] + "Input"
	return `mutation($in: ` + typ + `!) { ` + field + `(input: $in) { userErrors { field message code } } }`
}

// inputIDs are the fixtures the bad inputs refer to.
type inputIDs struct {
	cust, cust2, merged, ch, conv, ticket, closed, resolved, team, agent, viewer, token string
}

// inputState is everything a refused mutation must leave as it was.
func inputState(e *env, ids inputIDs) string {
	e.t.Helper()
	d := e.must(e.adminA, `query($conv: ID!, $tk: ID!, $cust: ID!, $tok: ID!) {
		customers(filter: {includeMerged: true}) { totalCount }
		conversations { totalCount } tickets { totalCount } users { totalCount } teams { totalCount nodes { members { id } } }
		channels { totalCount } apiTokens { totalCount } auditEvents { totalCount }
		conv: node(id: $conv) { ... on Conversation { status snoozedUntil updatedAt assignee { id } team { id } tickets { id } messages { totalCount } } }
		tk: node(id: $tk) { ... on Ticket { title status category updatedAt assignee { id } conversations { id } } }
		cust: node(id: $cust) { ... on Customer { name phone email tags attributes updatedAt mergedInto { id } } }
		tok: node(id: $tok) { ... on ApiToken { revokedAt } }
	}`, map[string]any{"conv": ids.conv, "tk": ids.ticket, "cust": ids.cust, "tok": ids.token})
	b, _ := json.Marshal(d)
	return string(b)
}

func inputSetup(e *env) inputIDs {
	e.t.Helper()
	var ids inputIDs
	ids.cust = e.createCustomer(e.adminA, "张三")
	ids.cust2 = e.createCustomer(e.adminA, "李四")
	ids.merged = e.createCustomer(e.adminA, "张三(旧)")
	e.must(e.adminA, `mutation($in: MergeCustomersInput!) { mergeCustomers(input: $in) { userErrors { message } } }`,
		map[string]any{"in": map[string]any{"survivorId": ids.cust2, "mergedId": ids.merged}})
	ids.ch = e.createChannel(e.adminA, "WEB", "官网", nil)
	ids.conv = e.startConversation(e.adminA, ids.cust, ids.ch)
	ids.ticket = e.createTicket(e.adminA, "包裹丢失", map[string]any{"conversationId": ids.conv})
	ids.closed = e.createTicket(e.adminA, "已关闭", nil)
	ids.resolved = e.createTicket(e.adminA, "已解决", nil)
	for id, st := range map[string]string{ids.closed: "CLOSED", ids.resolved: "RESOLVED"} {
		e.must(e.adminA, `mutation($in: TransitionTicketInput!) { transitionTicket(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"id": id, "status": st}})
	}
	d := e.must(e.adminA, `mutation { createTeam(input: {name: "售后组"}) { team { id } userErrors { message } } }`, nil)
	ids.team = str(d, "createTeam", "team", "id")
	ids.agent, _ = e.createUser(e.adminA, "坐席", "agent@a.test", "AGENT")
	ids.viewer, _ = e.createUser(e.adminA, "只读", "viewer@a.test", "VIEWER")
	d = e.must(e.adminA, `query($u: ID!) { apiTokens(filter: {userId: $u}) { nodes { id } } }`, map[string]any{"u": ids.agent})
	ids.token = str(d, "apiTokens", "nodes", 0, "id")
	return ids
}

func TestBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ids := inputSetup(e)
		long := func(n int) string { return strings.Repeat("长", n) }
		big := strings.Repeat("x", 70000)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		att := func(name, url string, size int) map[string]any {
			return map[string]any{"name": name, "mimeType": "image/png", "size": size, "url": url}
		}
		manyAtts := make([]map[string]any, 21)
		for i := range manyAtts {
			manyAtts[i] = att("a.png", "https://cdn.example.com/a.png", 1)
		}
		manyTags := make([]string, 51)
		for i := range manyTags {
			manyTags[i] = fmt.Sprint("tag", i)
		}

		cases := []struct {
			name    string
			field   string // the mutation
			in      map[string]any
			code    string
			path    string // userErrors[0].field, joined by "."
			message string // a substring of the message, when it matters
		}{
			// createCustomer
			{"empty name", "createCustomer", map[string]any{"name": ""}, "BAD_USER_INPUT", "input.name", ""},
			{"blank name", "createCustomer", map[string]any{"name": " \t\n "}, "BAD_USER_INPUT", "input.name", ""},
			{"201-char name", "createCustomer", map[string]any{"name": long(201)}, "BAD_USER_INPUT", "input.name", "200"},
			{"invalid email", "createCustomer", map[string]any{"name": "x", "email": "not-an-email"}, "BAD_USER_INPUT", "input.email", ""},
			{"email with display name", "createCustomer", map[string]any{"name": "x", "email": "X <x@example.com>"}, "BAD_USER_INPUT", "input.email", ""},
			{"phone abc", "createCustomer", map[string]any{"name": "x", "phone": "abc"}, "BAD_USER_INPUT", "input.phone", ""},
			{"phone too short", "createCustomer", map[string]any{"name": "x", "phone": "12"}, "BAD_USER_INPUT", "input.phone", ""},
			{"empty tag", "createCustomer", map[string]any{"name": "x", "tags": []string{"ok", " "}}, "BAD_USER_INPUT", "input.tags", ""},
			{"51 tags", "createCustomer", map[string]any{"name": "x", "tags": manyTags}, "BAD_USER_INPUT", "input.tags", ""},
			{"empty attribute name", "createCustomer", map[string]any{"name": "x", "attributes": map[string]any{"": 1}}, "BAD_USER_INPUT", "input.attributes", ""},
			{"70 KB attribute", "createCustomer", map[string]any{"name": "x", "attributes": map[string]any{"note": big}}, "BAD_USER_INPUT", "input.attributes", ""},

			// updateCustomer
			{"malformed id", "updateCustomer", map[string]any{"id": "!!!", "name": "x"}, "BAD_USER_INPUT", "input.id", ""},
			{"conversation id as customer", "updateCustomer", map[string]any{"id": ids.conv, "name": "x"}, "NOT_FOUND", "input.id", ""},
			{"blank name", "updateCustomer", map[string]any{"id": ids.cust, "name": "  "}, "BAD_USER_INPUT", "input.name", ""},
			{"201-char name", "updateCustomer", map[string]any{"id": ids.cust, "name": long(201)}, "BAD_USER_INPUT", "input.name", ""},
			{"invalid email", "updateCustomer", map[string]any{"id": ids.cust, "email": "a@@b"}, "BAD_USER_INPUT", "input.email", ""},
			{"phone abc", "updateCustomer", map[string]any{"id": ids.cust, "phone": "abc"}, "BAD_USER_INPUT", "input.phone", ""},
			{"good name, bad phone", "updateCustomer", map[string]any{"id": ids.cust, "name": "新名字", "phone": "abc"}, "BAD_USER_INPUT", "input.phone", ""},
			{"merged customer", "updateCustomer", map[string]any{"id": ids.merged, "name": "x"}, "CONFLICT", "input.id", ""},

			// mergeCustomers
			{"into itself", "mergeCustomers", map[string]any{"survivorId": ids.cust, "mergedId": ids.cust}, "BAD_USER_INPUT", "input.mergedId", ""},
			{"malformed survivor", "mergeCustomers", map[string]any{"survivorId": "!!!", "mergedId": ids.cust}, "BAD_USER_INPUT", "input.survivorId", ""},
			{"channel id as merged", "mergeCustomers", map[string]any{"survivorId": ids.cust, "mergedId": ids.ch}, "NOT_FOUND", "input.mergedId", ""},
			{"already merged", "mergeCustomers", map[string]any{"survivorId": ids.cust, "mergedId": ids.merged}, "CONFLICT", "input.mergedId", ""},

			// createChannel
			{"empty name", "createChannel", map[string]any{"kind": "WEB", "name": ""}, "BAD_USER_INPUT", "input.name", ""},
			{"201-char name", "createChannel", map[string]any{"kind": "WEB", "name": long(201)}, "BAD_USER_INPUT", "input.name", ""},
			{"empty setting name", "createChannel", map[string]any{"kind": "WEB", "name": "x", "settings": map[string]any{" ": "v"}}, "BAD_USER_INPUT", "input.settings", ""},
			{"70 KB setting", "createChannel", map[string]any{"kind": "WEB", "name": "x", "settings": map[string]any{"banner": big}}, "BAD_USER_INPUT", "input.settings", ""},
			{"70 KB secret setting", "createChannel", map[string]any{"kind": "APP", "name": "x", "settings": map[string]any{"secret": big}}, "BAD_USER_INPUT", "input.settings", ""},

			// startConversation
			{"malformed customer", "startConversation", map[string]any{"customerId": "!!!", "channelId": ids.ch}, "BAD_USER_INPUT", "input.customerId", ""},
			{"channel id as customer", "startConversation", map[string]any{"customerId": ids.ch, "channelId": ids.ch}, "NOT_FOUND", "input.customerId", ""},
			{"customer id as channel", "startConversation", map[string]any{"customerId": ids.cust, "channelId": ids.cust}, "NOT_FOUND", "input.channelId", ""},
			{"blank first message", "startConversation", map[string]any{"customerId": ids.cust, "channelId": ids.ch, "text": "   "}, "BAD_USER_INPUT", "input.text", ""},
			{"4001-char first message", "startConversation", map[string]any{"customerId": ids.cust, "channelId": ids.ch, "text": long(4001)}, "BAD_USER_INPUT", "input.text", ""},
			{"501-char subject", "startConversation", map[string]any{"customerId": ids.cust, "channelId": ids.ch, "subject": long(501)}, "BAD_USER_INPUT", "input.subject", ""},
			{"merged customer", "startConversation", map[string]any{"customerId": ids.merged, "channelId": ids.ch}, "CONFLICT", "input.customerId", ""},

			// sendMessage
			{"empty text", "sendMessage", map[string]any{"conversationId": ids.conv, "text": ""}, "BAD_USER_INPUT", "input.text", ""},
			{"blank text", "sendMessage", map[string]any{"conversationId": ids.conv, "text": " \n "}, "BAD_USER_INPUT", "input.text", ""},
			{"4001-char text", "sendMessage", map[string]any{"conversationId": ids.conv, "text": long(4001)}, "BAD_USER_INPUT", "input.text", "4000"},
			{"malformed conversation", "sendMessage", map[string]any{"conversationId": "!!!", "text": "x"}, "BAD_USER_INPUT", "input.conversationId", ""},
			{"customer id as conversation", "sendMessage", map[string]any{"conversationId": ids.cust, "text": "x"}, "NOT_FOUND", "input.conversationId", ""},
			{"javascript url", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": []any{att("a.png", "javascript:alert(1)", 1)}}, "BAD_USER_INPUT", "input.attachments", ""},
			{"ftp url", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": []any{att("a.png", "ftp://example.com/a.png", 1)}}, "BAD_USER_INPUT", "input.attachments", ""},
			{"negative size", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": []any{att("a.png", "https://cdn.example.com/a.png", -1)}}, "BAD_USER_INPUT", "input.attachments", ""},
			{"unnamed attachment", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": []any{att(" ", "https://cdn.example.com/a.png", 1)}}, "BAD_USER_INPUT", "input.attachments", ""},
			{"70 KB attachment url", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": []any{att("a.png", "https://cdn.example.com/"+big, 1)}}, "BAD_USER_INPUT", "input.attachments", ""},
			{"21 attachments", "sendMessage", map[string]any{"conversationId": ids.conv, "text": "x", "attachments": manyAtts}, "BAD_USER_INPUT", "input.attachments", ""},

			// addNote
			{"empty text", "addNote", map[string]any{"conversationId": ids.conv, "text": ""}, "BAD_USER_INPUT", "input.text", ""},
			{"4001-char text", "addNote", map[string]any{"conversationId": ids.conv, "text": long(4001)}, "BAD_USER_INPUT", "input.text", ""},
			{"ticket id as conversation", "addNote", map[string]any{"conversationId": ids.ticket, "text": "x"}, "NOT_FOUND", "input.conversationId", ""},

			// assignConversation
			{"malformed conversation", "assignConversation", map[string]any{"conversationId": "!!!", "assigneeId": ids.agent}, "BAD_USER_INPUT", "input.conversationId", ""},
			{"customer id as conversation", "assignConversation", map[string]any{"conversationId": ids.cust, "assigneeId": ids.agent}, "NOT_FOUND", "input.conversationId", ""},
			{"team id as assignee", "assignConversation", map[string]any{"conversationId": ids.conv, "assigneeId": ids.team}, "NOT_FOUND", "input.assigneeId", ""},
			{"malformed assignee", "assignConversation", map[string]any{"conversationId": ids.conv, "assigneeId": "!!!"}, "BAD_USER_INPUT", "input.assigneeId", ""},
			{"VIEWER assignee", "assignConversation", map[string]any{"conversationId": ids.conv, "assigneeId": ids.viewer}, "BAD_USER_INPUT", "input.assigneeId", ""},
			{"user id as team", "assignConversation", map[string]any{"conversationId": ids.conv, "teamId": ids.agent}, "NOT_FOUND", "input.teamId", ""},
			{"good assignee, bad team", "assignConversation", map[string]any{"conversationId": ids.conv, "assigneeId": ids.agent, "teamId": ids.cust}, "NOT_FOUND", "input.teamId", ""},

			// setConversationStatus
			{"snooze without time", "setConversationStatus", map[string]any{"conversationId": ids.conv, "status": "SNOOZED"}, "BAD_USER_INPUT", "input.snoozedUntil", ""},
			{"snooze into the past", "setConversationStatus", map[string]any{"conversationId": ids.conv, "status": "SNOOZED", "snoozedUntil": past}, "BAD_USER_INPUT", "input.snoozedUntil", ""},
			{"snoozedUntil with OPEN", "setConversationStatus", map[string]any{"conversationId": ids.conv, "status": "OPEN", "snoozedUntil": future}, "BAD_USER_INPUT", "input.snoozedUntil", ""},
			{"customer id as conversation", "setConversationStatus", map[string]any{"conversationId": ids.cust, "status": "RESOLVED"}, "NOT_FOUND", "input.conversationId", ""},

			// createTicket
			{"empty title", "createTicket", map[string]any{"title": ""}, "BAD_USER_INPUT", "input.title", ""},
			{"501-char title", "createTicket", map[string]any{"title": long(501)}, "BAD_USER_INPUT", "input.title", ""},
			{"101-char category", "createTicket", map[string]any{"title": "x", "category": long(101)}, "BAD_USER_INPUT", "input.category", ""},
			{"20001-char description", "createTicket", map[string]any{"title": "x", "description": long(20001)}, "BAD_USER_INPUT", "input.description", ""},
			{"conversation id as customer", "createTicket", map[string]any{"title": "x", "customerId": ids.conv}, "NOT_FOUND", "input.customerId", ""},
			{"customer id as conversation", "createTicket", map[string]any{"title": "x", "conversationId": ids.cust}, "NOT_FOUND", "input.conversationId", ""},
			{"malformed team", "createTicket", map[string]any{"title": "x", "teamId": "!!!"}, "BAD_USER_INPUT", "input.teamId", ""},
			{"VIEWER assignee", "createTicket", map[string]any{"title": "x", "assigneeId": ids.viewer}, "BAD_USER_INPUT", "input.assigneeId", ""},

			// updateTicket
			{"malformed id", "updateTicket", map[string]any{"id": "!!!", "title": "x"}, "BAD_USER_INPUT", "input.id", ""},
			{"customer id as ticket", "updateTicket", map[string]any{"id": ids.cust, "title": "x"}, "NOT_FOUND", "input.id", ""},
			{"blank title", "updateTicket", map[string]any{"id": ids.ticket, "title": " "}, "BAD_USER_INPUT", "input.title", ""},
			{"good title, bad category", "updateTicket", map[string]any{"id": ids.ticket, "title": "新标题", "category": long(101)}, "BAD_USER_INPUT", "input.category", ""},
			{"VIEWER assignee", "updateTicket", map[string]any{"id": ids.ticket, "assigneeId": ids.viewer}, "BAD_USER_INPUT", "input.assigneeId", ""},
			{"closed ticket", "updateTicket", map[string]any{"id": ids.closed, "title": "x"}, "CONFLICT", "input.id", ""},

			// transitionTicket
			{"CLOSED to OPEN", "transitionTicket", map[string]any{"id": ids.closed, "status": "OPEN"}, "BAD_USER_INPUT", "input.status", "allowed: none"},
			{"RESOLVED to PENDING", "transitionTicket", map[string]any{"id": ids.resolved, "status": "PENDING"}, "BAD_USER_INPUT", "input.status", "allowed: OPEN, CLOSED"},
			{"NEW to NEW", "transitionTicket", map[string]any{"id": ids.ticket, "status": "NEW"}, "BAD_USER_INPUT", "input.status", "allowed: OPEN, PENDING, RESOLVED, CLOSED"},
			{"2001-char comment", "transitionTicket", map[string]any{"id": ids.ticket, "status": "OPEN", "comment": long(2001)}, "BAD_USER_INPUT", "input.comment", ""},
			{"conversation id as ticket", "transitionTicket", map[string]any{"id": ids.conv, "status": "OPEN"}, "NOT_FOUND", "input.id", ""},

			// linkConversationToTicket
			{"malformed ticket", "linkConversationToTicket", map[string]any{"ticketId": "!!!", "conversationId": ids.conv}, "BAD_USER_INPUT", "input.ticketId", ""},
			{"conversation id as ticket", "linkConversationToTicket", map[string]any{"ticketId": ids.conv, "conversationId": ids.conv}, "NOT_FOUND", "input.ticketId", ""},
			{"ticket id as conversation", "linkConversationToTicket", map[string]any{"ticketId": ids.closed, "conversationId": ids.closed}, "NOT_FOUND", "input.conversationId", ""},

			// createUser
			{"empty name", "createUser", map[string]any{"name": "", "email": "u1@a.test", "role": "AGENT"}, "BAD_USER_INPUT", "input.name", ""},
			{"201-char name", "createUser", map[string]any{"name": long(201), "email": "u1@a.test", "role": "AGENT"}, "BAD_USER_INPUT", "input.name", ""},
			{"invalid email", "createUser", map[string]any{"name": "x", "email": "u1.a.test", "role": "AGENT"}, "BAD_USER_INPUT", "input.email", ""},
			{"duplicate email", "createUser", map[string]any{"name": "x", "email": "agent@a.test", "role": "AGENT"}, "CONFLICT", "input.email", ""},
			{"duplicate email, other case", "createUser", map[string]any{"name": "x", "email": "Admin@A.test", "role": "VIEWER"}, "CONFLICT", "input.email", ""},
			{"65-char dingtalk id", "createUser", map[string]any{"name": "x", "email": "u1@a.test", "role": "AGENT", "dingtalkUserId": strings.Repeat("d", 65)}, "BAD_USER_INPUT", "input.dingtalkUserId", ""},
			{"malformed team", "createUser", map[string]any{"name": "x", "email": "u1@a.test", "role": "AGENT", "teamIds": []string{"!!!"}}, "BAD_USER_INPUT", "input.teamIds", ""},
			{"customer id as team", "createUser", map[string]any{"name": "x", "email": "u1@a.test", "role": "AGENT", "teamIds": []string{ids.team, ids.cust}}, "NOT_FOUND", "input.teamIds", ""},

			// createTeam
			{"empty name", "createTeam", map[string]any{"name": ""}, "BAD_USER_INPUT", "input.name", ""},
			{"201-char name", "createTeam", map[string]any{"name": long(201)}, "BAD_USER_INPUT", "input.name", ""},
			{"1001-char description", "createTeam", map[string]any{"name": "x", "description": long(1001)}, "BAD_USER_INPUT", "input.description", ""},
			{"duplicate name", "createTeam", map[string]any{"name": "售后组"}, "CONFLICT", "input.name", ""},
			{"duplicate name with spaces", "createTeam", map[string]any{"name": "  售后组 "}, "CONFLICT", "input.name", ""},
			{"team id as member", "createTeam", map[string]any{"name": "新组", "memberIds": []string{ids.agent, ids.team}}, "NOT_FOUND", "input.memberIds", ""},
			{"malformed member", "createTeam", map[string]any{"name": "新组", "memberIds": []string{"!!!"}}, "BAD_USER_INPUT", "input.memberIds", ""},

			// createApiToken
			{"empty name", "createApiToken", map[string]any{"name": " "}, "BAD_USER_INPUT", "input.name", ""},
			{"expiry in the past", "createApiToken", map[string]any{"name": "x", "expiresAt": past}, "BAD_USER_INPUT", "input.expiresAt", ""},
			{"team id as user", "createApiToken", map[string]any{"name": "x", "userId": ids.team}, "NOT_FOUND", "input.userId", ""},
			{"malformed user", "createApiToken", map[string]any{"name": "x", "userId": "!!!"}, "BAD_USER_INPUT", "input.userId", ""},

			// revokeApiToken
			{"malformed id", "revokeApiToken", map[string]any{"id": "!!!"}, "BAD_USER_INPUT", "input.id", ""},
			{"user id as token", "revokeApiToken", map[string]any{"id": ids.agent}, "NOT_FOUND", "input.id", ""},
		}

		covered := map[string]bool{}
		for _, c := range cases {
			covered[c.field] = true
			t.Run(c.field+"/"+c.name, func(t *testing.T) {
				before := inputState(e, ids)
				r := e.do(e.adminA, inputMutation(c.field), map[string]any{"in": c.in})
				inputCheckClean(t, r)
				if len(r.Errors) > 0 {
					t.Fatalf("top-level errors, want a userError: %s", r.Raw)
				}
				ue, _ := get(r.Data, c.field, "userErrors").([]any)
				if len(ue) == 0 {
					t.Fatalf("accepted, want %s on %s", c.code, c.path)
				}
				path := inputFieldPath(ue)
				if str(ue, 0, "code") != c.code || strings.Join(path, ".") != c.path {
					t.Errorf("userErrors[0] = %s %v (%s), want %s on %s", str(ue, 0, "code"), path, str(ue, 0, "message"), c.code, c.path)
				}
				if !strings.Contains(str(ue, 0, "message"), c.message) {
					t.Errorf("message %q does not contain %q", str(ue, 0, "message"), c.message)
				}
				if after := inputState(e, ids); after != before {
					t.Errorf("refused input still wrote:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
		// Every mutation of the schema has at least one bad-input case.
		for _, m := range []string{"createCustomer", "updateCustomer", "mergeCustomers", "createChannel", "startConversation",
			"sendMessage", "addNote", "assignConversation", "setConversationStatus", "createTicket", "updateTicket",
			"transitionTicket", "linkConversationToTicket", "createUser", "createTeam", "createApiToken", "revokeApiToken"} {
			if !covered[m] {
				t.Errorf("no bad-input case for %s", m)
			}
		}

		// Requests the schema itself refuses: a top-level error with a
		// client-side code, never INTERNAL, and nothing written.
		t.Run("schema violations", func(t *testing.T) {
			cases := []struct {
				name  string
				query string
				vars  map[string]any
			}{
				{"unknown role in variables", inputMutation("createUser"), map[string]any{"in": map[string]any{"name": "x", "email": "god@a.test", "role": "GOD"}}},
				{"unknown role literal", `mutation { createUser(input: {name: "x", email: "god@a.test", role: GOD}) { userErrors { code } } }`, nil},
				{"unknown channel kind", inputMutation("createChannel"), map[string]any{"in": map[string]any{"kind": "SMOKE_SIGNAL", "name": "x"}}},
				{"unknown conversation status", inputMutation("setConversationStatus"), map[string]any{"in": map[string]any{"conversationId": ids.conv, "status": "SLEEPING"}}},
				{"unknown priority", inputMutation("createTicket"), map[string]any{"in": map[string]any{"title": "x", "priority": "CRITICAL"}}},
				{"unknown ticket status", inputMutation("transitionTicket"), map[string]any{"in": map[string]any{"id": ids.ticket, "status": "DONE"}}},
				{"missing required field", inputMutation("createCustomer"), map[string]any{"in": map[string]any{"phone": "13800000000"}}},
				{"null required field", inputMutation("sendMessage"), map[string]any{"in": map[string]any{"conversationId": ids.conv, "text": nil}}},
				{"unknown input field", inputMutation("createCustomer"), map[string]any{"in": map[string]any{"name": "x", "isAdmin": true}}},
				{"string for an Int", inputMutation("sendMessage"), map[string]any{"in": map[string]any{"conversationId": ids.conv, "text": "x",
					"attachments": []any{map[string]any{"name": "a", "mimeType": "image/png", "size": "big", "url": "https://x.example/a"}}}}},
				{"string for JSON attributes", inputMutation("createCustomer"), map[string]any{"in": map[string]any{"name": "x", "attributes": "abc"}}},
				{"malformed time", inputMutation("setConversationStatus"), map[string]any{"in": map[string]any{"conversationId": ids.conv, "status": "SNOOZED", "snoozedUntil": "tomorrow"}}},
				{"malformed expiresAt", inputMutation("createApiToken"), map[string]any{"in": map[string]any{"name": "x", "expiresAt": "soon"}}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := inputState(e, ids)
					r := e.do(e.adminA, c.query, c.vars)
					inputCheckClean(t, r)
					if len(r.Errors) == 0 {
						t.Fatalf("accepted: %s", r.Raw)
					}
					if code := r.Code(); code != "GRAPHQL_VALIDATION_FAILED" && code != "BAD_USER_INPUT" {
						t.Errorf("errors[0].extensions.code = %q, want GRAPHQL_VALIDATION_FAILED or BAD_USER_INPUT: %s", code, r.Raw)
					}
					for _, v := range r.Data {
						if v != nil {
							t.Errorf("data is not null: %s", r.Raw)
						}
					}
					if after := inputState(e, ids); after != before {
						t.Errorf("refused request still wrote:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
		})

		// Values at the documented limits are accepted and stored intact on
		// every engine (4-byte characters included); what passes validation
		// must never fail in the database.
		t.Run("limits accepted", func(t *testing.T) {
			emoji := func(n int) string { return strings.Repeat("😀", n) }
			maxURL := "https://cdn.example.com/" + strings.Repeat("u", 2048-len("https://cdn.example.com/"))
			maxAtts := make([]map[string]any, 20)
			for i := range maxAtts {
				maxAtts[i] = att("图片.png", maxURL, 1024)
			}
			cases := []struct {
				name  string
				field string // the mutation
				obj   string // the payload's object, of GraphQL type typ
				typ   string
				sel   string // what to read of it
				in    map[string]any
				read  []any // path to the value within the object
				want  string
			}{
				{"200-char customer name", "createCustomer", "customer", "Customer", "name", map[string]any{"name": emoji(200)}, []any{"name"}, emoji(200)},
				{"4000-char message", "sendMessage", "message", "Message", "text", map[string]any{"conversationId": ids.conv, "text": emoji(4000)}, []any{"text"}, emoji(4000)},
				{"500-char ticket title", "createTicket", "ticket", "Ticket", "title", map[string]any{"title": emoji(500)}, []any{"title"}, emoji(500)},
				{"20000-char ticket description", "createTicket", "ticket", "Ticket", "description", map[string]any{"title": "长描述", "description": emoji(20000)}, []any{"description"}, emoji(20000)},
				{"20 attachments with 2048-byte urls", "sendMessage", "message", "Message", "attachments { url }", map[string]any{"conversationId": ids.conv, "text": "附件", "attachments": maxAtts}, []any{"attachments", 19, "url"}, maxURL},
				{"1000-char team description", "createTeam", "team", "Team", "description", map[string]any{"name": "长描述组", "description": emoji(1000)}, []any{"description"}, emoji(1000)},
				{"2000-char transition comment", "transitionTicket", "ticket", "Ticket", "status", map[string]any{"id": ids.ticket, "status": "OPEN", "comment": emoji(2000)}, []any{"status"}, "OPEN"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					typ := strings.ToUpper(c.field[:1]) + c.field[1:] + "Input"
					r := e.do(e.adminA, `mutation($in: `+typ+`!) { `+c.field+`(input: $in) { `+c.obj+` { id } userErrors { field message code } } }`,
						map[string]any{"in": c.in})
					inputCheckClean(t, r)
					if len(r.Errors) > 0 {
						t.Fatalf("errors: %.300s", r.Raw)
					}
					if ue, _ := get(r.Data, c.field, "userErrors").([]any); len(ue) > 0 {
						t.Fatalf("refused a value at the limit: %v", ue)
					}
					// Read it back from the database.
					d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on `+c.typ+` { `+c.sel+` } } }`,
						map[string]any{"id": str(r.Data, c.field, c.obj, "id")})
					if got := str(get(d, "node"), c.read...); got != c.want {
						t.Errorf("stored value differs (%d runes, want %d)", len([]rune(got)), len([]rune(c.want)))
					}
				})
			}
		})
	})
}

// inputFieldPath returns userErrors[0].field as strings (nil when absent).
func inputFieldPath(userErrors any) []string {
	var out []string
	fs, _ := get(userErrors, 0, "field").([]any)
	for _, f := range fs {
		s, _ := f.(string)
		out = append(out, s)
	}
	return out
}
