package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

const (
	counterConversation = "conversation"
	counterTicket       = "ticket"
	// firstTicketNumber makes references look established (T-1001) rather
	// than T-1 on a new tenant.
	firstTicketNumber = 1001
	maxMessageRunes   = 4000
)

// StartConversation opens a conversation with a customer on a channel, with
// an optional first outbound message (AGENT).
func (h *Hub) StartConversation(ctx context.Context, in models.StartConversationInput) (*models.Conversation, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	customerID, err := decodeRef("customerId", models.TypeCustomer, in.CustomerID)
	if err != nil {
		return nil, err
	}
	channelID, err := decodeRef("channelId", models.TypeChannel, in.ChannelID)
	if err != nil {
		return nil, err
	}
	subject, err := cleanText("subject", derefOr(in.Subject, ""), 500, false)
	if err != nil {
		return nil, err
	}
	var text string
	if in.Text != nil {
		if text, err = cleanText("text", *in.Text, maxMessageRunes, true); err != nil {
			return nil, err
		}
	}
	conv := &models.Conversation{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		cust, ch := &models.Customer{}, &models.Channel{}
		if err := load(tx, p, cust, customerID, "customerId", models.TypeCustomer); err != nil {
			return err
		}
		if cust.MergedIntoID != nil {
			return errConflict("customerId", "this customer was merged into another one")
		}
		if err := load(tx, p, ch, channelID, "channelId", models.TypeChannel); err != nil {
			return err
		}
		if !ch.Enabled {
			return errConflict("channelId", "the channel is disabled")
		}
		now := h.now()
		num, err := h.nextNumber(tx, p.TenantID, counterConversation, 1)
		if err != nil {
			return err
		}
		*conv = models.Conversation{
			TenantID: p.TenantID, Number: num, ChannelID: ch.ID, CustomerID: cust.ID, Subject: subject,
			Status: models.ConversationOpen, Priority: models.PriorityNormal, Tags: []string{},
			LastActivityAt: now, CreatedAt: now, UpdatedAt: now,
		}
		if p.UserID != 0 && p.Role.Rank() >= models.RoleAgent.Rank() {
			conv.AssigneeID = &p.UserID
		}
		if err := tx.Create(conv).Error; err != nil {
			return fmt.Errorf("hub: start conversation: %w", err)
		}
		if err := audit(tx, p, "conversation.start", models.TypeConversation, conv.ID, nil, conv); err != nil {
			return err
		}
		if text != "" {
			m, err := h.addOutbound(tx, ev, p, conv, text, nil, false)
			if err != nil {
				return err
			}
			ev.add(Event{TenantID: p.TenantID, Message: m})
		}
		ev.add(Event{TenantID: p.TenantID, Conversation: conv})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// addOutbound stores a staff message (or private note) in conv, updates
// the conversation's timeline fields and, where the channel's platform has
// a connector, queues the message's delivery in the same transaction.
func (h *Hub) addOutbound(tx *gorm.DB, ev *pending, p Principal, conv *models.Conversation, text string, atts []models.Attachment, private bool) (*models.Message, error) {
	now := h.now()
	m := &models.Message{
		TenantID: p.TenantID, ConversationID: conv.ID, ChannelID: conv.ChannelID,
		Direction: models.DirectionOutbound, SenderType: models.SenderStaff,
		Text: text, ContentType: "text/plain", Attachments: atts, IsPrivate: private,
		DeliveryStatus: models.DeliveryPending, CreatedAt: now,
	}
	if m.Attachments == nil {
		m.Attachments = []models.Attachment{}
	}
	if p.UserID != 0 {
		m.SenderUserID = &p.UserID
	} else {
		m.SenderType = models.SenderSystem
	}
	deliver := false
	if !private {
		var kinds []models.ChannelKind
		if err := tx.Model(&models.Channel{}).Where("id = ?", conv.ChannelID).Pluck("kind", &kinds).Error; err != nil || len(kinds) != 1 {
			return nil, fmt.Errorf("hub: store message: channel kind: %v", err)
		}
		_, deliver = h.connectors.Lookup(kinds[0])
	}
	if !deliver {
		// Notes are never delivered; on a channel without a platform (the
		// web widget reads the API) there is nothing to deliver.
		m.DeliveryStatus = models.DeliveryNone
	}
	if err := tx.Create(m).Error; err != nil {
		return nil, fmt.Errorf("hub: store message: %w", err)
	}
	if deliver {
		if err := h.enqueueMessage(tx, p, m); err != nil {
			return nil, err
		}
		ev.queued = true
	}
	updates := map[string]any{"updated_at": now, "last_activity_at": now}
	conv.UpdatedAt, conv.LastActivityAt = now, now
	if !private {
		updates["last_message_id"], updates["last_message_at"], updates["waiting_since"] = m.ID, now, nil
		conv.LastMessageID, conv.LastMessageAt, conv.WaitingSince = &m.ID, &now, nil
		if conv.FirstResponseAt == nil {
			updates["first_response_at"] = now
			conv.FirstResponseAt = &now
		}
	}
	if err := tx.Model(&models.Conversation{}).Where("id = ?", conv.ID).Updates(updates).Error; err != nil {
		return nil, fmt.Errorf("hub: update conversation: %w", err)
	}
	return m, nil
}

func cleanAttachments(in []*models.AttachmentInput) ([]models.Attachment, error) {
	if len(in) > 20 {
		return nil, errBadInput("attachments", "at most 20 attachments are allowed")
	}
	out := make([]models.Attachment, 0, len(in))
	for _, a := range in {
		name, err := cleanText("attachments", a.Name, 255, true)
		if err != nil {
			return nil, err
		}
		if a.Size < 0 {
			return nil, errBadInput("attachments", "attachment size must not be negative")
		}
		if !strings.HasPrefix(a.URL, "https://") && !strings.HasPrefix(a.URL, "http://") {
			return nil, errBadInput("attachments", "attachment url must be http(s)")
		}
		if len(a.URL) > 2048 {
			return nil, errBadInput("attachments", "attachment url is longer than 2048 bytes")
		}
		mime, err := cleanText("attachments", a.MimeType, 255, false)
		if err != nil {
			return nil, err
		}
		out = append(out, models.Attachment{Name: name, MimeType: mime, Size: int64(a.Size), URL: a.URL})
	}
	return out, nil
}

// SendMessage stores an agent's reply for delivery on the conversation's
// channel (AGENT). The message starts PENDING; the dispatcher delivers it
// through the channel's connector and moves it to SENT or FAILED.
func (h *Hub) SendMessage(ctx context.Context, in models.SendMessageInput) (*models.Message, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	text, err := cleanText("text", in.Text, maxMessageRunes, true)
	if err != nil {
		return nil, err
	}
	atts, err := cleanAttachments(in.Attachments)
	if err != nil {
		return nil, err
	}
	return h.appendStaffMessage(ctx, p, in.ConversationID, text, atts, false)
}

// AddNote stores a private note that staff see and customers never do (AGENT).
func (h *Hub) AddNote(ctx context.Context, in models.AddNoteInput) (*models.Message, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	text, err := cleanText("text", in.Text, maxMessageRunes, true)
	if err != nil {
		return nil, err
	}
	return h.appendStaffMessage(ctx, p, in.ConversationID, text, nil, true)
}

func (h *Hub) appendStaffMessage(ctx context.Context, p Principal, convGID, text string, atts []models.Attachment, private bool) (*models.Message, error) {
	convID, err := decodeRef("conversationId", models.TypeConversation, convGID)
	if err != nil {
		return nil, err
	}
	var msg *models.Message
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		conv := &models.Conversation{}
		if err := load(h.lockFor(tx), p, conv, convID, "conversationId", models.TypeConversation); err != nil {
			return err
		}
		var err error
		if msg, err = h.addOutbound(tx, ev, p, conv, text, atts, private); err != nil {
			return err
		}
		ev.add(Event{TenantID: p.TenantID, Message: msg})
		ev.add(Event{TenantID: p.TenantID, Conversation: conv})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// AssignConversation sets the assignee and/or team (AGENT).
func (h *Hub) AssignConversation(ctx context.Context, in models.AssignConversationInput) (*models.Conversation, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	convID, err := decodeRef("conversationId", models.TypeConversation, in.ConversationID)
	if err != nil {
		return nil, err
	}
	conv := &models.Conversation{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, conv, convID, "conversationId", models.TypeConversation); err != nil {
			return err
		}
		before := *conv
		if gid, set := in.AssigneeID.ValueOK(); set {
			id, err := h.assignableUser(tx, p, "assigneeId", gid)
			if err != nil {
				return err
			}
			conv.AssigneeID = id
		}
		if gid, set := in.TeamID.ValueOK(); set {
			id, err := h.teamRef(tx, p, "teamId", gid)
			if err != nil {
				return err
			}
			conv.TeamID = id
		}
		conv.UpdatedAt = h.now()
		if err := tx.Model(conv).Select("assignee_id", "team_id", "updated_at").Updates(conv).Error; err != nil {
			return fmt.Errorf("hub: assign conversation: %w", err)
		}
		ev.add(Event{TenantID: p.TenantID, Conversation: conv})
		return audit(tx, p, "conversation.assign", models.TypeConversation, conv.ID, &before, conv)
	})
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// assignableUser checks that gid names an active AGENT or ADMIN of the
// tenant; nil clears.
func (h *Hub) assignableUser(tx *gorm.DB, p Principal, field string, gid *string) (*uint64, error) {
	id, err := decodeOptRef(field, models.TypeUser, gid)
	if err != nil || id == nil {
		return nil, err
	}
	u := &models.User{}
	if err := load(tx, p, u, *id, field, models.TypeUser); err != nil {
		return nil, err
	}
	if !u.Active || u.Role.Rank() < models.RoleAgent.Rank() {
		return nil, errBadInput(field, "%s cannot be assigned work (inactive or VIEWER)", u.Name)
	}
	return id, nil
}

// teamRef checks that gid names a team of the tenant; nil clears.
func (h *Hub) teamRef(tx *gorm.DB, p Principal, field string, gid *string) (*uint64, error) {
	id, err := decodeOptRef(field, models.TypeTeam, gid)
	if err != nil || id == nil {
		return nil, err
	}
	if err := load(tx, p, &models.Team{}, *id, field, models.TypeTeam); err != nil {
		return nil, err
	}
	return id, nil
}

// SetConversationStatus moves a conversation between OPEN, PENDING,
// SNOOZED (until a time) and RESOLVED (AGENT).
func (h *Hub) SetConversationStatus(ctx context.Context, in models.SetConversationStatusInput) (*models.Conversation, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	convID, err := decodeRef("conversationId", models.TypeConversation, in.ConversationID)
	if err != nil {
		return nil, err
	}
	now := h.now()
	var until *time.Time
	if in.Status == models.ConversationSnoozed {
		if in.SnoozedUntil == nil || !in.SnoozedUntil.After(now) {
			return nil, errBadInput("snoozedUntil", "snoozing needs a snoozedUntil in the future")
		}
		t := in.SnoozedUntil.UTC().Truncate(time.Microsecond)
		until = &t
	} else if in.SnoozedUntil != nil {
		return nil, errBadInput("snoozedUntil", "snoozedUntil goes only with status SNOOZED")
	}
	conv := &models.Conversation{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, conv, convID, "conversationId", models.TypeConversation); err != nil {
			return err
		}
		before := *conv
		conv.Status, conv.SnoozedUntil, conv.UpdatedAt = in.Status, until, now
		if in.Status == models.ConversationResolved {
			conv.WaitingSince = nil
		}
		if err := tx.Model(conv).Select("status", "snoozed_until", "waiting_since", "updated_at").Updates(conv).Error; err != nil {
			return fmt.Errorf("hub: set conversation status: %w", err)
		}
		ev.add(Event{TenantID: p.TenantID, Conversation: conv})
		return audit(tx, p, "conversation.status", models.TypeConversation, conv.ID, &before, conv)
	})
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// convFilter is a decoded ConversationFilter, usable both as SQL and to
// match a conversation in memory (subscriptions).
type convFilter struct {
	statuses   []models.ConversationStatus
	channelID  *uint64
	assigneeID *uint64
	unassigned bool
	teamID     *uint64
	tag        string
	customerID *uint64
	search     string
}

func decodeConvFilter(f *models.ConversationFilter) (convFilter, error) {
	var cf convFilter
	if f == nil {
		return cf, nil
	}
	ref := func(field, typ string, gid *string) (*uint64, error) {
		if gid == nil {
			return nil, nil
		}
		id, err := decodeFilterRef(field, typ, *gid)
		return &id, err
	}
	var err error
	cf.statuses = f.Status
	if cf.channelID, err = ref("channelId", models.TypeChannel, f.ChannelID); err != nil {
		return cf, err
	}
	if cf.assigneeID, err = ref("assigneeId", models.TypeUser, f.AssigneeID); err != nil {
		return cf, err
	}
	if cf.teamID, err = ref("teamId", models.TypeTeam, f.TeamID); err != nil {
		return cf, err
	}
	if cf.customerID, err = ref("customerId", models.TypeCustomer, f.CustomerID); err != nil {
		return cf, err
	}
	cf.unassigned = derefOr(f.Unassigned, false)
	cf.tag = strings.TrimSpace(derefOr(f.Tag, ""))
	cf.search = strings.TrimSpace(derefOr(f.Search, ""))
	return cf, nil
}

// apply adds the filter to q. For a page read in index order (inOrder),
// the status condition is a check ("+status") rather than an index key, so
// the planner walks (tenant_id, last_activity_at) and stops after a page
// instead of sorting every open conversation; counts use the status index.
func (cf convFilter) apply(q *gorm.DB, tenantID uint64, inOrder bool) *gorm.DB {
	if len(cf.statuses) > 0 {
		if inOrder {
			q = q.Where("+conversations.status IN ?", cf.statuses)
		} else {
			q = q.Where("conversations.status IN ?", cf.statuses)
		}
	}
	if cf.channelID != nil {
		q = q.Where("conversations.channel_id = ?", *cf.channelID)
	}
	if cf.assigneeID != nil {
		q = q.Where("conversations.assignee_id = ?", *cf.assigneeID)
	}
	if cf.unassigned {
		q = q.Where("conversations.assignee_id IS NULL")
	}
	if cf.teamID != nil {
		q = q.Where("conversations.team_id = ?", *cf.teamID)
	}
	if cf.customerID != nil {
		q = q.Where("conversations.customer_id = ?", *cf.customerID)
	}
	if cf.tag != "" {
		q = q.Where("conversations.tags"+likeEscape, likePattern(jsonQuoted(cf.tag)))
	}
	if cf.search != "" {
		pat := likePattern(cf.search)
		q = q.Where("(conversations.subject"+likeEscape+
			" OR conversations.customer_id IN (SELECT id FROM customers WHERE tenant_id = ? AND (name"+likeEscape+" OR phone"+likeEscape+"))"+
			" OR EXISTS (SELECT 1 FROM messages WHERE messages.conversation_id = conversations.id AND messages.text"+likeEscape+"))",
			pat, tenantID, pat, pat, pat)
	}
	return q
}

// match reports whether c passes the filter. Text search matches the
// subject only, since a subscription sees the conversation row alone.
func (cf convFilter) match(c *models.Conversation) bool {
	eq := func(want *uint64, got *uint64) bool {
		return want == nil || (got != nil && *got == *want)
	}
	switch {
	case len(cf.statuses) > 0 && !slices.Contains(cf.statuses, c.Status):
		return false
	case cf.channelID != nil && c.ChannelID != *cf.channelID:
		return false
	case !eq(cf.assigneeID, c.AssigneeID), cf.unassigned && c.AssigneeID != nil:
		return false
	case !eq(cf.teamID, c.TeamID):
		return false
	case cf.customerID != nil && c.CustomerID != *cf.customerID:
		return false
	case cf.tag != "" && !slices.Contains(c.Tags, cf.tag):
		return false
	case cf.search != "" && !strings.Contains(strings.ToLower(c.Subject), strings.ToLower(cf.search)):
		return false
	}
	return true
}

// Conversations lists the tenant's conversations; by default the most
// recently active first (the agent inbox).
func (h *Hub) Conversations(ctx context.Context, args PageArgs, f *models.ConversationFilter, order *models.ConversationOrder) (*Page[models.Conversation], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	cf, err := decodeConvFilter(f)
	if err != nil {
		return nil, err
	}
	list := cf.apply(h.tenantDB(ctx, p, &models.Conversation{}), p.TenantID, true)
	count := cf.apply(h.tenantDB(ctx, p, &models.Conversation{}), p.TenantID, false)
	return paginateCounted(ctx, list, count, args, conversationKey(order))
}

// CustomerConversations lists one customer's conversations.
func (h *Hub) CustomerConversations(ctx context.Context, customerID uint64, args PageArgs, order *models.ConversationOrder) (*Page[models.Conversation], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Conversation{}).Where("customer_id = ?", customerID)
	return paginate(ctx, q, args, conversationKey(order))
}

func conversationKey(order *models.ConversationOrder) sortKey[models.Conversation] {
	key := sortKey[models.Conversation]{table: "conversations", column: "last_activity_at", kind: keyTime, desc: true,
		value: func(c *models.Conversation) any { return c.LastActivityAt }, id: func(c *models.Conversation) uint64 { return c.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		switch order.Field {
		case models.ConversationOrderFieldCreatedAt:
			key.column, key.value = "created_at", func(c *models.Conversation) any { return c.CreatedAt }
		case models.ConversationOrderFieldNumber:
			key.column, key.kind, key.value = "number", keyInt, func(c *models.Conversation) any { return c.Number }
		}
	}
	return key
}

// Messages lists a conversation's messages, oldest first.
func (h *Hub) Messages(ctx context.Context, args PageArgs, f models.MessageFilter, order *models.MessageOrder) (*Page[models.Message], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	convID, err := decodeFilterRef("conversationId", models.TypeConversation, f.ConversationID)
	if err != nil {
		return nil, err
	}
	return h.ConversationMessages(ctx, p, convID, args, f.Direction, derefOr(f.IncludePrivate, true), order)
}

// ConversationMessages lists the messages of one conversation of p's tenant.
func (h *Hub) ConversationMessages(ctx context.Context, p Principal, convID uint64, args PageArgs, dir *models.MessageDirection, includePrivate bool, order *models.MessageOrder) (*Page[models.Message], error) {
	q := h.tenantDB(ctx, p, &models.Message{}).Where("conversation_id = ?", convID)
	if dir != nil {
		q = q.Where("direction = ?", *dir)
	}
	if !includePrivate {
		q = q.Where("is_private = ?", false)
	}
	// Ids follow the order messages were stored in, and the
	// (conversation_id) index holds them in that order.
	key := sortKey[models.Message]{table: "messages", column: "id", kind: keyInt,
		value: func(m *models.Message) any { return m.ID }, id: func(m *models.Message) uint64 { return m.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
	}
	return paginate(ctx, q, args, key)
}

// CheckRead returns the caller if it may read the tenant's data.
func CheckRead(ctx context.Context) (Principal, error) { return require(ctx, canRead) }
