package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/kefuhub/kefuhub/store"
)

// TestResponseCache: a repeated query is answered from memory, without SQL,
// until a write to the tenant commits; callers never share entries.
func TestResponseCache(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		cust := e.createCustomer(e.adminA, "缓存客户")
		const q = `query($id: ID!) { node(id: $id) { ... on Customer { name } } customers { totalCount } }`
		vars := map[string]any{"id": cust}

		// post runs the query with statement counting and returns the
		// cache header, the statements run and the decoded data.
		post := func(token string, query string, vars map[string]any) (string, int64, map[string]any) {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
			ctx, counter := store.CountStatements(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.server.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			// The counter lives in this process: call the handler directly so
			// that the request context carries it.
			rec := newRecorder()
			e.server.Config.Handler.ServeHTTP(rec, req)
			var out struct {
				Data map[string]any `json:"data"`
			}
			_ = json.Unmarshal(rec.body.Bytes(), &out)
			return rec.header.Get("X-Kefuhub-Cache"), counter.Count(), out.Data
		}

		state, _, d := post(e.adminA, q, vars)
		if state != "miss" || str(d, "node", "name") != "缓存客户" {
			t.Fatalf("first request: %s %v", state, d)
		}
		state, stmts, d := post(e.adminA, q, vars)
		if state != "hit" || stmts != 0 || str(d, "node", "name") != "缓存客户" {
			t.Fatalf("repeat: cache %q, %d statements, %v; want a hit with no SQL", state, stmts, d)
		}

		// A write in the tenant invalidates: the next read sees it.
		e.must(e.adminA, `mutation($in: UpdateCustomerInput!) { updateCustomer(input: $in) { userErrors { message } } }`,
			map[string]any{"in": map[string]any{"id": cust, "name": "改名客户"}})
		state, _, d = post(e.adminA, q, vars)
		if state != "miss" || str(d, "node", "name") != "改名客户" {
			t.Fatalf("after a write: cache %q, data %v; want a fresh answer", state, d)
		}

		// A write in another tenant does not invalidate this one.
		e.createCustomer(e.adminB, "别家客户")
		if state, _, _ = post(e.adminA, q, vars); state != "hit" {
			t.Errorf("another tenant's write invalidated: %q", state)
		}

		// Another caller of the same tenant gets its own entry.
		_, viewer := e.createUser(e.adminA, "只读", "viewer-cache@a.test", "VIEWER")
		if state, _, _ = post(viewer, q, vars); state != "miss" {
			t.Errorf("another user's request was served from the admin's entry: %q", state)
		}

		// Errors and mutations are never cached.
		bad := `{ auditEvents { totalCount } }`
		post(viewer, bad, nil)
		if state, _, _ = post(viewer, bad, nil); state == "hit" {
			t.Error("an error response was served from the cache")
		}
		mut := `mutation { createCustomer(input: {name: "x"}) { customer { id } } }`
		post(e.adminA, mut, nil)
		if state, _, _ = post(e.adminA, mut, nil); state == "hit" {
			t.Error("a mutation was served from the cache")
		}
	})
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

var _ io.Writer = (*recorder)(nil)
