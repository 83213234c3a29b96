package hub

import (
	"sync"

	"github.com/kefuhub/kefuhub/models"
)

// Event is a committed change subscribers may care about. Exactly one of
// the object fields is set.
type Event struct {
	TenantID uint64
	// Updated marks a change to an existing message (its delivery status),
	// rather than a new one.
	Updated      bool
	Message      *models.Message
	Conversation *models.Conversation
	Ticket       *models.Ticket
}

// Bus fans committed events out to this process's subscribers. A slow
// subscriber loses events rather than stalling the writer: its buffer is
// large, and a subscriber that cannot keep up is dropped (its stream ends,
// and the client resubscribes and refetches).
type Bus struct {
	mu     sync.RWMutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	tenantID uint64
	ch       chan Event
	once     sync.Once
}

const subscriberBuffer = 256

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*subscriber]struct{}{}} }

// Subscribe returns a channel of the tenant's events and a function that
// ends the subscription. The channel is closed when the subscription ends.
func (b *Bus) Subscribe(tenantID uint64) (<-chan Event, func()) {
	s := &subscriber{tenantID: tenantID, ch: make(chan Event, subscriberBuffer)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() { b.remove(s) }
}

func (b *Bus) remove(s *subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.once.Do(func() { close(s.ch) })
}

// Publish delivers e to the subscribers of its tenant.
func (b *Bus) Publish(e Event) {
	var slow []*subscriber
	b.mu.RLock()
	for s := range b.subs {
		if s.tenantID != e.TenantID {
			continue
		}
		select {
		case s.ch <- e:
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		b.remove(s)
	}
}

// Subscribers counts the live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

// Close ends every subscription; later subscriptions end at once.
func (b *Bus) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = map[*subscriber]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.once.Do(func() { close(s.ch) })
	}
}
