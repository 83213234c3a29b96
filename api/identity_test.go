package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/kefuhub/kefuhub/connectors/app/appfake"
)

// TestIdentityResolution: a new identity joins an existing customer only
// when a verified key points at exactly that customer; a wrong link can be
// split off; every link and split is in the audit log.
func TestIdentityResolution(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fake := appfake.New(appSecret)
		defer fake.Close()
		_, webhook := e.createAppChannel(t, fake)
		d := e.must(e.adminA, `mutation {
			a: createCustomer(input: {name: "老客户甲", phone: "13800138001", email: "jia@example.com"}) { customer { id } }
			b: createCustomer(input: {name: "老客户乙", email: "yi@example.com"}) { customer { id } } }`, nil)
		jia, yi := str(d, "a", "customer", "id"), str(d, "b", "customer", "id")

		send := func(ev appfake.Event) {
			t.Helper()
			resp, body, err := appfake.Send(ctx, nil, webhook, appSecret, ev)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("webhook: %v %v %s", err, resp, body)
			}
		}
		// Same phone as 甲: linked.
		send(appfake.Event{ID: "e1", Type: "message", Text: "在吗", User: appfake.User{ID: "u-1", Phone: "138 0013 8001"}})
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Customer { identities { id externalId } conversations { totalCount } } } }`, map[string]any{"id": jia})
		idents := get(d, "node", "identities").([]any)
		if len(idents) != 1 || str(idents[0], "externalId") != "u-1" || get(d, "node", "conversations", "totalCount") != float64(1) {
			t.Fatalf("identity not linked to the customer with the same phone: %v", d)
		}
		identID := str(idents[0], "id")
		d = e.must(e.adminA, `query($id: ID!) { auditEvents(filter: {objectId: $id, action: "identity.link"}) { nodes { after } } }`, map[string]any{"id": jia})
		if str(d, "auditEvents", "nodes", 0, "after", "reason") != "linked to the existing customer by same phone" {
			t.Errorf("link not explained: %v", d)
		}

		// Phone of 甲 but email of 乙: the keys disagree, so a new customer.
		send(appfake.Event{ID: "e2", Type: "message", Text: "你好", User: appfake.User{ID: "u-2", Phone: "13800138001", Email: "yi@example.com", Name: "冒名"}})
		d = e.must(e.adminA, `query($a: ID!, $b: ID!) { customers { totalCount } a: node(id: $a) { ... on Customer { identities { id } } }
			b: node(id: $b) { ... on Customer { identities { id } } } }`, map[string]any{"a": jia, "b": yi})
		if get(d, "customers", "totalCount") != float64(3) || len(get(d, "a", "identities").([]any)) != 1 || len(get(d, "b", "identities").([]any)) != 0 {
			t.Fatalf("conflicting keys linked an identity: %v", d)
		}

		// 甲 wrote from a second app account too; splitting that one off
		// moves it and its conversation to a new customer.
		send(appfake.Event{ID: "e3", Type: "message", Text: "换个号", User: appfake.User{ID: "u-3", Email: "jia@example.com", Name: "甲的小号"}})
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Customer { identities { id externalId } } } }`, map[string]any{"id": jia})
		var second string
		for _, i := range get(d, "node", "identities").([]any) {
			if str(i, "externalId") == "u-3" {
				second = str(i, "id")
			}
		}
		if second == "" {
			t.Fatalf("the same email did not link: %v", d)
		}
		d = e.must(e.adminA, `mutation($id: ID!) { splitIdentity(input: {identityId: $id}) { customer { id name identities { externalId } conversations { totalCount } } userErrors { message } } }`,
			map[string]any{"id": second})
		c := get(d, "splitIdentity", "customer")
		if str(c, "name") != "甲的小号" || str(c, "identities", 0, "externalId") != "u-3" || get(c, "conversations", "totalCount") != float64(1) {
			t.Errorf("split: %v", c)
		}
		// The last identity cannot be split off.
		r := e.do(e.adminA, `mutation($id: ID!) { splitIdentity(input: {identityId: $id}) { userErrors { code } } }`, map[string]any{"id": identID})
		if str(r.Data, "splitIdentity", "userErrors", 0, "code") != "CONFLICT" {
			t.Errorf("splitting the only identity: %s", r.Raw)
		}

		// Raw events: every delivery is kept; a replay of a stored one
		// stores nothing new.
		send(appfake.Event{ID: "e1", Type: "message", Text: "在吗", User: appfake.User{ID: "u-1"}})
		d = e.must(e.adminA, `{ stored: rawEvents(filter: {status: STORED}) { totalCount nodes { id externalId payload message { id } channel { kind } } }
			dups: rawEvents(filter: {status: DUPLICATE}) { totalCount } }`, nil)
		if get(d, "stored", "totalCount") != float64(3) || get(d, "dups", "totalCount") != float64(1) {
			t.Fatalf("raw events: %v", d)
		}
		ev := get(d, "stored", "nodes", 2)
		if str(ev, "externalId") != "e1" || str(ev, "channel", "kind") != "APP" || str(ev, "message", "id") == "" || !contains(str(ev, "payload"), `"在吗"`) {
			t.Errorf("raw event: %v", ev)
		}
		d = e.must(e.adminA, `mutation($id: ID!) { replayRawEvent(input: {id: $id}) { rawEvent { status } message { id } userErrors { message } } }`, map[string]any{"id": str(ev, "id")})
		if str(d, "replayRawEvent", "rawEvent", "status") != "DUPLICATE" || get(d, "replayRawEvent", "message") != nil {
			t.Errorf("replaying a stored event: %v", d)
		}
		// Agents may not read raw events.
		_, agent := e.createUser(e.adminA, "坐席", "agent-raw@a.test", "AGENT")
		if r := e.do(agent, `{ rawEvents { totalCount } }`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("agent read raw events: %s", r.Raw)
		}
	})
}
