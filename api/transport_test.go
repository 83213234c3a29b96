package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// httpResult is a raw HTTP answer, decoded as a GraphQL response when it is
// JSON.
type httpResult struct {
	gqlResponse
	Header http.Header
	JSON   bool
}

// rawHTTP sends req and decodes the body if it is JSON; it never fails on
// a non-JSON body.
func rawHTTP(t *testing.T, e *env, req *http.Request) httpResult {
	t.Helper()
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := httpResult{Header: resp.Header}
	r.Status, r.Raw = resp.StatusCode, raw
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if json.Unmarshal(raw, &out) == nil {
		r.JSON, r.Data, r.Errors = true, out.Data, out.Errors
	}
	return r
}

// postGQL posts body (marshalled to JSON) to /graphql with the token and
// extra headers (name, value pairs).
func postGQL(t *testing.T, e *env, token string, body any, headers ...string) httpResult {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return rawHTTP(t, e, req)
}

// getGQL sends GET /graphql with the given query-string parameters.
func getGQL(t *testing.T, e *env, token string, params url.Values) httpResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.server.URL+"/graphql?"+params.Encode(), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return rawHTTP(t, e, req)
}

func getPath(t *testing.T, e *env, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := e.server.Client().Get(e.server.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// freshEnv returns a new env on the same engine as like, for tests that
// break it (closing its database).
func freshEnv(t *testing.T, like *env) *env {
	t.Helper()
	if like.store.Engine == store.EngineMySQL {
		return newEnv(t, storetest.MySQLURL(t))
	}
	return newEnv(t, storetest.SQLiteURL(t))
}

// closeDB closes the env's connection pool under the hub.
func closeDB(t *testing.T, e *env) {
	t.Helper()
	sqlDB, err := e.store.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestTransport(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		t.Run("contentNegotiation", func(t *testing.T) {
			q := map[string]any{"query": `{ viewer { role } }`}
			for _, accept := range []string{"application/json", "application/graphql-response+json"} {
				r := postGQL(t, e, e.adminA, q, "Accept", accept)
				if r.Status != http.StatusOK || len(r.Errors) > 0 || str(r.Data, "viewer", "role") != "ADMIN" {
					t.Errorf("Accept %s: status %d body %s", accept, r.Status, r.Raw)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, accept) {
					t.Errorf("Accept %s: Content-Type = %q", accept, ct)
				}
			}
		})

		t.Run("GET", func(t *testing.T) {
			r := getGQL(t, e, e.adminA, url.Values{"query": {`{viewer{role}}`}})
			if r.Status != http.StatusOK || str(r.Data, "viewer", "role") != "ADMIN" {
				t.Errorf("GET query: status %d body %s", r.Status, r.Raw)
			}
			// Without a token GET is refused like POST.
			if r := getGQL(t, e, "", url.Values{"query": {`{viewer{role}}`}}); r.Status != http.StatusUnauthorized || r.Data != nil {
				t.Errorf("GET without a token: status %d body %s", r.Status, r.Raw)
			}
		})

		t.Run("GETMutationRefused", func(t *testing.T) {
			e := e.withT(t)
			r := getGQL(t, e, e.adminA, url.Values{"query": {`mutation { createCustomer(input: {name: "GET突变客户"}) { customer { id } } }`}})
			if r.Status == http.StatusOK {
				t.Errorf("GET mutation answered 200: %s", r.Raw)
			}
			if len(r.Errors) == 0 || get(r.Data, "createCustomer") != nil {
				t.Errorf("GET mutation: want an error and no data, got %s", r.Raw)
			}
			d := e.must(e.adminA, `{ customers(filter: {search: "GET突变客户"}) { totalCount } }`, nil)
			if n := get(d, "customers", "totalCount"); n != float64(0) {
				t.Errorf("GET mutation created %v customers", n)
			}
		})

		t.Run("parseAndValidationErrors", func(t *testing.T) {
			cases := []struct {
				name, query, code string
			}{
				{"parse", `{ viewer { role }`, "GRAPHQL_PARSE_FAILED"},
				{"validation", `{ viewer { noSuchField } }`, "GRAPHQL_VALIDATION_FAILED"},
			}
			statuses := map[string]int{
				// gqlgen's legacy mapping for application/json...
				"application/json": http.StatusUnprocessableEntity,
				// ...and GraphQL over HTTP for its own media type.
				"application/graphql-response+json": http.StatusBadRequest,
			}
			for _, c := range cases {
				for accept, status := range statuses {
					r := postGQL(t, e, e.adminA, map[string]any{"query": c.query}, "Accept", accept)
					if r.Code() != c.code {
						t.Errorf("%s, Accept %s: code %q, want %s (%s)", c.name, accept, r.Code(), c.code, r.Raw)
					}
					if r.Status != status {
						t.Errorf("%s, Accept %s: status %d, want %d", c.name, accept, r.Status, status)
					}
					if r.Data != nil {
						t.Errorf("%s: data present: %s", c.name, r.Raw)
					}
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, accept) {
						t.Errorf("%s, Accept %s: Content-Type = %q", c.name, accept, ct)
					}
				}
			}
			// Bad argument values are the client's to fix too.
			r := postGQL(t, e, e.adminA, map[string]any{"query": `query($n: Int) { customers(first: $n) { totalCount } }`, "variables": map[string]any{"n": "ten"}})
			if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("bad variable: code %q (%s)", r.Code(), r.Raw)
			}
		})

		t.Run("persistedQueries", func(t *testing.T) {
			query := `query APQ { viewer { role tenant { slug } } }`
			sum := sha256.Sum256([]byte(query))
			hash := hex.EncodeToString(sum[:])
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}

			r := postGQL(t, e, e.adminA, map[string]any{"extensions": ext})
			if len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" || r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
				t.Fatalf("unknown hash: want PersistedQueryNotFound, got %s", r.Raw)
			}
			if r.Data != nil {
				t.Errorf("unknown hash returned data: %s", r.Raw)
			}
			r = postGQL(t, e, e.adminA, map[string]any{"query": query, "extensions": ext})
			if len(r.Errors) > 0 || str(r.Data, "viewer", "tenant", "slug") != "tenant-a" {
				t.Fatalf("hash+query: %s", r.Raw)
			}
			r = postGQL(t, e, e.adminA, map[string]any{"extensions": ext})
			if len(r.Errors) > 0 || str(r.Data, "viewer", "role") != "ADMIN" {
				t.Fatalf("hash only after registration: %s", r.Raw)
			}
			// The cache is shared, the answer is not: B gets its own tenant.
			r = postGQL(t, e, e.adminB, map[string]any{"extensions": ext})
			if got := str(r.Data, "viewer", "tenant", "slug"); got != "tenant-b" {
				t.Errorf("persisted query as B: slug %q (%s)", got, r.Raw)
			}
			// Apollo clients send persisted queries by GET.
			extJSON, _ := json.Marshal(ext)
			g := getGQL(t, e, e.adminA, url.Values{"extensions": {string(extJSON)}})
			if g.Status != http.StatusOK || str(g.Data, "viewer", "role") != "ADMIN" {
				t.Errorf("persisted query by GET: status %d %s", g.Status, g.Raw)
			}
			// A hash that does not match the query is refused.
			other := `query Other { viewer { role } }`
			r = postGQL(t, e, e.adminA, map[string]any{"query": other, "extensions": ext})
			if len(r.Errors) == 0 || r.Data != nil {
				t.Fatalf("mismatched hash: want an error, got %s", r.Raw)
			}
			if !contains(r.Errors[0].Message, "hash") {
				t.Errorf("mismatched hash: message %q", r.Errors[0].Message)
			}
			// ...and did not overwrite the stored query.
			r = postGQL(t, e, e.adminA, map[string]any{"extensions": ext})
			if str(r.Data, "viewer", "tenant", "slug") != "tenant-a" {
				t.Errorf("stored query changed after a mismatched hash: %s", r.Raw)
			}
		})

		t.Run("GraphiQL", func(t *testing.T) {
			status, h, body := getPath(t, e, "/")
			if status != http.StatusOK {
				t.Fatalf("GET / = %d", status)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("GET / Content-Type = %q", ct)
			}
			if !strings.Contains(strings.ToLower(body), "graphiql") {
				t.Errorf("GET / does not look like GraphiQL: %.200s", body)
			}
			if status, _, _ := getPath(t, e, "/no-such-page"); status != http.StatusNotFound {
				t.Errorf("GET /no-such-page = %d, want 404", status)
			}
		})

		t.Run("healthz", func(t *testing.T) {
			status, _, body := getPath(t, e, "/healthz")
			if status != http.StatusOK || strings.TrimSpace(body) != "ok" {
				t.Errorf("/healthz = %d %q", status, body)
			}
		})

		t.Run("readyz", func(t *testing.T) {
			f := freshEnv(t, e)
			status, _, body := getPath(t, f, "/readyz")
			if status != http.StatusOK {
				t.Fatalf("/readyz with the database up = %d %q", status, body)
			}
			closeDB(t, f)
			status, _, body = getPath(t, f, "/readyz")
			if status != http.StatusServiceUnavailable {
				t.Errorf("/readyz with the database closed = %d %q, want 503", status, body)
			}
			if lb := strings.ToLower(body); strings.Contains(lb, "sql") || strings.Contains(lb, "closed") {
				t.Errorf("/readyz leaks the driver error: %q", body)
			}
			// Liveness does not depend on the database.
			if status, _, _ := getPath(t, f, "/healthz"); status != http.StatusOK {
				t.Errorf("/healthz with the database closed = %d", status)
			}
		})

		t.Run("internalErrorsDoNotLeak", func(t *testing.T) {
			f := freshEnv(t, e).withT(t)
			cust := f.createCustomer(f.adminA, "内部错误客户")
			ch := f.createChannel(f.adminA, "WEB", "官网", nil)
			f.startConversation(f.adminA, cust, ch)
			const q = `{ customers(first: 5) { totalCount nodes { id name } } }`
			// Authenticate now: the token stays cached for a few seconds,
			// so the requests below reach the resolvers.
			if d := f.must(f.adminA, q, nil); get(d, "customers", "totalCount") != float64(1) {
				t.Fatalf("customers before the failure: %v", d)
			}
			assertInternal := func(t *testing.T, r httpResult, path string) {
				t.Helper()
				if len(r.Errors) == 0 {
					t.Fatalf("no error: %s", r.Raw)
				}
				var ge *gqlError
				for i := range r.Errors {
					if p, _ := json.Marshal(r.Errors[i].Path); strings.Contains(string(p), path) {
						ge = &r.Errors[i]
					}
				}
				if ge == nil {
					t.Fatalf("no error at %s: %s", path, r.Raw)
				}
				if code, _ := ge.Extensions["code"].(string); code != "INTERNAL" {
					t.Errorf("extensions.code = %q, want INTERNAL (%s)", code, r.Raw)
				}
				if ge.Message != "internal error" {
					t.Errorf("message = %q, want \"internal error\"", ge.Message)
				}
				rid, _ := ge.Extensions["requestId"].(string)
				if rid == "" || rid != r.Header.Get("X-Request-Id") {
					t.Errorf("extensions.requestId = %q, X-Request-Id = %q", rid, r.Header.Get("X-Request-Id"))
				}
				lower := strings.ToLower(string(r.Raw))
				var leaks []string
				for _, leak := range []string{"sql", "database", "gorm", "table", "users", "hub:", "mysql", "sqlite"} {
					if strings.Contains(lower, leak) {
						leaks = append(leaks, leak)
					}
				}
				if len(leaks) > 0 {
					t.Errorf("response leaks internals %q", leaks)
				}
			}

			t.Run("nestedField", func(t *testing.T) {
				// A relation fails while its parent list succeeds.
				if err := f.store.DB.Exec("ALTER TABLE users RENAME TO users_gone").Error; err != nil {
					t.Fatal(err)
				}
				r := postGQL(t, f, f.adminA, map[string]any{"query": `{ conversations(first: 5) { nodes { id assignee { name } } } }`})
				assertInternal(t, r, "assignee")
				if err := f.store.DB.Exec("ALTER TABLE users_gone RENAME TO users").Error; err != nil {
					t.Fatal(err)
				}
			})

			t.Run("databaseClosed", func(t *testing.T) {
				closeDB(t, f)
				r := postGQL(t, f, f.adminA, map[string]any{"query": q})
				assertInternal(t, r, "customers")
				if r.Data != nil && get(r.Data, "customers") != nil {
					t.Errorf("data despite the failure: %s", r.Raw)
				}
				// A client-sent request id is the one reported.
				r = postGQL(t, f, f.adminA, map[string]any{"query": q}, "X-Request-Id", "support-ticket-42")
				assertInternal(t, r, "customers")
				if rid, _ := r.Errors[0].Extensions["requestId"].(string); rid != "support-ticket-42" {
					t.Errorf("requestId = %q, want the client's", rid)
				}
				// A mutation fails the same way.
				r = postGQL(t, f, f.adminA, map[string]any{"query": `mutation { createCustomer(input: {name: "x"}) { customer { id } userErrors { message } } }`})
				assertInternal(t, r, "createCustomer")
			})
		})

		t.Run("requestID", func(t *testing.T) {
			q := map[string]any{"query": `{ viewer { role } }`}
			r := postGQL(t, e, e.adminA, q, "X-Request-Id", "client-req-0042")
			if got := r.Header.Get("X-Request-Id"); got != "client-req-0042" {
				t.Errorf("sane client id: X-Request-Id = %q", got)
			}
			r = postGQL(t, e, e.adminA, q)
			if got := r.Header.Get("X-Request-Id"); !hex16.MatchString(got) {
				t.Errorf("no client id: X-Request-Id = %q, want 16 hex chars", got)
			}
			r2 := postGQL(t, e, e.adminA, q)
			if r2.Header.Get("X-Request-Id") == r.Header.Get("X-Request-Id") {
				t.Errorf("two requests got the same generated id %q", r.Header.Get("X-Request-Id"))
			}
			for _, bad := range []string{"has space", strings.Repeat("x", 65), "tab\there", "ünïcode"} {
				r = postGQL(t, e, e.adminA, q, "X-Request-Id", bad)
				if got := r.Header.Get("X-Request-Id"); !hex16.MatchString(got) {
					t.Errorf("client id %q: X-Request-Id = %q, want a generated one", bad, got)
				}
			}
			// Every answer carries one, errors included.
			if status, h, _ := getPath(t, e, "/healthz"); status != http.StatusOK || !hex16.MatchString(h.Get("X-Request-Id")) {
				t.Errorf("/healthz X-Request-Id = %q", h.Get("X-Request-Id"))
			}
			if r := postGQL(t, e, "", q); r.Status != http.StatusUnauthorized || !hex16.MatchString(r.Header.Get("X-Request-Id")) {
				t.Errorf("401: status %d X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
			}
		})

		t.Run("relayNodes", func(t *testing.T) {
			e := e.withT(t)
			cust := e.createCustomer(e.adminA, "节点客户")
			ch := e.createChannel(e.adminA, "WEB", "节点渠道", nil)
			conv := e.startConversation(e.adminA, cust, ch)
			msg := e.sendMessage(e.adminA, conv, "节点消息")
			ticket := e.createTicket(e.adminA, "节点工单", map[string]any{"conversationId": conv})
			user, _ := e.createUser(e.adminA, "节点坐席", "node-agent@a.test", "AGENT")
			d := e.must(e.adminA, `mutation($in: CreateTeamInput!) { createTeam(input: $in) { team { id } userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": "节点组"}})
			team := str(d, "createTeam", "team", "id")
			d = e.must(e.adminA, `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { apiToken { id } userErrors { message } } }`,
				map[string]any{"in": map[string]any{"name": "node-test"}})
			apiToken := str(d, "createApiToken", "apiToken", "id")
			d = e.must(e.adminA, `{ auditEvents(first: 1) { nodes { id } } viewer { tenant { id } } }`, nil)
			audit := str(d, "auditEvents", "nodes", 0, "id")
			tenant := str(d, "viewer", "tenant", "id")

			ids := map[string]string{
				"Customer": cust, "Conversation": conv, "Message": msg, "Ticket": ticket, "Channel": ch,
				"User": user, "Team": team, "ApiToken": apiToken, "AuditEvent": audit, "Tenant": tenant,
			}
			digits := regexp.MustCompile(`^[0-9]+$`)
			var all []any
			var order []string
			for typ, id := range ids {
				if id == "" {
					t.Errorf("%s: no id from its fixture", typ)
					continue
				}
				if digits.MatchString(id) {
					t.Errorf("%s id %q is a plain integer, not an opaque global id", typ, id)
				}
				d := e.must(e.adminA, `query($id: ID!) { node(id: $id) { __typename id } }`, map[string]any{"id": id})
				if got := str(d, "node", "__typename"); got != typ {
					t.Errorf("node(%s id).__typename = %q", typ, got)
				}
				if got := str(d, "node", "id"); got != id {
					t.Errorf("node(%s id).id = %q, want %q", typ, got, id)
				}
				// Another tenant cannot resolve it.
				r := e.do(e.adminB, `query($id: ID!) { node(id: $id) { __typename id } }`, map[string]any{"id": id})
				if get(r.Data, "node") != nil || r.Code() != "NOT_FOUND" {
					t.Errorf("%s of tenant A as tenant B: %s", typ, r.Raw)
				}
				all = append(all, id)
				order = append(order, typ)
			}
			// nodes() answers in order, with null for what the caller cannot see.
			all = append(all, "bm90LWFuLWlk")
			nr := e.do(e.adminA, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename } }`, map[string]any{"ids": all})
			got, _ := get(nr.Data, "nodes").([]any)
			if len(got) != len(all) {
				t.Fatalf("nodes returned %d entries for %d ids: %s", len(got), len(all), nr.Raw)
			}
			for i, typ := range order {
				if str(got[i], "__typename") != typ {
					t.Errorf("nodes[%d].__typename = %v, want %s", i, got[i], typ)
				}
			}
			if got[len(got)-1] != nil {
				t.Errorf("nodes[last] for an unknown id = %v, want null", got[len(got)-1])
			}
			// Malformed and plain integer ids are NOT_FOUND, not a crash.
			for _, bad := range []string{"1", "garbage!", ""} {
				r := e.do(e.adminA, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": bad})
				if get(r.Data, "node") != nil || r.Code() != "NOT_FOUND" {
					t.Errorf("node(%q): %s", bad, r.Raw)
				}
			}
		})
	})
}
