package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/introspection"
)

// cyclicQuery nests conversations → nodes → customer → conversations ...
// exactly depth selection levels deep (each connection asks for one row, so
// only the depth is at stake, not the cost).
func cyclicQuery(depth int) string {
	steps := []string{"conversations(first: 1)", "nodes", "customer"}
	leaves := []string{"totalCount", "id", "id"} // a leaf valid after each step
	var open strings.Builder
	for i := 0; i < depth-1; i++ {
		open.WriteString(steps[i%3] + " { ")
	}
	return "{ " + open.String() + leaves[(depth-2)%3] + strings.Repeat(" }", depth-1) + " }"
}

func TestLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		cust := e.createCustomer(e.adminA, "限制客户")
		ch := e.createChannel(e.adminA, "WEB", "官网", nil)
		conv := e.startConversation(e.adminA, cust, ch)
		e.sendMessage(e.adminA, conv, "限制测试消息")

		t.Run("depth", func(t *testing.T) {
			r := e.do(e.adminA, cyclicQuery(12), nil)
			if len(r.Errors) > 0 || get(r.Data, "conversations") == nil {
				t.Fatalf("12 levels should pass: %s", r.Raw)
			}
			r = e.do(e.adminA, cyclicQuery(13), nil)
			if r.Code() != "DEPTH_LIMIT_EXCEEDED" {
				t.Errorf("13 levels: code %q, want DEPTH_LIMIT_EXCEEDED (%s)", r.Code(), r.Raw)
			}
			if r.Data != nil {
				t.Errorf("13 levels: data present: %s", r.Raw)
			}
			deeper := e.do(e.adminA, cyclicQuery(40), nil)
			if deeper.Code() != "DEPTH_LIMIT_EXCEEDED" || deeper.Data != nil {
				t.Errorf("40 levels: %s", deeper.Raw)
			}
		})

		t.Run("depthThroughFragments", func(t *testing.T) {
			// The same 13 levels, hidden in named and inline fragments.
			q := `query { conversations(first: 1) { nodes { ...A } } }
fragment A on Conversation { customer { conversations(first: 1) { nodes { ...B } } } }
fragment B on Conversation { ... on Conversation { customer { conversations(first: 1) { nodes { ...C } } } } }
fragment C on Conversation { customer { conversations(first: 1) { nodes { customer { id } } } } }`
			r := e.do(e.adminA, q, nil)
			if r.Code() != "DEPTH_LIMIT_EXCEEDED" || r.Data != nil {
				t.Errorf("deep fragments: %s", r.Raw)
			}
			// Over a node() entry point too.
			q = fmt.Sprintf(`{ node(id: %q) { ... on Customer { conversations(first: 1) { nodes { customer {
				conversations(first: 1) { nodes { customer { conversations(first: 1) { nodes { customer {
				conversations(first: 1) { nodes { id } } } } } } } } } } } } } }`, cust)
			r = e.do(e.adminA, q, nil)
			if r.Code() != "DEPTH_LIMIT_EXCEEDED" || r.Data != nil {
				t.Errorf("deep node(): %s", r.Raw)
			}
		})

		t.Run("introspection", func(t *testing.T) {
			r := e.do(e.adminA, introspection.Query, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("introspection failed: %s", r.Raw[:min(len(r.Raw), 500)])
			}
			types, _ := get(r.Data, "__schema", "types").([]any)
			if len(types) < 50 {
				t.Fatalf("introspection returned %d types", len(types))
			}
			var found bool
			for _, ty := range types {
				found = found || str(ty, "name") == "Conversation"
			}
			if !found {
				t.Errorf("introspection does not list Conversation")
			}
			if str(r.Data, "__schema", "subscriptionType", "name") != "Subscription" {
				t.Errorf("subscriptionType = %v", get(r.Data, "__schema", "subscriptionType"))
			}
		})

		t.Run("complexity", func(t *testing.T) {
			const heavy = `{ customers(first: 100) { nodes { conversations(first: 100) { nodes { messages(first: 100) { nodes { id text } } } } } } }`
			r := e.do(e.adminA, heavy, nil)
			if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || r.Data != nil {
				t.Errorf("100×100×100: %s", r.Raw)
			}
			// Page sizes passed as variables count the same.
			r = e.do(e.adminA, `query($n: Int) { customers(first: $n) { nodes { conversations(first: $n) { nodes { messages(first: $n) { nodes { id text } } } } } } }`,
				map[string]any{"n": 100})
			if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || r.Data != nil {
				t.Errorf("100×100×100 through variables: %s", r.Raw)
			}
			// So do aliases fanning out one cheap page: each costs
			// 1 + 100 × 5, and 50 of them exceed 20000.
			var b strings.Builder
			b.WriteString("{")
			for i := range 50 {
				fmt.Fprintf(&b, " c%d: conversations(first: 100) { nodes { id subject customer { name } } }", i)
			}
			b.WriteString(" }")
			r = e.do(e.adminA, b.String(), nil)
			if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Errorf("50 aliased pages of 100: %s", r.Raw[:min(len(r.Raw), 300)])
			}
		})

		t.Run("inboxWithinLimits", func(t *testing.T) {
			r := e.do(e.adminA, InboxQuery, map[string]any{"first": 50})
			if len(r.Errors) > 0 {
				t.Fatalf("inbox refused: %s", r.Raw)
			}
			if str(r.Data, "conversations", "nodes", 0, "id") != conv || str(r.Data, "conversations", "nodes", 0, "lastMessage", "text") != "限制测试消息" {
				t.Errorf("inbox answer: %s", r.Raw)
			}
		})

		t.Run("nodesCountIds", func(t *testing.T) {
			// nodes(ids) is a list too: 100 ids each opening 50×50 rows is
			// the same load as customers(first: 100) with that selection,
			// which is refused.
			const sel = `{ conversations(first: 50) { nodes { messages(first: 50) { nodes { id text } } } } }`
			r := e.do(e.adminA, `{ customers(first: 100) { nodes `+sel+` } }`, nil)
			if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Fatalf("customers(first: 100) × 50 × 50: %s", r.Raw)
			}
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = cust
			}
			r = e.do(e.adminA, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer `+sel+` } }`, map[string]any{"ids": ids})
			if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Errorf("nodes(100 ids) × 50 × 50 is not counted by the number of ids: code %q, %d bytes of data", r.Code(), len(r.Raw))
			}
		})

		t.Run("bodyLimit", func(t *testing.T) {
			post := func(body io.Reader, length int64) (*http.Response, []byte, error) {
				req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/graphql", body)
				req.ContentLength = length
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+e.adminA)
				resp, err := e.server.Client().Do(req)
				if err != nil {
					return nil, nil, err
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				return resp, raw, nil
			}
			padded := func(n int) []byte {
				// A valid request whose query ends in a comment of n bytes.
				return []byte(`{"query":"{ viewer { role } } #` + strings.Repeat("x", n) + `"}`)
			}

			// Just under 1 MiB is served.
			body := padded(1<<20 - 100)
			resp, raw, err := post(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !contains(string(raw), `"ADMIN"`) {
				t.Errorf("body of %d bytes: status %d %.200s", len(body), resp.StatusCode, raw)
			}

			// Over 1 MiB with a Content-Length: 413 at once.
			body = padded(1<<20 + 1)
			resp, raw, err = post(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("body of %d bytes: status %d, want 413", len(body), resp.StatusCode)
			}
			r := decodeGQL(t, raw)
			if r.Code() == "" {
				t.Errorf("413 without errors[0].extensions.code: %s", raw)
			}

			// Over 1 MiB chunked (no Content-Length): cut short with a 4xx.
			pr, pw := io.Pipe()
			go func() {
				body := padded(2 << 20)
				for len(body) > 0 {
					n := min(len(body), 32<<10)
					if _, err := pw.Write(body[:n]); err != nil {
						return
					}
					body = body[n:]
				}
				pw.Close()
			}()
			resp, raw, err = post(pr, -1)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				t.Logf("chunked body: client error %v (server hung up)", err)
			} else {
				if resp.StatusCode < 400 || resp.StatusCode > 499 {
					t.Errorf("chunked body over the limit: status %d, want 4xx (%.300s)", resp.StatusCode, raw)
				}
				if contains(string(raw), `"ADMIN"`) {
					t.Errorf("chunked body over the limit was executed: %.300s", raw)
				}
			}

			// The server is still fine.
			if status, _, _ := getPath(t, e, "/healthz"); status != http.StatusOK {
				t.Errorf("/healthz after the oversized bodies = %d", status)
			}
			if d := e.withT(t).must(e.adminA, `{ viewer { role } }`, nil); str(d, "viewer", "role") != "ADMIN" {
				t.Errorf("query after the oversized bodies: %v", d)
			}
		})

		t.Run("paginationArgs", func(t *testing.T) {
			bad := []struct{ name, query string }{
				{"first 101", `{ customers(first: 101) { nodes { id } } }`},
				{"last 101", `{ customers(last: 101) { nodes { id } } }`},
				{"first -1", `{ customers(first: -1) { nodes { id } } }`},
				{"first and last", `{ customers(first: 5, last: 5) { nodes { id } } }`},
				{"garbage after", `{ customers(first: 5, after: "garbage") { nodes { id } } }`},
				{"garbage before", `{ customers(last: 5, before: "garbage") { nodes { id } } }`},
				{"nested first 101", fmt.Sprintf(`{ node(id: %q) { ... on Conversation { messages(first: 101) { nodes { id } } } } }`, conv)},
				{"messages garbage after", fmt.Sprintf(`{ messages(first: 5, after: "garbage", filter: {conversationId: %q}) { nodes { id } } }`, conv)},
			}
			for _, c := range bad {
				r := e.do(e.adminA, c.query, nil)
				if r.Code() != "BAD_USER_INPUT" {
					t.Errorf("%s: code %q, want BAD_USER_INPUT (%s)", c.name, r.Code(), r.Raw)
				}
				if len(r.Errors) > 0 && r.Errors[0].Message == "internal error" {
					t.Errorf("%s: reported as internal", c.name)
				}
			}
			r := e.do(e.adminA, `{ customers(first: 0) { totalCount edges { cursor } nodes { id } pageInfo { hasNextPage startCursor endCursor } } }`, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("first: 0: %s", r.Raw)
			}
			if edges, ok := get(r.Data, "customers", "edges").([]any); !ok || len(edges) != 0 {
				t.Errorf("first: 0 edges = %v, want []", get(r.Data, "customers", "edges"))
			}
			if nodes, ok := get(r.Data, "customers", "nodes").([]any); !ok || len(nodes) != 0 {
				t.Errorf("first: 0 nodes = %v, want []", get(r.Data, "customers", "nodes"))
			}
			if get(r.Data, "customers", "totalCount") != float64(1) {
				t.Errorf("first: 0 totalCount = %v, want 1", get(r.Data, "customers", "totalCount"))
			}
			if get(r.Data, "customers", "pageInfo", "startCursor") != nil {
				t.Errorf("first: 0 startCursor = %v, want null", get(r.Data, "customers", "pageInfo", "startCursor"))
			}
		})
	})
}

func decodeGQL(t *testing.T, raw []byte) gqlResponse {
	t.Helper()
	var out gqlResponse
	var body struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("not JSON: %.200s", raw)
	}
	out.Data, out.Errors, out.Raw = body.Data, body.Errors, raw
	return out
}
