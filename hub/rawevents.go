package hub

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// RecordFailed keeps events that were received but could not be processed,
// so that nothing accepted is lost: an admin replays them after a fix. It
// fails only when the database cannot take them either (then the platform
// must deliver again).
func (h *Hub) RecordFailed(ctx context.Context, ch *models.Channel, events []connectors.InboundEvent, cause error) error {
	p := System(ch.TenantID)
	return h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		now := h.now()
		for _, e := range events {
			raw := &models.RawEvent{TenantID: p.TenantID, ChannelID: ch.ID, ExternalID: clip(e.ExternalID, 191),
				Payload: e.Raw, Status: models.RawFailed, Error: clip(cause.Error(), 1000), ReceivedAt: now}
			if err := tx.Create(raw).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// RawEvents lists the tenant's raw events, newest first (ADMIN).
func (h *Hub) RawEvents(ctx context.Context, args PageArgs, f *models.RawEventFilter) (*Page[models.RawEvent], error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.RawEvent{})
	if f != nil {
		if f.ChannelID != nil {
			cid, err := decodeFilterRef("channelId", models.TypeChannel, *f.ChannelID)
			if err != nil {
				return nil, err
			}
			q = q.Where("channel_id = ?", cid)
		}
		if f.Status != nil {
			q = q.Where("status = ?", *f.Status)
		}
	}
	key := sortKey[models.RawEvent]{table: "raw_events", column: "id", kind: keyInt, desc: true,
		value: func(r *models.RawEvent) any { return r.ID }, id: func(r *models.RawEvent) uint64 { return r.ID }}
	return paginate(ctx, q, args, key)
}

// RawEventsByID serves batch lookups and node(id) (ADMIN).
func (h *Hub) RawEventsByID(ctx context.Context, ids []uint64) (map[uint64]*models.RawEvent, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var rows []*models.RawEvent
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("hub: batch raw events: %w", err)
	}
	out := make(map[uint64]*models.RawEvent, len(rows))
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}

// ReplayRawEvent processes a raw event again through its channel's
// connector (ADMIN). An event already stored is not stored twice.
func (h *Hub) ReplayRawEvent(ctx context.Context, gid string) (*models.RawEvent, *models.Message, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, nil, err
	}
	id, err := decodeRef("id", models.TypeRawEvent, gid)
	if err != nil {
		return nil, nil, err
	}
	raw := &models.RawEvent{}
	if err := load(h.conn(ctx), p, raw, id, "id", models.TypeRawEvent); err != nil {
		return nil, nil, err
	}
	ch := &models.Channel{}
	if err := load(h.conn(ctx), p, ch, raw.ChannelID, "id", models.TypeChannel); err != nil {
		return nil, nil, err
	}
	conn, err := h.openChannel(ch)
	if err != nil {
		return nil, nil, errConflict("id", "the channel cannot be used: %v", err)
	}
	dec, ok := conn.(connectors.RawDecoder)
	if !ok {
		return nil, nil, errConflict("id", "%s events cannot be replayed", ch.Kind)
	}
	events, err := dec.DecodeRaw(raw.Payload)
	if err != nil {
		return nil, nil, errConflict("id", "the stored payload does not decode: %v", err)
	}
	res, err := h.Ingest(ctx, ch, events)
	if err != nil {
		return nil, nil, err
	}
	var msg *models.Message
	if len(res.Messages) > 0 {
		msg = res.Messages[0]
	}
	// The replayed row records the outcome; the ingest wrote rows of its own.
	update := map[string]any{"status": models.RawStored, "error": ""}
	if msg != nil {
		update["message_id"] = msg.ID
	} else {
		update["status"] = models.RawDuplicate
	}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Model(raw).Updates(update).Error; err != nil {
			return err
		}
		return audit(tx, p, "raw_event.replay", models.TypeRawEvent, raw.ID, nil, update)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := h.conn(ctx).Where("id = ?", raw.ID).Take(raw).Error; err != nil {
		return nil, nil, err
	}
	return raw, msg, nil
}

// SplitIdentity moves an identity, and its channel's conversations with the
// customer, to a new customer of its own (AGENT): the undo of a wrong link.
func (h *Hub) SplitIdentity(ctx context.Context, in models.SplitIdentityInput) (*models.Customer, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("identityId", models.TypeIdentity, in.IdentityID)
	if err != nil {
		return nil, err
	}
	cust := &models.Customer{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		ident := &models.Identity{}
		if err := load(h.lockFor(tx), p, ident, id, "identityId", models.TypeIdentity); err != nil {
			return err
		}
		var others int64
		if err := tx.Model(&models.Identity{}).Where("customer_id = ? AND id <> ?", ident.CustomerID, ident.ID).Count(&others).Error; err != nil {
			return err
		}
		if others == 0 {
			return errConflict("identityId", "this is the customer's only identity; there is nothing to split from")
		}
		name := ident.DisplayName
		if in.Name != nil {
			if name, err = cleanText("name", *in.Name, 200, true); err != nil {
				return err
			}
		}
		if name == "" {
			name = "客户 " + tail(ident.ExternalID, 6)
		}
		now := h.now()
		*cust = models.Customer{TenantID: p.TenantID, Name: name, Tags: []string{}, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(cust).Error; err != nil {
			return err
		}
		from := ident.CustomerID
		if err := tx.Model(ident).Updates(map[string]any{"customer_id": cust.ID, "updated_at": now}).Error; err != nil {
			return err
		}
		var convs []*models.Conversation
		if err := tx.Scopes(store.Tenant(p.TenantID)).Where("customer_id = ? AND channel_id = ?", from, ident.ChannelID).Find(&convs).Error; err != nil {
			return err
		}
		for _, c := range convs {
			c.CustomerID, c.UpdatedAt = cust.ID, now
			if err := tx.Model(c).Select("customer_id", "updated_at").Updates(c).Error; err != nil {
				return err
			}
			ev.add(Event{TenantID: p.TenantID, Conversation: c})
		}
		return audit(tx, p, "identity.split", models.TypeCustomer, cust.ID, map[string]any{"customerId": models.EncodeID(models.TypeCustomer, from)},
			map[string]any{"identityId": ident.GlobalID(), "customerId": cust.GlobalID(), "conversationsMoved": len(convs)})
	})
	if err != nil {
		return nil, err
	}
	return cust, nil
}
