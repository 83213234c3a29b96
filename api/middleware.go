package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/kefuhub/kefuhub/hub"
)

type requestIDKey struct{}
type loggerKey struct{}

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func logFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusRecorder remembers the status code for the access log. It forwards
// Flush and Unwrap so that SSE streaming and WebSocket hijacking still work.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// requestLog gives every request an id (X-Request-Id, taken from the
// client when it sends a sane one), a logger carrying it, and a log line.
func requestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		l := log.With("request_id", id)
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey{}, id), loggerKey{}, l)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return
		}
		l.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

// recoverPanics turns a panic outside GraphQL execution into a 500.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logFrom(r.Context(), log).Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, hub.CodeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeError answers with a GraphQL-shaped error body.
func writeError(w http.ResponseWriter, status int, code hub.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// limitBody refuses bodies over max with 413: at once when the client
// says how big the body is, and after reading at most max+1 bytes
// otherwise. GraphQL bodies are small, so buffering them costs little and
// lets the answer be a clean 413 rather than a half-read request.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func() {
			writeError(w, http.StatusRequestEntityTooLarge, hub.CodeBadInput, fmt.Sprintf("request body is larger than %d bytes", max))
		}
		if r.ContentLength > max {
			tooLarge()
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				writeError(w, http.StatusBadRequest, hub.CodeBadInput, "could not read the request body")
				return
			}
			if int64(len(body)) > max {
				tooLarge()
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// authenticate resolves the bearer token into the caller's principal.
// Plain HTTP requests without a valid token are refused with 401. A
// WebSocket upgrade may instead authenticate in its connection_init
// payload, so it passes through and websocketInit decides.
func authenticate(h *hub.Hub, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		tok, hasToken := bearer(r.Header.Get("Authorization"))
		if hasToken {
			p, err := h.Authenticate(r.Context(), tok)
			if err == nil {
				next.ServeHTTP(w, r.WithContext(hub.WithPrincipal(r.Context(), p)))
				return
			}
			if !errors.Is(err, hub.ErrUnauthenticated) {
				logFrom(r.Context(), log).Error("authenticate", "err", err)
				writeError(w, http.StatusServiceUnavailable, hub.CodeInternal, "cannot check credentials right now")
				return
			}
		}
		if r.Header.Get("Upgrade") != "" && !hasToken {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="kefuhub"`)
		writeError(w, http.StatusUnauthorized, hub.CodeUnauthenticated, hub.ErrUnauthenticated.Message)
	})
}

// websocketInit authenticates a WebSocket connection from its
// connection_init payload ({"Authorization": "Bearer <token>"}), unless the
// upgrade request already did.
func websocketInit(h *hub.Hub) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if auth := payload.Authorization(); auth != "" {
			tok, ok := bearer(auth)
			if !ok {
				tok = auth
			}
			p, err := h.Authenticate(ctx, tok)
			if err != nil {
				return forbidden(ctx, "invalid token"), nil, errors.New("unauthenticated: invalid token")
			}
			return hub.WithPrincipal(ctx, p), nil, nil
		}
		if _, ok := hub.PrincipalFrom(ctx); ok {
			return ctx, nil, nil
		}
		const msg = "send {\"Authorization\": \"Bearer <token>\"} in connection_init"
		return forbidden(ctx, msg), nil, errors.New("unauthenticated: " + msg)
	}
}

// forbidden makes a refused connection close with 4403 Forbidden, as
// graphql-transport-ws asks, so that clients stop retrying the same token.
func forbidden(ctx context.Context, reason string) context.Context {
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, 4403), "Forbidden: "+reason)
}
