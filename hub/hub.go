// Package hub is kefuhub's domain core: customers, conversations, messages,
// tickets, staff and their rules. Every method takes the caller's Principal
// from the context, checks its role and scopes all reads and writes to its
// tenant. Resolvers and webhook handlers only translate to and from it.
package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/hub/secret"
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
	h := &Hub{
		store:   cfg.Store,
		db:      cfg.Store.DB,
		box:     cfg.Box,
		bus:     NewBus(),
		log:     cfg.Logger,
		now:     cfg.Now,
		tokens:  newTokenCache(5 * time.Second),
		origin:  newOrigin(),
		relayed: cfg.Store.Engine == store.EngineMySQL,
	}
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

// txWithEvents runs fn in a transaction and publishes the events it queued
// only once the transaction has committed, so subscribers never see a change
// that was rolled back.
func (h *Hub) txWithEvents(ctx context.Context, fn func(tx *gorm.DB, ev *pending) error) error {
	ev := &pending{}
	err := h.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := fn(tx, ev); err != nil {
			return err
		}
		if h.relayed {
			return h.recordEvents(tx, ev.events)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range ev.events {
		h.bus.Publish(e)
	}
	return nil
}

// pending collects the events of a transaction.
type pending struct{ events []Event }

func (p *pending) add(e Event) { p.events = append(p.events, e) }
