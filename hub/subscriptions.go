package hub

import (
	"context"

	"github.com/kefuhub/kefuhub/models"
)

// subscribe turns the bus's events for the caller's tenant into a stream of
// T, keeping those pick accepts. The stream ends when ctx ends or the bus
// drops the subscriber.
func subscribe[T any](h *Hub, ctx context.Context, p Principal, pick func(Event) (*T, bool)) <-chan *T {
	events, cancel := h.bus.Subscribe(p.TenantID)
	out := make(chan *T, 16)
	go func() {
		defer close(out)
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				v, ok := pick(e)
				if !ok {
					continue
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// SubscribeMessages streams messages added to one conversation, or to any
// of the tenant's conversations when conversationID is nil.
func (h *Hub) SubscribeMessages(ctx context.Context, conversationID *string) (<-chan *models.Message, error) {
	return h.subscribeMessages(ctx, conversationID, false)
}

// SubscribeMessageUpdates streams messages whose delivery status changed.
func (h *Hub) SubscribeMessageUpdates(ctx context.Context, conversationID *string) (<-chan *models.Message, error) {
	return h.subscribeMessages(ctx, conversationID, true)
}

func (h *Hub) subscribeMessages(ctx context.Context, conversationID *string, updates bool) (<-chan *models.Message, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var convID uint64
	if conversationID != nil {
		id, err := decodeRef("conversationId", models.TypeConversation, *conversationID)
		if err == nil {
			err = load(h.conn(ctx), p, &models.Conversation{}, id, "conversationId", models.TypeConversation)
		}
		if e, ok := AsError(err); ok {
			e.Field = []string{"conversationId"}
		}
		if err != nil {
			return nil, err
		}
		convID = id
	}
	return subscribe(h, ctx, p, func(e Event) (*models.Message, bool) {
		return e.Message, e.Message != nil && e.Updated == updates && (convID == 0 || e.Message.ConversationID == convID)
	}), nil
}

// SubscribeConversations streams conversations created or changed that
// match the filter.
func (h *Hub) SubscribeConversations(ctx context.Context, f *models.ConversationFilter) (<-chan *models.Conversation, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	cf, err := decodeConvFilter(f)
	if err != nil {
		return nil, err
	}
	return subscribe(h, ctx, p, func(e Event) (*models.Conversation, bool) {
		return e.Conversation, e.Conversation != nil && cf.match(e.Conversation)
	}), nil
}

// SubscribeTickets streams tickets created or changed that match the filter.
func (h *Hub) SubscribeTickets(ctx context.Context, f *models.TicketFilter) (<-chan *models.Ticket, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	tf, err := decodeTicketFilter(f)
	if err != nil {
		return nil, err
	}
	return subscribe(h, ctx, p, func(e Event) (*models.Ticket, bool) {
		return e.Ticket, e.Ticket != nil && tf.match(e.Ticket)
	}), nil
}
