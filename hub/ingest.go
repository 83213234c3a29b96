package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// IngestResult says what became of a webhook's events.
type IngestResult struct {
	Messages   []*models.Message
	Duplicates int
}

// Ingest stores what a channel received: for each event the raw payload,
// then the identity and customer, the conversation and the message, all in
// one transaction, deduplicated on the platform's id. It returns once
// everything is committed, so the platform may be acknowledged.
func (h *Hub) Ingest(ctx context.Context, ch *models.Channel, events []connectors.InboundEvent) (*IngestResult, error) {
	if h.ingestQueue != nil {
		return h.ingestGrouped(ctx, ch, events)
	}
	return h.ingest(ctx, ch, events, nil)
}

// ingest is Ingest in a transaction of its own, which may also move a
// fetch cursor.
func (h *Hub) ingest(ctx context.Context, ch *models.Channel, events []connectors.InboundEvent, mv *cursorMove) (*IngestResult, error) {
	p := System(ch.TenantID)
	var res *IngestResult
	for attempt := 0; ; attempt++ {
		res = &IngestResult{}
		err := h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
			if err := h.ingestEvents(tx, ch, events, res, ev); err != nil {
				return err
			}
			if mv != nil {
				return h.moveCursor(tx, ch, mv)
			}
			return nil
		})
		// Two first messages of one new customer, racing on another replica,
		// both create the identity: the loser retries and finds it.
		if err != nil && store.IsDuplicate(err) && attempt < 2 {
			continue
		}
		if errors.Is(err, errCursorMoved) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("hub: ingest: %w", err)
		}
		return res, nil
	}
}

// ingestEvents stores events in tx and queues what subscribers should see.
func (h *Hub) ingestEvents(tx *gorm.DB, ch *models.Channel, events []connectors.InboundEvent, res *IngestResult, ev *pending) error {
	p := System(ch.TenantID)
	var convs []*models.Conversation
	for i := range events {
		m, conv, err := h.ingestOne(tx, p, ch, &events[i])
		if err != nil {
			return err
		}
		if m == nil {
			res.Duplicates++
			continue
		}
		res.Messages = append(res.Messages, m)
		ev.add(Event{TenantID: p.TenantID, Message: m})
		if i := slices.IndexFunc(convs, func(c *models.Conversation) bool { return c.ID == conv.ID }); i >= 0 {
			convs[i] = conv
		} else {
			convs = append(convs, conv)
		}
	}
	for _, c := range convs {
		ev.add(Event{TenantID: p.TenantID, Conversation: c})
	}
	return nil
}

// ingestOne stores one event and returns the message and its conversation
// as they now are; a redelivery changes nothing and returns no message.
func (h *Hub) ingestOne(tx *gorm.DB, p Principal, ch *models.Channel, e *connectors.InboundEvent) (*models.Message, *models.Conversation, error) {
	now := h.now()
	raw := &models.RawEvent{TenantID: p.TenantID, ChannelID: ch.ID, ExternalID: clip(e.ExternalID, 191),
		Payload: e.Raw, Status: models.RawStored, ReceivedAt: now}
	var existing models.Message
	err := tx.Where("channel_id = ? AND external_id = ?", ch.ID, raw.ExternalID).Take(&existing).Error
	switch {
	case err == nil:
		raw.Status, raw.MessageID = models.RawDuplicate, &existing.ID
		return nil, nil, tx.Create(raw).Error
	case !store.IsNotFound(err):
		return nil, nil, err
	}
	cust, err := h.resolveIdentity(tx, p, ch, e.Sender)
	if err != nil {
		return nil, nil, err
	}
	conv, err := h.conversationFor(tx, p, ch, cust, e)
	if err != nil {
		return nil, nil, err
	}
	// The message carries the time the customer sent it, when the platform
	// says so and it is not in the future.
	sentAt := now
	if !e.SentAt.IsZero() && e.SentAt.Before(now) {
		sentAt = e.SentAt.UTC().Truncate(time.Microsecond)
	}
	extID := raw.ExternalID
	m := &models.Message{
		TenantID: p.TenantID, ConversationID: conv.ID, ChannelID: ch.ID,
		Direction: models.DirectionInbound, SenderType: models.SenderCustomer, SenderCustomerID: &cust.ID,
		Text: clipRunes(e.Text, 20000), ContentType: firstNonEmpty(e.ContentType, "text/plain"),
		Attachments: e.Attachments, ExternalID: &extID, DeliveryStatus: models.DeliveryNone, CreatedAt: sentAt,
		Metadata: e.Context,
	}
	if e.Kind == connectors.KindEvent {
		m.SenderType, m.ContentType = models.SenderSystem, "application/vnd.kefuhub.event+"+clip(e.EventType, 40)
		if m.Text == "" {
			m.Text = e.EventType
		}
	}
	if m.Attachments == nil {
		m.Attachments = []models.Attachment{}
	}
	if err := tx.Create(m).Error; err != nil {
		return nil, nil, err
	}
	raw.MessageID = &m.ID
	if err := tx.Create(raw).Error; err != nil {
		return nil, nil, err
	}
	// An event (a refund opened, a session entered) is the latest thing in
	// the conversation too; only a message makes the customer wait.
	updates := map[string]any{"last_activity_at": now, "updated_at": now, "last_message_id": m.ID, "last_message_at": now}
	if e.Kind == connectors.KindMessage {
		if conv.WaitingSince == nil {
			updates["waiting_since"] = now
		}
		if conv.Status != models.ConversationOpen {
			updates["status"], updates["snoozed_until"] = models.ConversationOpen, nil
		}
	}
	if err := tx.Model(&models.Conversation{}).Where("id = ?", conv.ID).Updates(updates).Error; err != nil {
		return nil, nil, err
	}
	// Keep the returned conversation as the row now is, for subscribers.
	conv.LastActivityAt, conv.UpdatedAt = now, now
	conv.LastMessageID, conv.LastMessageAt = &m.ID, &now
	if e.Kind == connectors.KindMessage {
		if conv.WaitingSince == nil {
			conv.WaitingSince = &now
		}
		if conv.Status != models.ConversationOpen {
			conv.Status, conv.SnoozedUntil = models.ConversationOpen, nil
		}
	}
	return m, conv, nil
}

// resolveIdentity finds or creates the customer behind a sender. A new
// identity joins an existing customer only when a verified key (phone,
// email) points at exactly one customer and no key points elsewhere; every
// such link is explained in the audit log.
func (h *Hub) resolveIdentity(tx *gorm.DB, p Principal, ch *models.Channel, s connectors.Sender) (*models.Customer, error) {
	extID := clip(strings.TrimSpace(s.ExternalID), 191)
	if extID == "" {
		return nil, fmt.Errorf("event has no sender id")
	}
	cust := &models.Customer{}
	err := tx.Table("customers").Select("customers.*").
		Joins("JOIN identities ON identities.customer_id = customers.id").
		Where("identities.channel_id = ? AND identities.external_id = ?", ch.ID, extID).Take(cust).Error
	if err == nil {
		// Follow merges: the identity belongs to the surviving customer.
		for cust.MergedIntoID != nil {
			next := &models.Customer{}
			if err := tx.Where("id = ?", *cust.MergedIntoID).Take(next).Error; err != nil {
				return nil, err
			}
			cust = next
		}
		return cust, nil
	}
	if !store.IsNotFound(err) {
		return nil, err
	}
	now := h.now()
	var ident models.Identity
	phone, _ := cleanPhone("phone", nonEmpty(s.Phone))
	email, _ := cleanOptEmail("email", nonEmpty(s.Email))
	union := nonEmpty(clip(strings.TrimSpace(s.UnionID), 64))
	cust, reason, err := h.matchCustomer(tx, p, union, phone, email)
	if err != nil {
		return nil, err
	}
	if cust == nil {
		name := strings.TrimSpace(s.DisplayName)
		if name == "" {
			name = fmt.Sprintf("%s 客户 %s", ch.Name, tail(extID, 6))
		}
		cust = &models.Customer{TenantID: p.TenantID, Name: clipRunes(name, 200), Phone: phone, Email: email,
			Tags: []string{}, Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(cust).Error; err != nil {
			return nil, err
		}
		if err := audit(tx, p, "customer.create", models.TypeCustomer, cust.ID, nil, map[string]any{
			"reason": "first contact on " + string(ch.Kind), "channelId": ch.GlobalID(), "externalId": extID}); err != nil {
			return nil, err
		}
	}
	ident = models.Identity{TenantID: p.TenantID, CustomerID: cust.ID, ChannelID: ch.ID, ExternalID: extID, UnionID: union,
		DisplayName: clipRunes(strings.TrimSpace(s.DisplayName), 200), CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(&ident).Error; err != nil {
		return nil, err
	}
	if reason != "" {
		if err := audit(tx, p, "identity.link", models.TypeCustomer, cust.ID, nil, map[string]any{
			"reason": reason, "identityId": ident.GlobalID(), "channelId": ch.GlobalID(), "externalId": extID}); err != nil {
			return nil, err
		}
	}
	return cust, nil
}

// matchCustomer finds the one customer the verified keys agree on: a
// WeChat unionid already known on another channel, a phone, an email. Keys
// that point at different customers, or at several, link nothing.
func (h *Hub) matchCustomer(tx *gorm.DB, p Principal, union, phone, email *string) (*models.Customer, string, error) {
	var found *models.Customer
	var reasons []string
	if union != nil {
		var ids []uint64
		if err := tx.Model(&models.Identity{}).Where("tenant_id = ? AND union_id = ?", p.TenantID, *union).
			Distinct("customer_id").Limit(2).Pluck("customer_id", &ids).Error; err != nil {
			return nil, "", err
		}
		if len(ids) > 1 {
			return nil, "", nil
		}
		if len(ids) == 1 {
			c := &models.Customer{}
			if err := tx.Where("id = ?", ids[0]).Take(c).Error; err != nil {
				return nil, "", err
			}
			for c.MergedIntoID != nil {
				next := &models.Customer{}
				if err := tx.Where("id = ?", *c.MergedIntoID).Take(next).Error; err != nil {
					return nil, "", err
				}
				c = next
			}
			found = c
			reasons = append(reasons, "same WeChat unionid")
		}
	}
	for _, k := range []struct {
		column string
		value  *string
	}{{"phone", phone}, {"email", email}} {
		if k.value == nil {
			continue
		}
		var hits []*models.Customer
		if err := tx.Scopes(store.Tenant(p.TenantID)).Where(k.column+" = ? AND merged_into_id IS NULL", *k.value).Limit(2).Find(&hits).Error; err != nil {
			return nil, "", err
		}
		switch {
		case len(hits) > 1:
			return nil, "", nil // ambiguous: never guess
		case len(hits) == 1 && found != nil && found.ID != hits[0].ID:
			return nil, "", nil // the keys disagree
		case len(hits) == 1:
			found = hits[0]
			reasons = append(reasons, "same "+k.column)
		}
	}
	if found == nil {
		return nil, "", nil
	}
	return found, "linked to the existing customer by " + strings.Join(reasons, " and "), nil
}

// conversationFor picks the conversation an event belongs to: the one
// holding a message it replies to (email threads, reopened if resolved),
// else a new one when the event starts a thread of its own, else the
// customer's open conversation on the channel.
func (h *Hub) conversationFor(tx *gorm.DB, p Principal, ch *models.Channel, cust *models.Customer, e *connectors.InboundEvent) (*models.Conversation, error) {
	if len(e.ThreadRefs) > 0 {
		refs := e.ThreadRefs
		if len(refs) > 50 {
			refs = refs[len(refs)-50:]
		}
		var convIDs []uint64
		err := tx.Model(&models.Message{}).Where("channel_id = ? AND external_id IN ?", ch.ID, refs).
			Order("id DESC").Limit(1).Pluck("conversation_id", &convIDs).Error
		if err != nil {
			return nil, err
		}
		if len(convIDs) == 1 {
			conv := &models.Conversation{}
			if err := h.lockFor(tx).Where("id = ? AND tenant_id = ?", convIDs[0], p.TenantID).Take(conv).Error; err == nil {
				return conv, nil
			}
		}
	}
	if e.NewThread {
		return h.newConversation(tx, p, ch, cust)
	}
	return h.openConversation(tx, p, ch, cust)
}

// openConversation returns the customer's unresolved conversation on the
// channel, or starts a new one.
func (h *Hub) openConversation(tx *gorm.DB, p Principal, ch *models.Channel, cust *models.Customer) (*models.Conversation, error) {
	conv := &models.Conversation{}
	// The customer's own conversations are few: look them up by customer,
	// with tenant and status as checks ("+"), not as index keys.
	err := h.lockFor(tx).Where("+tenant_id = ? AND customer_id = ? AND +channel_id = ? AND +status <> ?",
		p.TenantID, cust.ID, ch.ID, models.ConversationResolved).Order("id DESC").Take(conv).Error
	if err == nil {
		return conv, nil
	}
	if !store.IsNotFound(err) {
		return nil, err
	}
	return h.newConversation(tx, p, ch, cust)
}

// newConversation starts a conversation with the customer on the channel.
func (h *Hub) newConversation(tx *gorm.DB, p Principal, ch *models.Channel, cust *models.Customer) (*models.Conversation, error) {
	now := h.now()
	conv := &models.Conversation{}
	num, err := h.nextNumber(tx, p.TenantID, counterConversation, 1)
	if err != nil {
		return nil, err
	}
	*conv = models.Conversation{TenantID: p.TenantID, Number: num, ChannelID: ch.ID, CustomerID: cust.ID,
		Status: models.ConversationOpen, Priority: models.PriorityNormal, Tags: []string{},
		LastActivityAt: now, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(conv).Error; err != nil {
		return nil, err
	}
	return conv, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func clipRunes(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func nonEmpty(s string) *string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return &s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
