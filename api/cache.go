package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kefuhub/kefuhub/hub"
)

// responseCache serves a repeated query from memory for as long as the
// tenant's data has not changed. Agent consoles refetch the same inbox and
// counters all day; between two writes to a tenant every refetch would
// compute the same answer.
//
// An entry is keyed by caller (tenant, user, token) and request (method,
// URL query, Accept, body), and stamped with the tenant's data version
// taken before the query ran. It is served only while that version is
// current: every committed write moves it on (hub.DataVersion), on this
// replica at once and on other replicas as soon as the change is relayed.
// Only queries that succeeded without errors are kept; mutations and
// subscriptions never are.
type responseCache struct {
	hub      *hub.Hub
	entries  *lru.Cache[[32]byte, cachedResponse]
	maxBytes int
}

type cachedResponse struct {
	version     uint64
	contentType string
	body        []byte
}

func newResponseCache(h *hub.Hub, entries int) *responseCache {
	if entries <= 0 {
		return nil
	}
	c, err := lru.New[[32]byte, cachedResponse](entries)
	if err != nil {
		return nil
	}
	return &responseCache{hub: h, entries: c, maxBytes: 1 << 20}
}

// cacheProbe lets the GraphQL executor tell the cache whether the response
// it just wrote may be kept.
type cacheProbe struct{ cacheable atomic.Bool }

type cacheProbeKey struct{}

// markCacheable is a gqlgen response interceptor: a query that finished
// without errors may be cached.
func markCacheable(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	probe, ok := ctx.Value(cacheProbeKey{}).(*cacheProbe)
	if !ok || resp == nil || len(resp.Errors) > 0 || !graphql.HasOperationContext(ctx) {
		return resp
	}
	if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Query {
		probe.cacheable.Store(true)
	}
	return resp
}

func (c *responseCache) key(p hub.Principal, r *http.Request, body []byte) [32]byte {
	h := sha256.New()
	var ids [24]byte
	binary.BigEndian.PutUint64(ids[0:], p.TenantID)
	binary.BigEndian.PutUint64(ids[8:], p.UserID)
	binary.BigEndian.PutUint64(ids[16:], p.TokenID)
	h.Write(ids[:])
	io.WriteString(h, r.Method+"\x00"+r.URL.RawQuery+"\x00"+r.Header.Get("Accept")+"\x00")
	h.Write(body)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *responseCache) middleware(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := hub.PrincipalFrom(r.Context())
		if !ok || (r.Method != http.MethodPost && r.Method != http.MethodGet) ||
			r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			// limitBody has already bounded and buffered the body.
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		key := c.key(p, r, body)
		version := c.hub.DataVersion(p.TenantID)
		if e, ok := c.entries.Get(key); ok && e.version == version {
			w.Header().Set("Content-Type", e.contentType)
			w.Header().Set("X-Kefuhub-Cache", "hit")
			_, _ = w.Write(e.body)
			return
		}
		w.Header().Set("X-Kefuhub-Cache", "miss")
		probe := &cacheProbe{}
		rec := &teeWriter{ResponseWriter: w, limit: c.maxBytes}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), cacheProbeKey{}, probe)))
		if probe.cacheable.Load() && rec.status == http.StatusOK && !rec.overflow {
			c.entries.Add(key, cachedResponse{version: version, contentType: w.Header().Get("Content-Type"), body: rec.buf.Bytes()})
		}
	})
}

// teeWriter passes a response through and keeps a copy of up to limit bytes.
type teeWriter struct {
	http.ResponseWriter
	status   int
	buf      bytes.Buffer
	limit    int
	overflow bool
}

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if !t.overflow {
		if t.buf.Len()+len(b) > t.limit {
			t.overflow = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(b)
		}
	}
	return t.ResponseWriter.Write(b)
}

func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
