package resolvers

import (
	"context"
	"errors"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

// Relations are batch resolvers: gqlgen hands over all sibling parents of a
// list at once, and each relation costs one query however many rows the
// page has. A relation of a single object nested under a list (a
// conversation's lastMessage's senderUser) is resolved once per object;
// those calls go through a per-response dataloader, which coalesces them
// and reuses what the sibling batches already fetched.

// Loaders are one response's dataloaders.
type Loaders struct {
	User         *dataloadgen.Loader[uint64, *models.User]
	Team         *dataloadgen.Loader[uint64, *models.Team]
	Customer     *dataloadgen.Loader[uint64, *models.Customer]
	Channel      *dataloadgen.Loader[uint64, *models.Channel]
	Conversation *dataloadgen.Loader[uint64, *models.Conversation]
	Message      *dataloadgen.Loader[uint64, *models.Message]
}

// NewLoaders returns fresh loaders reading through h.
func NewLoaders(h *hub.Hub) *Loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(500)}
	return &Loaders{
		User:         dataloadgen.NewMappedLoader(h.UsersByID, opts...),
		Team:         dataloadgen.NewMappedLoader(h.TeamsByID, opts...),
		Customer:     dataloadgen.NewMappedLoader(h.CustomersByID, opts...),
		Channel:      dataloadgen.NewMappedLoader(h.ChannelsByID, opts...),
		Conversation: dataloadgen.NewMappedLoader(h.ConversationsByID, opts...),
		Message:      dataloadgen.NewMappedLoader(h.MessagesByID, opts...),
	}
}

type loadersKey struct{}

// WithLoaders returns a context carrying l; the server gives every
// response (each query, each subscription event) its own.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}

type fetchFunc[T any] func(context.Context, []uint64) (map[uint64]*T, error)

// via fetches ids: several at once in one query (priming the loader for
// later single lookups), a single one through the loader.
func via[T any](ctx context.Context, pick func(*Loaders) *dataloadgen.Loader[uint64, *T], fetch fetchFunc[T], ids []uint64) (map[uint64]*T, error) {
	ls := loadersFrom(ctx)
	if ls == nil || len(ids) != 1 {
		m, err := fetch(ctx, ids)
		if err == nil && ls != nil {
			l := pick(ls)
			for k, v := range m {
				l.Prime(k, v)
			}
		}
		return m, err
	}
	v, err := pick(ls).Load(ctx, ids[0])
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return map[uint64]*T{}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[uint64]*T{ids[0]: v}, nil
}

func (r *Resolver) users(ctx context.Context, ids []uint64) (map[uint64]*models.User, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.User] { return l.User }, r.Hub.UsersByID, ids)
}

func (r *Resolver) teams(ctx context.Context, ids []uint64) (map[uint64]*models.Team, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.Team] { return l.Team }, r.Hub.TeamsByID, ids)
}

func (r *Resolver) customers(ctx context.Context, ids []uint64) (map[uint64]*models.Customer, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.Customer] { return l.Customer }, r.Hub.CustomersByID, ids)
}

func (r *Resolver) channels(ctx context.Context, ids []uint64) (map[uint64]*models.Channel, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.Channel] { return l.Channel }, r.Hub.ChannelsByID, ids)
}

func (r *Resolver) conversations(ctx context.Context, ids []uint64) (map[uint64]*models.Conversation, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.Conversation] { return l.Conversation }, r.Hub.ConversationsByID, ids)
}

func (r *Resolver) messages(ctx context.Context, ids []uint64) (map[uint64]*models.Message, error) {
	return via(ctx, func(l *Loaders) *dataloadgen.Loader[uint64, *models.Message] { return l.Message }, r.Hub.MessagesByID, ids)
}

func uniq(ids []uint64) []uint64 {
	seen := make(map[uint64]bool, len(ids))
	out := make([]uint64, 0, len(ids))
	for _, id := range ids {
		if id != 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// batchOne resolves a required to-one relation for every parent.
func batchOne[P, T any](ctx context.Context, parents []*P, key func(*P) uint64, fetch func(context.Context, []uint64) (map[uint64]*T, error)) ([]*T, error) {
	ids := make([]uint64, len(parents))
	for i, p := range parents {
		ids[i] = key(p)
	}
	found, err := fetch(ctx, uniq(ids))
	if err != nil {
		return nil, MarkInternal(err)
	}
	out := make([]*T, len(parents))
	for i, id := range ids {
		v, ok := found[id]
		if !ok {
			return nil, &hub.Error{Code: hub.CodeNotFound, Message: "related object not found"}
		}
		out[i] = v
	}
	return out, nil
}

// batchOpt resolves an optional to-one relation; no id or no row is null.
func batchOpt[P, T any](ctx context.Context, parents []*P, key func(*P) *uint64, fetch func(context.Context, []uint64) (map[uint64]*T, error)) ([]*T, error) {
	ids := make([]uint64, 0, len(parents))
	for _, p := range parents {
		if id := key(p); id != nil {
			ids = append(ids, *id)
		}
	}
	out := make([]*T, len(parents))
	if len(ids) == 0 {
		return out, nil
	}
	found, err := fetch(ctx, uniq(ids))
	if err != nil {
		return nil, MarkInternal(err)
	}
	for i, p := range parents {
		if id := key(p); id != nil {
			out[i] = found[*id]
		}
	}
	return out, nil
}

// batchMany resolves a to-many relation; no rows is an empty list.
func batchMany[P, T any](ctx context.Context, parents []*P, key func(*P) uint64, fetch func(context.Context, []uint64) (map[uint64][]*T, error)) ([][]*T, error) {
	ids := make([]uint64, len(parents))
	for i, p := range parents {
		ids[i] = key(p)
	}
	found, err := fetch(ctx, uniq(ids))
	if err != nil {
		return nil, MarkInternal(err)
	}
	out := make([][]*T, len(parents))
	for i, id := range ids {
		out[i] = nonNil(found[id])
	}
	return out, nil
}
