// Package api serves kefuhub over HTTP: the GraphQL endpoint (POST, GET,
// WebSocket and Server-Sent Events), GraphiQL, and the health probes. It
// authenticates callers and translates; the hub does the work.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kefuhub/kefuhub/graph"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/resolvers"
)

// Options tune the API's protections.
type Options struct {
	// MaxBodyBytes caps a request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxComplexity caps a query's cost; lists count their page size (default 20000).
	MaxComplexity int
	// MaxDepth caps how deeply selections nest (default 12).
	MaxDepth int
	// QueryCacheSize is how many parsed queries are kept (default 1000).
	QueryCacheSize int
	// APQCacheSize is how many persisted queries are kept (default 1000).
	APQCacheSize int
	// KeepAlive is the WebSocket keep-alive interval (default 15 s).
	KeepAlive time.Duration
	// ResponseCache is how many query responses are kept for reuse until
	// the tenant's data changes (default 2000; negative turns it off).
	ResponseCache int
	Logger        *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxComplexity == 0 {
		o.MaxComplexity = 20000
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = 12
	}
	if o.QueryCacheSize == 0 {
		o.QueryCacheSize = 1000
	}
	if o.APQCacheSize == 0 {
		o.APQCacheSize = 1000
	}
	if o.ResponseCache == 0 {
		o.ResponseCache = 2000
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// New returns kefuhub's HTTP handler.
func New(h *hub.Hub, opts Options) http.Handler {
	opts.defaults()
	gql := newGraphQLServer(h, opts)
	mux := http.NewServeMux()
	cache := newResponseCache(h, opts.ResponseCache)
	mux.Handle("/graphql", authenticate(h, opts.Logger, limitBody(opts.MaxBodyBytes, cache.middleware(gql))))
	mux.Handle("/webhooks/{channelId}", webhooks(h, opts.Logger))
	mux.Handle("/webhooks/oa/{targetId}", oaCallbacks(h, opts.Logger))
	mux.Handle("GET /{$}", playground.Handler("kefuhub GraphiQL", "/graphql", playground.WithStoragePrefix("kefuhub")))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := h.Store().Ping(ctx); err != nil {
			logFrom(r.Context(), opts.Logger).Warn("readyz: database unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database unreachable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return requestLog(opts.Logger, recoverPanics(opts.Logger, mux))
}

func newGraphQLServer(h *hub.Hub, opts Options) *handler.Server {
	cfg := graph.Config{Resolvers: &resolvers.Resolver{Hub: h}}
	setComplexity(&cfg.Complexity)
	srv := handler.New(graph.NewExecutableSchema(cfg))

	srv.AddTransport(transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{
			// Callers authenticate with a token, never a cookie, so a page on
			// another origin gains nothing by opening a socket.
			InsecureSkipVerify: true,
		}},
		KeepAlivePingInterval: opts.KeepAlive,
		InitFunc:              websocketInit(h),
		InitTimeout:           10 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](opts.QueryCacheSize))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](opts.APQCacheSize)})
	srv.Use(extension.FixedComplexityLimit(opts.MaxComplexity))
	srv.Use(depthLimit{max: opts.MaxDepth})

	// Each response (each query, each subscription event) gets its own
	// loaders, so nothing is cached across requests or events.
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(resolvers.WithLoaders(ctx, resolvers.NewLoaders(h)))
	})
	srv.AroundResponses(markCacheable)
	srv.AroundFields(markInternal)
	srv.SetErrorPresenter(presentError(opts.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		logFrom(ctx, opts.Logger).Error("panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errInternal
	})
	return srv
}

var errInternal = errors.New("internal error")

// markInternal wraps every resolver error that is not a hub error, so the
// presenter can tell our failures from gqlgen's complaints about the
// request. (Batch resolvers, which this middleware does not wrap, mark
// their own.)
func markInternal(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	return res, resolvers.MarkInternal(err)
}

// presentError gives every error an extensions.code. Hub errors carry
// their own; what gqlgen raises about the request (parse, validation,
// argument coercion) is the client's to fix; our own failures are INTERNAL,
// logged with the request id and never shown, so no SQL or stack trace
// reaches a client.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		if he, ok := hub.AsError(err); ok {
			gqlErr.Message = he.Message
			gqlErr.Extensions["code"] = string(he.Code)
			if len(he.Field) > 0 {
				gqlErr.Extensions["field"] = he.Field
			}
			return gqlErr
		}
		var ie resolvers.InternalError
		if !errors.As(err, &ie) && !errors.Is(err, errInternal) {
			if _, ok := gqlErr.Extensions["code"]; !ok {
				gqlErr.Extensions["code"] = string(hub.CodeBadInput)
			}
			return gqlErr
		}
		if !errors.Is(err, errInternal) && !errors.Is(err, context.Canceled) {
			logFrom(ctx, log).Error("graphql: internal error", "err", err, "path", gqlErr.Path.String())
		}
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": string(hub.CodeInternal)}
		if id := RequestID(ctx); id != "" {
			gqlErr.Extensions["requestId"] = id
		}
		return gqlErr
	}
}
