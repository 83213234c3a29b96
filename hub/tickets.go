package hub

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

// cleanDue normalizes a due time; the zero time is refused rather than
// stored as a date in year 1.
func cleanDue(field string, t *time.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	if t.IsZero() || t.Year() < 2000 {
		return nil, errBadInput(field, "%s is not a real date", field)
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v, nil
}

// CreateTicket opens a work order (AGENT). When it comes from a
// conversation, it is linked to it and takes its customer.
func (h *Hub) CreateTicket(ctx context.Context, in models.CreateTicketInput) (*models.Ticket, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	now := h.now()
	t := &models.Ticket{TenantID: p.TenantID, Status: models.TicketNew, Priority: derefOr(in.Priority, models.PriorityNormal),
		ExternalRefs: []models.ExternalRef{}, CreatedAt: now, UpdatedAt: now}
	if t.DueAt, err = cleanDue("dueAt", in.DueAt); err != nil {
		return nil, err
	}
	if p.UserID != 0 {
		t.CreatedByID = &p.UserID
	}
	if t.Title, err = cleanText("title", in.Title, 500, true); err != nil {
		return nil, err
	}
	if t.Description, err = cleanText("description", derefOr(in.Description, ""), 20000, false); err != nil {
		return nil, err
	}
	if t.Category, err = cleanText("category", derefOr(in.Category, ""), 100, false); err != nil {
		return nil, err
	}
	if t.CustomerID, err = decodeOptRef("customerId", models.TypeCustomer, in.CustomerID); err != nil {
		return nil, err
	}
	convID, err := decodeOptRef("conversationId", models.TypeConversation, in.ConversationID)
	if err != nil {
		return nil, err
	}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if t.CustomerID != nil {
			if err := load(tx, p, &models.Customer{}, *t.CustomerID, "customerId", models.TypeCustomer); err != nil {
				return err
			}
		}
		var conv *models.Conversation
		if convID != nil {
			conv = &models.Conversation{}
			if err := load(tx, p, conv, *convID, "conversationId", models.TypeConversation); err != nil {
				return err
			}
			if t.CustomerID == nil {
				t.CustomerID = &conv.CustomerID
			}
		}
		var err error
		if t.AssigneeID, err = h.assignableUser(tx, p, "assigneeId", in.AssigneeID); err != nil {
			return err
		}
		if t.TeamID, err = h.teamRef(tx, p, "teamId", in.TeamID); err != nil {
			return err
		}
		if t.Number, err = h.nextNumber(tx, p.TenantID, counterTicket, firstTicketNumber); err != nil {
			return err
		}
		if err := tx.Create(t).Error; err != nil {
			return fmt.Errorf("hub: create ticket: %w", err)
		}
		if conv != nil {
			if err := tx.Create(&models.TicketConversation{TicketID: t.ID, ConversationID: conv.ID, TenantID: p.TenantID, CreatedAt: now}).Error; err != nil {
				return fmt.Errorf("hub: link ticket: %w", err)
			}
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		if err := h.ticketEvent(tx, ev, p, t, models.TicketCreated, ""); err != nil {
			return err
		}
		return audit(tx, p, "ticket.create", models.TypeTicket, t.ID, nil, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTicket changes a ticket's fields (AGENT); status moves through
// TransitionTicket only.
func (h *Hub) UpdateTicket(ctx context.Context, in models.UpdateTicketInput) (*models.Ticket, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeTicket, in.ID)
	if err != nil {
		return nil, err
	}
	t := &models.Ticket{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, t, id, "id", models.TypeTicket); err != nil {
			return err
		}
		if t.Status == models.TicketClosed {
			return errConflict("id", "%s is closed and can no longer change", t.Reference())
		}
		before := *t
		var err error
		if in.Title != nil {
			if t.Title, err = cleanText("title", *in.Title, 500, true); err != nil {
				return err
			}
		}
		if in.Description != nil {
			if t.Description, err = cleanText("description", *in.Description, 20000, false); err != nil {
				return err
			}
		}
		if in.Category != nil {
			if t.Category, err = cleanText("category", *in.Category, 100, false); err != nil {
				return err
			}
		}
		if in.Priority != nil {
			t.Priority = *in.Priority
		}
		if gid, set := in.AssigneeID.ValueOK(); set {
			if t.AssigneeID, err = h.assignableUser(tx, p, "assigneeId", gid); err != nil {
				return err
			}
		}
		if gid, set := in.TeamID.ValueOK(); set {
			if t.TeamID, err = h.teamRef(tx, p, "teamId", gid); err != nil {
				return err
			}
		}
		if due, set := in.DueAt.ValueOK(); set {
			if t.DueAt, err = cleanDue("dueAt", due); err != nil {
				return err
			}
		}
		t.UpdatedAt = h.now()
		if err := tx.Model(t).Select("title", "description", "category", "priority", "assignee_id", "team_id", "due_at", "updated_at").Updates(t).Error; err != nil {
			return fmt.Errorf("hub: update ticket: %w", err)
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		event := models.TicketUpdated
		if !sameID(before.AssigneeID, t.AssigneeID) {
			event = models.TicketAssigned
		}
		if err := h.ticketEvent(tx, ev, p, t, event, ""); err != nil {
			return err
		}
		return audit(tx, p, "ticket.update", models.TypeTicket, t.ID, &before, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TransitionTicket moves a ticket along its life cycle (AGENT); moves the
// life cycle does not allow are refused with the allowed ones named.
func (h *Hub) TransitionTicket(ctx context.Context, in models.TransitionTicketInput) (*models.Ticket, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeTicket, in.ID)
	if err != nil {
		return nil, err
	}
	comment, err := cleanText("comment", derefOr(in.Comment, ""), 2000, false)
	if err != nil {
		return nil, err
	}
	t := &models.Ticket{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, t, id, "id", models.TypeTicket); err != nil {
			return err
		}
		if !t.Status.CanTransitionTo(in.Status) {
			allowed := make([]string, 0, 4)
			for _, s := range t.Status.NextStatuses() {
				allowed = append(allowed, string(s))
			}
			next := "none"
			if len(allowed) > 0 {
				next = strings.Join(allowed, ", ")
			}
			return errBadInput("status", "%s cannot move from %s to %s (allowed: %s)", t.Reference(), t.Status, in.Status, next)
		}
		before := *t
		now := h.now()
		t.Status, t.UpdatedAt = in.Status, now
		switch in.Status {
		case models.TicketResolved:
			t.ResolvedAt = &now
		case models.TicketClosed:
			t.ClosedAt = &now
			if t.ResolvedAt == nil {
				t.ResolvedAt = &now
			}
		case models.TicketOpen, models.TicketPending:
			t.ResolvedAt = nil
		}
		if err := tx.Model(t).Select("status", "resolved_at", "closed_at", "updated_at").Updates(t).Error; err != nil {
			return fmt.Errorf("hub: transition ticket: %w", err)
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		event := models.TicketUpdated
		switch {
		case in.Status == models.TicketResolved || (in.Status == models.TicketClosed && before.Status != models.TicketResolved):
			event = models.TicketResolvedE
		case before.Status == models.TicketResolved && in.Status == models.TicketOpen:
			event = models.TicketReopened
		}
		if err := h.ticketEvent(tx, ev, p, t, event, comment); err != nil {
			return err
		}
		if event == models.TicketResolvedE {
			if err := h.notifyCustomerResolved(tx, ev, p, t, comment); err != nil {
				return err
			}
		}
		after := snapshot(t)
		if comment != "" {
			after["comment"] = comment
		}
		return audit(tx, p, "ticket.transition", models.TypeTicket, t.ID, &before, after)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// LinkConversationToTicket links a conversation to a ticket (AGENT).
// Linking twice is not an error.
func (h *Hub) LinkConversationToTicket(ctx context.Context, in models.LinkConversationToTicketInput) (*models.Ticket, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	ticketID, err := decodeRef("ticketId", models.TypeTicket, in.TicketID)
	if err != nil {
		return nil, err
	}
	convID, err := decodeRef("conversationId", models.TypeConversation, in.ConversationID)
	if err != nil {
		return nil, err
	}
	t := &models.Ticket{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, t, ticketID, "ticketId", models.TypeTicket); err != nil {
			return err
		}
		conv := &models.Conversation{}
		if err := load(tx, p, conv, convID, "conversationId", models.TypeConversation); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&models.TicketConversation{}).Where("ticket_id = ? AND conversation_id = ?", t.ID, conv.ID).Count(&n).Error; err != nil {
			return fmt.Errorf("hub: link: %w", err)
		}
		if n > 0 {
			return nil
		}
		now := h.now()
		if err := tx.Create(&models.TicketConversation{TicketID: t.ID, ConversationID: conv.ID, TenantID: p.TenantID, CreatedAt: now}).Error; err != nil {
			return fmt.Errorf("hub: link: %w", err)
		}
		if t.CustomerID == nil {
			t.CustomerID = &conv.CustomerID
		}
		t.UpdatedAt = now
		if err := tx.Model(t).Select("customer_id", "updated_at").Updates(t).Error; err != nil {
			return fmt.Errorf("hub: link: %w", err)
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		ev.add(Event{TenantID: p.TenantID, Conversation: conv})
		return audit(tx, p, "ticket.link_conversation", models.TypeTicket, t.ID, nil, map[string]any{"conversationId": conv.GlobalID()})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ticketFilter is a decoded TicketFilter, usable as SQL and in memory.
type ticketFilter struct {
	statuses   []models.TicketStatus
	priorities []models.Priority
	assigneeID *uint64
	unassigned bool
	teamID     *uint64
	category   *string
	customerID *uint64
	search     string
}

func decodeTicketFilter(f *models.TicketFilter) (ticketFilter, error) {
	var tf ticketFilter
	if f == nil {
		return tf, nil
	}
	ref := func(field, typ string, gid *string) (*uint64, error) {
		if gid == nil {
			return nil, nil
		}
		id, err := decodeFilterRef(field, typ, *gid)
		return &id, err
	}
	var err error
	tf.statuses, tf.priorities, tf.category = f.Status, f.Priority, f.Category
	if tf.assigneeID, err = ref("assigneeId", models.TypeUser, f.AssigneeID); err != nil {
		return tf, err
	}
	if tf.teamID, err = ref("teamId", models.TypeTeam, f.TeamID); err != nil {
		return tf, err
	}
	if tf.customerID, err = ref("customerId", models.TypeCustomer, f.CustomerID); err != nil {
		return tf, err
	}
	tf.unassigned = derefOr(f.Unassigned, false)
	tf.search = strings.TrimSpace(derefOr(f.Search, ""))
	return tf, nil
}

// referenceNumber parses "T-1024" (or "1024") into 1024.
func referenceNumber(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "T-"), "t-")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func (tf ticketFilter) apply(q *gorm.DB) *gorm.DB {
	if len(tf.statuses) > 0 {
		q = q.Where("tickets.status IN ?", tf.statuses)
	}
	if len(tf.priorities) > 0 {
		q = q.Where("tickets.priority IN ?", tf.priorities)
	}
	if tf.assigneeID != nil {
		q = q.Where("tickets.assignee_id = ?", *tf.assigneeID)
	}
	if tf.unassigned {
		q = q.Where("tickets.assignee_id IS NULL")
	}
	if tf.teamID != nil {
		q = q.Where("tickets.team_id = ?", *tf.teamID)
	}
	if tf.category != nil {
		q = q.Where("tickets.category = ?", *tf.category)
	}
	if tf.customerID != nil {
		q = q.Where("tickets.customer_id = ?", *tf.customerID)
	}
	if tf.search != "" {
		pat := likePattern(tf.search)
		if n, ok := referenceNumber(tf.search); ok {
			q = q.Where("(tickets.number = ? OR tickets.title"+likeEscape+" OR tickets.description"+likeEscape+")", n, pat, pat)
		} else {
			q = q.Where("(tickets.title"+likeEscape+" OR tickets.description"+likeEscape+")", pat, pat)
		}
	}
	return q
}

func (tf ticketFilter) match(t *models.Ticket) bool {
	eq := func(want *uint64, got *uint64) bool {
		return want == nil || (got != nil && *got == *want)
	}
	switch {
	case len(tf.statuses) > 0 && !slices.Contains(tf.statuses, t.Status):
		return false
	case len(tf.priorities) > 0 && !slices.Contains(tf.priorities, t.Priority):
		return false
	case !eq(tf.assigneeID, t.AssigneeID), tf.unassigned && t.AssigneeID != nil:
		return false
	case !eq(tf.teamID, t.TeamID), !eq(tf.customerID, t.CustomerID):
		return false
	case tf.category != nil && t.Category != *tf.category:
		return false
	case tf.search != "":
		if n, ok := referenceNumber(tf.search); ok && n == t.Number {
			return true
		}
		s := strings.ToLower(tf.search)
		return strings.Contains(strings.ToLower(t.Title), s) || strings.Contains(strings.ToLower(t.Description), s)
	}
	return true
}

// Tickets lists the tenant's tickets, newest first by default.
func (h *Hub) Tickets(ctx context.Context, args PageArgs, f *models.TicketFilter, order *models.TicketOrder) (*Page[models.Ticket], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	tf, err := decodeTicketFilter(f)
	if err != nil {
		return nil, err
	}
	return paginate(ctx, tf.apply(h.tenantDB(ctx, p, &models.Ticket{})), args, ticketKey(order))
}

// CustomerTickets lists one customer's tickets.
func (h *Hub) CustomerTickets(ctx context.Context, customerID uint64, args PageArgs, order *models.TicketOrder) (*Page[models.Ticket], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Ticket{}).Where("customer_id = ?", customerID)
	return paginate(ctx, q, args, ticketKey(order))
}

func ticketKey(order *models.TicketOrder) sortKey[models.Ticket] {
	key := sortKey[models.Ticket]{table: "tickets", column: "created_at", kind: keyTime, desc: true,
		value: func(t *models.Ticket) any { return t.CreatedAt }, id: func(t *models.Ticket) uint64 { return t.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		switch order.Field {
		case models.TicketOrderFieldUpdatedAt:
			key.column, key.value = "updated_at", func(t *models.Ticket) any { return t.UpdatedAt }
		case models.TicketOrderFieldNumber:
			key.column, key.kind, key.value = "number", keyInt, func(t *models.Ticket) any { return t.Number }
		}
	}
	return key
}

// AuditEvents lists the tenant's audit log, newest first (ADMIN).
func (h *Hub) AuditEvents(ctx context.Context, args PageArgs, f *models.AuditEventFilter, order *models.AuditEventOrder) (*Page[models.AuditEvent], error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.AuditEvent{})
	if f != nil {
		if f.ObjectID != nil {
			typ, id, err := models.DecodeID(*f.ObjectID)
			if err != nil {
				return nil, &Error{Code: CodeBadInput, Message: "objectId is not a valid ID", Field: []string{"filter", "objectId"}}
			}
			q = q.Where("object_type = ? AND object_id = ?", typ, id)
		}
		if f.Action != nil {
			q = q.Where("action = ?", *f.Action)
		}
		if f.ActorID != nil {
			uid, err := decodeFilterRef("actorId", models.TypeUser, *f.ActorID)
			if err != nil {
				return nil, err
			}
			q = q.Where("actor_id = ?", uid)
		}
	}
	key := sortKey[models.AuditEvent]{table: "audit_events", column: "id", kind: keyInt, desc: true,
		value: func(a *models.AuditEvent) any { return a.ID }, id: func(a *models.AuditEvent) uint64 { return a.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
	}
	return paginate(ctx, q, args, key)
}

func sameID(a, b *uint64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
