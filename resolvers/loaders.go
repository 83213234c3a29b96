package resolvers

import (
	"context"
	"errors"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

// Loaders batch the relations of one GraphQL response: every field that
// needs a related object asks its loader, and the loader answers all of
// them with one query. A fresh set serves each response (including each
// event of a subscription), so nothing is cached across requests.
type Loaders struct {
	User                 *dataloadgen.Loader[uint64, *models.User]
	Team                 *dataloadgen.Loader[uint64, *models.Team]
	Customer             *dataloadgen.Loader[uint64, *models.Customer]
	Channel              *dataloadgen.Loader[uint64, *models.Channel]
	Conversation         *dataloadgen.Loader[uint64, *models.Conversation]
	Message              *dataloadgen.Loader[uint64, *models.Message]
	IdentitiesByCustomer *dataloadgen.Loader[uint64, []*models.Identity]
	TicketsByConv        *dataloadgen.Loader[uint64, []*models.Ticket]
	OpenTicketCount      *dataloadgen.Loader[uint64, int]
	ConvsByTicket        *dataloadgen.Loader[uint64, []*models.Conversation]
	MembersByTeam        *dataloadgen.Loader[uint64, []*models.User]
	TeamsByUser          *dataloadgen.Loader[uint64, []*models.Team]
}

// NewLoaders returns loaders reading through h.
func NewLoaders(h *hub.Hub) *Loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(500 * time.Microsecond), dataloadgen.WithBatchCapacity(500)}
	return &Loaders{
		User:                 dataloadgen.NewMappedLoader(h.UsersByID, opts...),
		Team:                 dataloadgen.NewMappedLoader(h.TeamsByID, opts...),
		Customer:             dataloadgen.NewMappedLoader(h.CustomersByID, opts...),
		Channel:              dataloadgen.NewMappedLoader(h.ChannelsByID, opts...),
		Conversation:         dataloadgen.NewMappedLoader(h.ConversationsByID, opts...),
		Message:              dataloadgen.NewMappedLoader(h.MessagesByID, opts...),
		IdentitiesByCustomer: dataloadgen.NewMappedLoader(h.IdentitiesByCustomer, opts...),
		TicketsByConv:        dataloadgen.NewMappedLoader(h.TicketsByConversation, opts...),
		OpenTicketCount:      dataloadgen.NewMappedLoader(h.OpenTicketCounts, opts...),
		ConvsByTicket:        dataloadgen.NewMappedLoader(h.ConversationsByTicket, opts...),
		MembersByTeam:        dataloadgen.NewMappedLoader(h.MembersByTeam, opts...),
		TeamsByUser:          dataloadgen.NewMappedLoader(h.TeamsByUser, opts...),
	}
}

type loadersKey struct{}

// WithLoaders returns a context carrying l.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	// Outside the server (tests calling resolvers directly): unbatched but correct.
	return NewLoaders(r.Hub)
}

// loadOpt loads an optional relation: a missing id or a missing row is nil.
func loadOpt[T any](ctx context.Context, l *dataloadgen.Loader[uint64, *T], id *uint64) (*T, error) {
	if id == nil {
		return nil, nil
	}
	v, err := l.Load(ctx, *id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// loadMany loads a to-many relation; no rows is an empty list.
func loadMany[T any](ctx context.Context, l *dataloadgen.Loader[uint64, []*T], id uint64) ([]*T, error) {
	v, err := l.Load(ctx, id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return []*T{}, nil
	}
	return v, err
}

// loadOne loads a required relation.
func loadOne[T any](ctx context.Context, l *dataloadgen.Loader[uint64, *T], id uint64) (*T, error) {
	v, err := l.Load(ctx, id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, &hub.Error{Code: hub.CodeNotFound, Message: "related object not found"}
	}
	return v, err
}
