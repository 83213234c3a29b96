package api_test

import (
	"fmt"
	"testing"
)

// TestPagination walks the same list forwards and backwards and checks
// that the pages tile it exactly, in order, with the right flags.
func TestPagination(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		const n = 25
		want := make([]string, n) // newest first: the default order
		for i := range n {
			want[n-1-i] = e.createCustomer(e.adminA, fmt.Sprintf("客户%02d", i))
		}
		const q = `query($first: Int, $after: String, $last: Int, $before: String) {
			customers(first: $first, after: $after, last: $last, before: $before) {
				totalCount
				edges { cursor node { id } }
				pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			}
		}`
		type page struct {
			ids              []string
			hasNext, hasPrev bool
			start, end       string
			total            float64
		}
		fetch := func(vars map[string]any) page {
			d := e.must(e.adminA, q, vars)
			c := get(d, "customers")
			var p page
			for _, edge := range get(c, "edges").([]any) {
				p.ids = append(p.ids, str(edge, "node", "id"))
			}
			p.hasNext, _ = get(c, "pageInfo", "hasNextPage").(bool)
			p.hasPrev, _ = get(c, "pageInfo", "hasPreviousPage").(bool)
			p.start, p.end = str(c, "pageInfo", "startCursor"), str(c, "pageInfo", "endCursor")
			p.total, _ = get(c, "totalCount").(float64)
			return p
		}

		t.Run("forward", func(t *testing.T) {
			var got []string
			vars := map[string]any{"first": 10}
			for pages := 0; ; pages++ {
				p := fetch(vars)
				if p.total != n {
					t.Fatalf("totalCount = %v, want %d", p.total, n)
				}
				if pages > 0 != p.hasPrev {
					t.Errorf("page %d: hasPreviousPage = %v", pages, p.hasPrev)
				}
				got = append(got, p.ids...)
				if !p.hasNext {
					if len(p.ids) != 5 {
						t.Errorf("last page has %d rows, want 5", len(p.ids))
					}
					break
				}
				vars = map[string]any{"first": 10, "after": p.end}
			}
			assertSameOrder(t, got, want)
		})

		t.Run("backward", func(t *testing.T) {
			var got []string
			vars := map[string]any{"last": 10}
			for {
				p := fetch(vars)
				got = append(p.ids, got...)
				if !p.hasPrev {
					break
				}
				vars = map[string]any{"last": 10, "before": p.start}
			}
			assertSameOrder(t, got, want)
		})

		t.Run("between cursors", func(t *testing.T) {
			all := fetch(map[string]any{"first": 25})
			d := e.must(e.adminA, `query($a: String, $b: String) { customers(first: 100, after: $a, before: $b) { edges { node { id } } } }`,
				map[string]any{"a": cursorAt(e, 4), "b": cursorAt(e, 9)})
			var got []string
			for _, edge := range get(d, "customers", "edges").([]any) {
				got = append(got, str(edge, "node", "id"))
			}
			assertSameOrder(t, got, all.ids[5:9])
		})

		t.Run("past the end and empty", func(t *testing.T) {
			p := fetch(map[string]any{"first": 10, "after": cursorAt(e, n-1)})
			if len(p.ids) != 0 || p.hasNext {
				t.Errorf("after the last row: %d rows, hasNext %v", len(p.ids), p.hasNext)
			}
			if p.start != "" || p.end != "" {
				t.Errorf("empty page has cursors %q %q", p.start, p.end)
			}
			p = fetch(map[string]any{"first": 0})
			if len(p.ids) != 0 {
				t.Errorf("first: 0 gave %d rows", len(p.ids))
			}
		})

		t.Run("ordering", func(t *testing.T) {
			d := e.must(e.adminA, `{ customers(first: 3, orderBy: {field: NAME, direction: ASC}) { nodes { name } } }`, nil)
			for i, want := range []string{"客户00", "客户01", "客户02"} {
				if got := str(d, "customers", "nodes", i, "name"); got != want {
					t.Errorf("row %d: %q, want %q", i, got, want)
				}
			}
		})

		t.Run("bad arguments", func(t *testing.T) {
			for name, vars := range map[string]map[string]any{
				"first too large": {"first": 101},
				"negative last":   {"last": -1},
				"first and last":  {"first": 1, "last": 1},
				"garbage cursor":  {"first": 1, "after": "garbage"},
			} {
				r := e.do(e.adminA, q, vars)
				if r.Code() != "BAD_USER_INPUT" {
					t.Errorf("%s: code %q, want BAD_USER_INPUT (%s)", name, r.Code(), r.Raw)
				}
			}
		})
	})
}

// cursorAt returns the cursor of the i-th customer in the default order.
func cursorAt(e *env, i int) string {
	d := e.must(e.adminA, `{ customers(first: 100) { edges { cursor } } }`, nil)
	return str(d, "customers", "edges", i, "cursor")
}

func assertSameOrder(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ids, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("position %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// TestMessageAndAuditOrdering: messages default to oldest first and can be
// read newest first; the audit log the other way round.
func TestMessageAndAuditOrdering(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		conv := e.startConversation(e.adminA, e.createCustomer(e.adminA, "顺序"), e.createChannel(e.adminA, "WEB", "官网", nil))
		for _, text := range []string{"一", "二", "三"} {
			e.must(e.adminA, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { userErrors { message } } }`,
				map[string]any{"in": map[string]any{"conversationId": conv, "text": text}})
		}
		texts := func(d map[string]any) string {
			var s string
			for _, n := range get(d, "messages", "nodes").([]any) {
				s += str(n, "text")
			}
			return s
		}
		d := e.must(e.adminA, `query($c: ID!) { messages(filter: {conversationId: $c}) { nodes { text } } }`, map[string]any{"c": conv})
		if got := texts(d); got != "一二三" {
			t.Errorf("default order %q, want 一二三", got)
		}
		d = e.must(e.adminA, `query($c: ID!) { messages(filter: {conversationId: $c}, orderBy: {field: CREATED_AT, direction: DESC}, first: 2) { nodes { text } } }`, map[string]any{"c": conv})
		if got := texts(d); got != "三二" {
			t.Errorf("newest first %q, want 三二", got)
		}
		d = e.must(e.adminA, `{ newest: auditEvents(first: 1) { nodes { action } } oldest: auditEvents(first: 1, orderBy: {field: CREATED_AT, direction: ASC}) { nodes { action } } }`, nil)
		if str(d, "oldest", "nodes", 0, "action") != "tenant.create" || str(d, "newest", "nodes", 0, "action") == "tenant.create" {
			t.Errorf("audit ordering: %v", d)
		}
	})
}
