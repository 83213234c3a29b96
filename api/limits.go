package api

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kefuhub/kefuhub/graph"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
)

// depthLimit refuses operations whose selections nest deeper than max, a
// cheap guard against cyclic queries (customer → conversations → customer
// → ...). Introspection fields are not counted, so GraphiQL keeps working.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil {
		return nil
	}
	if depth := selectionDepth(op.SelectionSet, 0, map[string]bool{}); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; at most %d are allowed", depth, d.max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int, visiting map[string]bool) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = selectionDepth(s.SelectionSet, depth+1, visiting)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, visiting)
		case *ast.FragmentSpread:
			if s.Definition == nil || visiting[s.Name] {
				continue
			}
			visiting[s.Name] = true
			d = selectionDepth(s.Definition.SelectionSet, depth, visiting)
			delete(visiting, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// listCost is the cost multiplier of a connection: its page size.
func listCost(first, last *int) int {
	switch {
	case first != nil:
		return max(*first, 1)
	case last != nil:
		return max(*last, 1)
	}
	return hub.DefaultPageSize
}

// setComplexity makes connections cost their page size times what each
// row selects, so a client cannot ask for 100 × 100 × 100 rows.
func setComplexity(c *graph.ComplexityRoot) {
	c.Query.Customers = func(child int, first *int, _ *string, last *int, _ *string, _ *models.CustomerFilter, _ *models.CustomerOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Conversations = func(child int, first *int, _ *string, last *int, _ *string, _ *models.ConversationFilter, _ *models.ConversationOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Messages = func(child int, first *int, _ *string, last *int, _ *string, _ models.MessageFilter, _ *models.MessageOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Tickets = func(child int, first *int, _ *string, last *int, _ *string, _ *models.TicketFilter, _ *models.TicketOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Users = func(child int, first *int, _ *string, last *int, _ *string, _ *models.UserFilter, _ *models.UserOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Teams = func(child int, first *int, _ *string, last *int, _ *string, _ *models.TeamFilter, _ *models.TeamOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Channels = func(child int, first *int, _ *string, last *int, _ *string, _ *models.ChannelFilter, _ *models.ChannelOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.AuditEvents = func(child int, first *int, _ *string, last *int, _ *string, _ *models.AuditEventFilter, _ *models.AuditEventOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.APITokens = func(child int, first *int, _ *string, last *int, _ *string, _ *models.APITokenFilter) int {
		return 1 + child*listCost(first, last)
	}
	c.Query.Nodes = func(child int, ids []string) int {
		return 1 + child*max(len(ids), 1)
	}
	c.Customer.Conversations = func(child int, first *int, _ *string, last *int, _ *string, _ *models.ConversationOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Customer.Tickets = func(child int, first *int, _ *string, last *int, _ *string, _ *models.TicketOrder) int {
		return 1 + child*listCost(first, last)
	}
	c.Conversation.Messages = func(child int, first *int, _ *string, last *int, _ *string, _ *bool) int {
		return 1 + child*listCost(first, last)
	}
}
