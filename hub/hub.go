// Package hub is kefuhub's domain core: customers, conversations, messages,
// tickets, staff and their rules. Every method takes the caller's Principal
// from the context, checks its role and scopes all reads and writes to its
// tenant. Resolvers and webhook handlers only translate to and from it.
package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Hub is the domain core. It is safe for concurrent use.
type Hub struct {
	store  *store.Store
	db     *gorm.DB
	box    *secret.Box
	bus    *Bus
	log    *slog.Logger
	now    func() time.Time
	tokens *tokenCache
	// connectors build the platform side of channels.
	connectors *connectors.Registry
	baseURLs   map[models.ChannelKind]string
	targetURLs map[models.TargetKind]string
	targetAPIs map[models.TargetKind]string
	publicURL  string
	httpClient *http.Client
	dispatch   *dispatcher
	rejections sync.Map // channel id → *atomic.Int64 webhooks refused
	syncLocks  syncLocks
	// ingestQueue feeds the group committer of webhook ingests (nil: each
	// ingest commits on its own).
	ingestQueue chan *ingestReq
	// background work (syncs after callbacks, polling) stops with bgCtx.
	bgCtx      context.Context
	bgCancel   context.CancelFunc
	background sync.WaitGroup
	// versions moves on with every committed write of a tenant.
	versions tenantVersions
	// origin names this replica in the change log; relayed is whether
	// changes are shared with other replicas through the database.
	origin    string
	relayed   bool
	stopRelay context.CancelFunc
	relayDone chan struct{}
}

// Config holds what a Hub needs.
type Config struct {
	Store  *store.Store
	Box    *secret.Box
	Logger *slog.Logger
	// Now overrides the clock (tests); it must return UTC, microsecond precision.
	Now func() time.Time
	// Connectors is the set of channel connectors (nil: channels are records only).
	Connectors *connectors.Registry
	// PublicURL is where platforms reach this server (webhook URLs).
	PublicURL string
	// HTTPClient calls the platforms (default: 15 s timeout).
	HTTPClient *http.Client
	// BaseURLs override platform API hosts by channel kind (private
	// deployments, proxies, fakes); missing kinds use the public hosts.
	BaseURLs map[models.ChannelKind]string
	// TargetBaseURLs do the same for target kinds, and TargetAPIBases give
	// the second host of platforms that have two (DingTalk's v1.0 API).
	TargetBaseURLs map[models.TargetKind]string
	TargetAPIBases map[models.TargetKind]string
	// Relay shares committed changes with the subscribers of other replicas
	// through the database. Nil means on for MySQL, off for SQLite.
	Relay *bool
}

// New builds a Hub.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil || cfg.Box == nil {
		return nil, fmt.Errorf("hub: store and secret box are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = store.Now
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://localhost:8080"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.HTTPClient.Transport == nil {
		// Connectors wrap this client in resty, which fills in a missing
		// Transport on first use; setting it here keeps the shared client
		// read-only once the dispatcher's workers start.
		c := *cfg.HTTPClient
		c.Transport = http.DefaultTransport
		cfg.HTTPClient = &c
	}
	h := &Hub{
		store:      cfg.Store,
		db:         cfg.Store.DB,
		box:        cfg.Box,
		bus:        NewBus(),
		log:        cfg.Logger,
		now:        cfg.Now,
		tokens:     newTokenCache(5 * time.Second),
		origin:     newOrigin(),
		connectors: cfg.Connectors,
		baseURLs:   cfg.BaseURLs,
		targetURLs: cfg.TargetBaseURLs,
		targetAPIs: cfg.TargetAPIBases,
		publicURL:  cfg.PublicURL,
		httpClient: cfg.HTTPClient,
		relayed:    cfg.Store.Engine == store.EngineMySQL,
	}
	h.bgCtx, h.bgCancel = context.WithCancel(context.Background())
	h.startGroupCommit()
	if cfg.Relay != nil {
		h.relayed = *cfg.Relay
	}
	if h.relayed {
		ctx, cancel := context.WithCancel(context.Background())
		h.stopRelay, h.relayDone = cancel, make(chan struct{})
		go func() {
			defer close(h.relayDone)
			h.relay(ctx)
		}()
	}
	return h, nil
}

// Store returns the hub's store.
func (h *Hub) Store() *store.Store { return h.store }

// Bus returns the event bus subscriptions listen on.
func (h *Hub) Bus() *Bus { return h.bus }

// Close stops relaying and ends every subscription.
func (h *Hub) Close() {
	h.bgCancel()
	h.background.Wait()
	h.stopDispatcher()
	if h.stopRelay != nil {
		h.stopRelay()
		<-h.relayDone
	}
	h.bus.Close()
}

// conn returns the database handle bound to ctx.
func (h *Hub) conn(ctx context.Context) *gorm.DB { return h.db.WithContext(ctx) }

// tenantDB returns a handle scoped to the caller's tenant rows of model.
func (h *Hub) tenantDB(ctx context.Context, p Principal, model any) *gorm.DB {
	return h.conn(ctx).Model(model).Scopes(store.Tenant(p.TenantID))
}

// write runs fn in a transaction on behalf of p. Once it has committed,
// the tenant's data version moves on (so cached responses are not served
// again) and the events fn queued are published, never before: subscribers
// never see a change that was rolled back. With several replicas the
// transaction also records its changes for the others.
func (h *Hub) write(ctx context.Context, p Principal, fn func(tx *gorm.DB, ev *pending) error) error {
	ev := &pending{}
	err := h.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := fn(tx, ev); err != nil {
			return err
		}
		if h.relayed {
			return h.recordEvents(tx, p.TenantID, ev.events)
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.versions.bump(p.TenantID)
	for _, e := range ev.events {
		h.bus.Publish(e)
	}
	if ev.queued {
		h.nudgeDispatcher()
	}
	return nil
}

// DataVersion is a number that changes whenever a write to the tenant's
// data commits (on this replica, or on another one as soon as it is
// relayed). A response computed at one version may be reused for as long
// as the version has not moved.
func (h *Hub) DataVersion(tenantID uint64) uint64 { return h.versions.get(tenantID) }

// tenantVersions counts committed writes per tenant.
type tenantVersions struct{ m sync.Map } // tenant id → *atomic.Uint64

func (v *tenantVersions) counter(tenantID uint64) *atomic.Uint64 {
	if c, ok := v.m.Load(tenantID); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := v.m.LoadOrStore(tenantID, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

func (v *tenantVersions) get(tenantID uint64) uint64 { return v.counter(tenantID).Load() }
func (v *tenantVersions) bump(tenantID uint64)       { v.counter(tenantID).Add(1) }

// pending collects the events of a transaction.
type pending struct {
	events []Event
	queued bool // the transaction queued deliveries
}

func (p *pending) add(e Event) { p.events = append(p.events, e) }
