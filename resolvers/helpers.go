package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

// pageArgs collects a connection's arguments and whether the client asked
// for totalCount (which costs a COUNT).
func pageArgs(ctx context.Context, first *int, after *string, last *int, before *string) hub.PageArgs {
	args := hub.PageArgs{First: first, After: after, Last: last, Before: before}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
			if f.Name == "totalCount" {
				args.WithTotal = true
			}
		}
	}
	return args
}

func pageInfo[T any](p *hub.Page[T]) *models.PageInfo {
	pi := &models.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	if n := len(p.Cursors); n > 0 {
		pi.StartCursor, pi.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	return pi
}

func edges[T, E any](p *hub.Page[T], edge func(cursor string, node *T) E) []E {
	out := make([]E, len(p.Items))
	for i, it := range p.Items {
		out[i] = edge(p.Cursors[i], it)
	}
	return out
}

func nonNil[T any](items []*T) []*T {
	if items == nil {
		return []*T{}
	}
	return items
}

// userErrors splits a hub error into the payload's userErrors (problems
// with the input the client can fix) and a top-level error (not
// authenticated, not allowed, or internal).
func userErrors(err error) ([]*models.UserError, error) {
	if err == nil {
		return []*models.UserError{}, nil
	}
	e, ok := hub.AsError(err)
	if !ok {
		return nil, err
	}
	var code models.ErrorCode
	switch e.Code {
	case hub.CodeBadInput:
		code = models.ErrorCodeBadUserInput
	case hub.CodeNotFound:
		code = models.ErrorCodeNotFound
	case hub.CodeConflict:
		code = models.ErrorCodeConflict
	default:
		return nil, err
	}
	return []*models.UserError{{Field: e.Field, Message: e.Message, Code: code}}, nil
}

func conversationConnection(page *hub.Page[models.Conversation]) *models.ConversationConnection {
	return &models.ConversationConnection{
		Edges: edges(page, func(c string, n *models.Conversation) *models.ConversationEdge {
			return &models.ConversationEdge{Cursor: c, Node: n}
		}),
		Nodes: nonNil(page.Items), PageInfo: pageInfo(page), TotalCount: page.TotalCount,
	}
}

func messageConnection(page *hub.Page[models.Message]) *models.MessageConnection {
	return &models.MessageConnection{
		Edges: edges(page, func(c string, n *models.Message) *models.MessageEdge {
			return &models.MessageEdge{Cursor: c, Node: n}
		}),
		Nodes: nonNil(page.Items), PageInfo: pageInfo(page), TotalCount: page.TotalCount,
	}
}

func ticketConnection(page *hub.Page[models.Ticket]) *models.TicketConnection {
	return &models.TicketConnection{
		Edges: edges(page, func(c string, n *models.Ticket) *models.TicketEdge {
			return &models.TicketEdge{Cursor: c, Node: n}
		}),
		Nodes: nonNil(page.Items), PageInfo: pageInfo(page), TotalCount: page.TotalCount,
	}
}

// nodes resolves several global IDs in order; unknown ones are null.
func (r *Resolver) nodes(ctx context.Context, ids []string) ([]models.Node, error) {
	if len(ids) > hub.MaxPageSize {
		return nil, &hub.Error{Code: hub.CodeBadInput, Message: "at most 100 ids at once", Field: []string{"ids"}}
	}
	out := make([]models.Node, len(ids))
	for i, id := range ids {
		n, err := r.Hub.Node(ctx, id)
		if err != nil && hub.CodeOf(err) != hub.CodeNotFound {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// InternalError marks an error a resolver returned that is not the
// client's to see (a database failure, a bug): the server logs it and
// answers "internal error" with code INTERNAL.
type InternalError struct{ Err error }

func (e InternalError) Error() string { return e.Err.Error() }
func (e InternalError) Unwrap() error { return e.Err }

// MarkInternal wraps err unless it is a hub error, which is the client's.
func MarkInternal(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := hub.AsError(err); ok {
		return err
	}
	var ie InternalError
	if errors.As(err, &ie) {
		return err
	}
	return InternalError{err}
}
