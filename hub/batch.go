package hub

import (
	"context"
	"fmt"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// The batch readers below serve GraphQL's batch resolvers: each answers for
// many keys in one statement, scoped to the caller's tenant, so a page of N
// rows costs the same number of statements as a page of one. The keys pick
// the rows; the tenant condition is a check (store.TenantCheck, "+tenant_id")
// so that the planner looks the keys up instead of scanning the tenant.

func byIDs[T any](h *Hub, ctx context.Context, ids []uint64, id func(*T) uint64) (map[uint64]*T, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []*T
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("hub: batch load: %w", err)
	}
	out := make(map[uint64]*T, len(rows))
	for _, r := range rows {
		out[id(r)] = r
	}
	return out, nil
}

func (h *Hub) UsersByID(ctx context.Context, ids []uint64) (map[uint64]*models.User, error) {
	return byIDs(h, ctx, ids, func(u *models.User) uint64 { return u.ID })
}

func (h *Hub) TeamsByID(ctx context.Context, ids []uint64) (map[uint64]*models.Team, error) {
	return byIDs(h, ctx, ids, func(t *models.Team) uint64 { return t.ID })
}

func (h *Hub) CustomersByID(ctx context.Context, ids []uint64) (map[uint64]*models.Customer, error) {
	return byIDs(h, ctx, ids, func(c *models.Customer) uint64 { return c.ID })
}

func (h *Hub) ChannelsByID(ctx context.Context, ids []uint64) (map[uint64]*models.Channel, error) {
	return byIDs(h, ctx, ids, func(c *models.Channel) uint64 { return c.ID })
}

func (h *Hub) ConversationsByID(ctx context.Context, ids []uint64) (map[uint64]*models.Conversation, error) {
	return byIDs(h, ctx, ids, func(c *models.Conversation) uint64 { return c.ID })
}

func (h *Hub) MessagesByID(ctx context.Context, ids []uint64) (map[uint64]*models.Message, error) {
	return byIDs(h, ctx, ids, func(m *models.Message) uint64 { return m.ID })
}

func (h *Hub) TicketsByID(ctx context.Context, ids []uint64) (map[uint64]*models.Ticket, error) {
	return byIDs(h, ctx, ids, func(t *models.Ticket) uint64 { return t.ID })
}

func (h *Hub) APITokensByID(ctx context.Context, ids []uint64) (map[uint64]*models.APIToken, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var rows []*models.APIToken
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("hub: batch load tokens: %w", err)
	}
	out := make(map[uint64]*models.APIToken, len(rows))
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}

func (h *Hub) AuditEventsByID(ctx context.Context, ids []uint64) (map[uint64]*models.AuditEvent, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var rows []*models.AuditEvent
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("hub: batch load audit events: %w", err)
	}
	out := make(map[uint64]*models.AuditEvent, len(rows))
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}

func (h *Hub) IdentitiesByID(ctx context.Context, ids []uint64) (map[uint64]*models.Identity, error) {
	return byIDs(h, ctx, ids, func(i *models.Identity) uint64 { return i.ID })
}

// IdentitiesByCustomer returns each customer's identities, oldest first.
func (h *Hub) IdentitiesByCustomer(ctx context.Context, customerIDs []uint64) (map[uint64][]*models.Identity, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []*models.Identity
	err = h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("customer_id IN ?", customerIDs).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch identities: %w", err)
	}
	out := map[uint64][]*models.Identity{}
	for _, r := range rows {
		out[r.CustomerID] = append(out[r.CustomerID], r)
	}
	return out, nil
}

// TicketsByConversation returns the tickets linked to each conversation.
func (h *Hub) TicketsByConversation(ctx context.Context, convIDs []uint64) (map[uint64][]*models.Ticket, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		models.Ticket
		LinkConversationID uint64
	}
	err = h.conn(ctx).Table("tickets").
		Select("tickets.*, ticket_conversations.conversation_id AS link_conversation_id").
		Joins("JOIN ticket_conversations ON ticket_conversations.ticket_id = tickets.id").
		Where("+tickets.tenant_id = ? AND +ticket_conversations.tenant_id = ? AND ticket_conversations.conversation_id IN ?", p.TenantID, p.TenantID, convIDs).
		Order("tickets.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch tickets: %w", err)
	}
	out := map[uint64][]*models.Ticket{}
	for i := range rows {
		t := rows[i].Ticket
		out[rows[i].LinkConversationID] = append(out[rows[i].LinkConversationID], &t)
	}
	return out, nil
}

// OpenTicketCounts counts, per conversation, the linked tickets that are not
// resolved or closed.
func (h *Hub) OpenTicketCounts(ctx context.Context, convIDs []uint64) (map[uint64]int, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ConversationID uint64
		N              int
	}
	err = h.conn(ctx).Table("ticket_conversations").
		Select("ticket_conversations.conversation_id AS conversation_id, COUNT(*) AS n").
		Joins("JOIN tickets ON tickets.id = ticket_conversations.ticket_id").
		Where("+ticket_conversations.tenant_id = ? AND +tickets.tenant_id = ? AND ticket_conversations.conversation_id IN ? AND tickets.status NOT IN ?",
			p.TenantID, p.TenantID, convIDs, []models.TicketStatus{models.TicketResolved, models.TicketClosed}).
		Group("ticket_conversations.conversation_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch open ticket counts: %w", err)
	}
	out := make(map[uint64]int, len(convIDs))
	for _, id := range convIDs {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.ConversationID] = r.N
	}
	return out, nil
}

// ConversationsByTicket returns the conversations linked to each ticket.
func (h *Hub) ConversationsByTicket(ctx context.Context, ticketIDs []uint64) (map[uint64][]*models.Conversation, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		models.Conversation
		LinkTicketID uint64
	}
	err = h.conn(ctx).Table("conversations").
		Select("conversations.*, ticket_conversations.ticket_id AS link_ticket_id").
		Joins("JOIN ticket_conversations ON ticket_conversations.conversation_id = conversations.id").
		Where("+conversations.tenant_id = ? AND +ticket_conversations.tenant_id = ? AND ticket_conversations.ticket_id IN ?", p.TenantID, p.TenantID, ticketIDs).
		Order("conversations.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch conversations: %w", err)
	}
	out := map[uint64][]*models.Conversation{}
	for i := range rows {
		c := rows[i].Conversation
		out[rows[i].LinkTicketID] = append(out[rows[i].LinkTicketID], &c)
	}
	return out, nil
}

// MembersByTeam returns each team's members.
func (h *Hub) MembersByTeam(ctx context.Context, teamIDs []uint64) (map[uint64][]*models.User, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		models.User
		LinkTeamID uint64
	}
	err = h.conn(ctx).Table("users").
		Select("users.*, team_members.team_id AS link_team_id").
		Joins("JOIN team_members ON team_members.user_id = users.id").
		Where("+users.tenant_id = ? AND +team_members.tenant_id = ? AND team_members.team_id IN ?", p.TenantID, p.TenantID, teamIDs).
		Order("users.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch team members: %w", err)
	}
	out := map[uint64][]*models.User{}
	for i := range rows {
		u := rows[i].User
		out[rows[i].LinkTeamID] = append(out[rows[i].LinkTeamID], &u)
	}
	return out, nil
}

// TeamsByUser returns the teams each user belongs to.
func (h *Hub) TeamsByUser(ctx context.Context, userIDs []uint64) (map[uint64][]*models.Team, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		models.Team
		LinkUserID uint64
	}
	err = h.conn(ctx).Table("teams").
		Select("teams.*, team_members.user_id AS link_user_id").
		Joins("JOIN team_members ON team_members.team_id = teams.id").
		Where("+teams.tenant_id = ? AND +team_members.tenant_id = ? AND team_members.user_id IN ?", p.TenantID, p.TenantID, userIDs).
		Order("teams.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("hub: batch user teams: %w", err)
	}
	out := map[uint64][]*models.Team{}
	for i := range rows {
		t := rows[i].Team
		out[rows[i].LinkUserID] = append(out[rows[i].LinkUserID], &t)
	}
	return out, nil
}

// Tenant returns the caller's tenant.
func (h *Hub) Tenant(ctx context.Context) (*models.Tenant, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	t := &models.Tenant{}
	if err := h.conn(ctx).Where("id = ?", p.TenantID).Take(t).Error; err != nil {
		return nil, fmt.Errorf("hub: tenant: %w", err)
	}
	return t, nil
}
