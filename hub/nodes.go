package hub

import (
	"context"

	"github.com/kefuhub/kefuhub/models"
)

// Node fetches any object of the caller's tenant by global ID. Objects of
// other tenants, unknown types and malformed IDs are all NOT_FOUND.
func (h *Hub) Node(ctx context.Context, gid string) (models.Node, error) {
	if _, err := require(ctx, canRead); err != nil {
		return nil, err
	}
	notFound := &Error{Code: CodeNotFound, Message: "could not resolve to a node with the global id " + gid}
	typ, id, err := models.DecodeID(gid)
	if err != nil {
		return nil, notFound
	}
	ids := []uint64{id}
	var n models.Node
	switch typ {
	case models.TypeTenant:
		t, err := h.Tenant(ctx)
		if err != nil {
			return nil, err
		}
		if t.ID == id {
			n = t
		}
	case models.TypeUser:
		n, err = one(h.UsersByID(ctx, ids))
	case models.TypeTeam:
		n, err = one(h.TeamsByID(ctx, ids))
	case models.TypeAPIToken:
		n, err = one(h.APITokensByID(ctx, ids))
	case models.TypeCustomer:
		n, err = one(h.CustomersByID(ctx, ids))
	case models.TypeIdentity:
		n, err = one(h.IdentitiesByID(ctx, ids))
	case models.TypeChannel:
		n, err = one(h.ChannelsByID(ctx, ids))
	case models.TypeConversation:
		n, err = one(h.ConversationsByID(ctx, ids))
	case models.TypeMessage:
		n, err = one(h.MessagesByID(ctx, ids))
	case models.TypeTicket:
		n, err = one(h.TicketsByID(ctx, ids))
	case models.TypeAuditEvent:
		n, err = one(h.AuditEventsByID(ctx, ids))
	case models.TypeDelivery:
		n, err = one(h.DeliveriesByID(ctx, ids))
	case models.TypeTarget:
		n, err = one(h.TargetsByID(ctx, ids))
	case models.TypeRawEvent:
		n, err = one(h.RawEventsByID(ctx, ids))
	}
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, notFound
	}
	return n, nil
}

// one returns the single value of a batch answer as a Node, or nil.
func one[T any, PT interface {
	*T
	models.Node
}](m map[uint64]PT, err error) (models.Node, error) {
	if err != nil {
		return nil, err
	}
	for _, v := range m {
		return v, nil
	}
	return nil, nil
}
