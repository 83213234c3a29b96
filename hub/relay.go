package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

// Replicas sharing a MySQL database relay committed changes to each other's
// subscribers: every transaction that publishes events also writes them to
// change_events, and each replica tails that table and publishes, on its
// own bus, the changes other replicas made. A single SQLite process needs
// none of this.

const (
	kindMessage      = "message"
	kindMessageState = "message_state" // a message's delivery status changed
	kindConversation = "conversation"
	kindTicket       = "ticket"
	kindTenant       = "tenant" // some other change to the tenant's data

	relayInterval = 200 * time.Millisecond
	relayBatch    = 500
	// relayLookback re-reads recent ids: an auto-increment id is taken at
	// insert but visible only at commit, so a lower id can appear after a
	// higher one has been read.
	relayLookback = 2000
	relayRetain   = 10 * time.Minute
)

func newOrigin() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// recordEvents writes the transaction's events to change_events. A
// transaction with no event for subscribers still records that the tenant
// changed, so that other replicas stop serving cached responses.
func (h *Hub) recordEvents(tx *gorm.DB, tenantID uint64, events []Event) error {
	rows := make([]models.ChangeEvent, 0, len(events)+1)
	now := h.now()
	for _, e := range events {
		r := models.ChangeEvent{TenantID: e.TenantID, Origin: h.origin, CreatedAt: now}
		switch {
		case e.Message != nil && e.Updated:
			r.Kind, r.ObjectID = kindMessageState, e.Message.ID
		case e.Message != nil:
			r.Kind, r.ObjectID = kindMessage, e.Message.ID
		case e.Conversation != nil:
			r.Kind, r.ObjectID = kindConversation, e.Conversation.ID
		case e.Ticket != nil:
			r.Kind, r.ObjectID = kindTicket, e.Ticket.ID
		default:
			continue
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		rows = append(rows, models.ChangeEvent{TenantID: tenantID, Kind: kindTenant, Origin: h.origin, CreatedAt: now})
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("hub: record change events: %w", err)
	}
	return nil
}

// relay tails change_events until ctx ends.
func (h *Hub) relay(ctx context.Context) {
	var last uint64
	if err := h.db.WithContext(ctx).Model(&models.ChangeEvent{}).Select("COALESCE(MAX(id), 0)").Scan(&last).Error; err != nil {
		h.log.Warn("relay: cannot read the change log position", "err", err)
	}
	seen := map[uint64]bool{}
	tick := time.NewTicker(relayInterval)
	defer tick.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		from := uint64(0)
		if last > relayLookback {
			from = last - relayLookback
		}
		var rows []models.ChangeEvent
		err := h.db.WithContext(ctx).Where("id > ?", from).Order("id").Limit(relayBatch + relayLookback).Find(&rows).Error
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("relay: read change events", "err", err)
			}
			continue
		}
		var fresh []models.ChangeEvent
		for _, r := range rows {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			last = max(last, r.ID)
			if r.Origin != h.origin {
				fresh = append(fresh, r)
			}
		}
		for id := range seen {
			if id+relayLookback < from {
				delete(seen, id)
			}
		}
		if len(fresh) > 0 {
			h.publishRelayed(ctx, fresh)
		}
		if time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			h.db.WithContext(ctx).Where("created_at < ?", h.now().Add(-relayRetain)).Delete(&models.ChangeEvent{})
		}
	}
}

// publishRelayed moves the changed tenants' data versions on, then loads
// the changed objects and publishes them in order.
func (h *Hub) publishRelayed(ctx context.Context, rows []models.ChangeEvent) {
	ids := map[string][]uint64{}
	tenants := map[uint64]bool{}
	for _, r := range rows {
		ids[r.Kind] = append(ids[r.Kind], r.ObjectID)
		tenants[r.TenantID] = true
	}
	for t := range tenants {
		h.versions.bump(t)
	}
	msgs := map[uint64]*models.Message{}
	convs := map[uint64]*models.Conversation{}
	tickets := map[uint64]*models.Ticket{}
	load := func(kind string, dst any) {
		if len(ids[kind]) == 0 {
			return
		}
		if err := h.db.WithContext(ctx).Where("id IN ?", ids[kind]).Find(dst).Error; err != nil {
			h.log.Warn("relay: load changed objects", "kind", kind, "err", err)
		}
	}
	var ms []*models.Message
	var cs []*models.Conversation
	var ts []*models.Ticket
	ids[kindMessage] = append(ids[kindMessage], ids[kindMessageState]...)
	load(kindMessage, &ms)
	load(kindConversation, &cs)
	load(kindTicket, &ts)
	for _, m := range ms {
		msgs[m.ID] = m
	}
	for _, c := range cs {
		convs[c.ID] = c
	}
	for _, t := range ts {
		tickets[t.ID] = t
	}
	for _, r := range rows {
		e := Event{TenantID: r.TenantID}
		switch r.Kind {
		case kindMessage:
			e.Message = msgs[r.ObjectID]
		case kindMessageState:
			e.Message, e.Updated = msgs[r.ObjectID], true
		case kindConversation:
			e.Conversation = convs[r.ObjectID]
		case kindTicket:
			e.Ticket = tickets[r.ObjectID]
		}
		if e.Message != nil || e.Conversation != nil || e.Ticket != nil {
			h.bus.Publish(e)
		}
	}
}
