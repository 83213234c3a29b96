package hub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// The dispatcher carries out outbound effects: a delivery row is written in
// the same transaction as the change that causes it (the outbox); workers
// claim due rows, several replicas sharing the work without sending twice
// (FOR UPDATE SKIP LOCKED on MySQL, the single writer on SQLite); transient
// failures are retried with exponential backoff and jitter, honouring the
// platform's requested wait; permanent ones fail at once with the reason.

// Delivery statuses.
const (
	DeliveryPending = "PENDING"
	DeliverySent    = "SENT"
	DeliveryFailed  = "FAILED"
)

// Delivery kinds.
const kindChannelMessage = "channel_message"

// DispatchConfig tunes the dispatcher.
type DispatchConfig struct {
	// Workers is how many deliveries run at once (default 8).
	Workers int
	// MaxAttempts is how many tries a delivery gets (default 10).
	MaxAttempts int
	// BaseBackoff is the wait after the first failure; it doubles per
	// attempt up to MaxBackoff (defaults 2 s and 1 h).
	BaseBackoff, MaxBackoff time.Duration
	// Poll is how often due deliveries are looked for without a nudge
	// (default 1 s).
	Poll time.Duration
	// SendTimeout bounds one platform call (default 30 s).
	SendTimeout time.Duration
	// ClaimTTL is how long a claim holds; rows a dead replica had claimed
	// are taken over after it (default 2 min; longer than SendTimeout).
	ClaimTTL time.Duration
}

func (c *DispatchConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = 2 * time.Minute
	}
	if c.ClaimTTL <= c.SendTimeout {
		c.ClaimTTL = c.SendTimeout + 5*time.Second
	}
}

type dispatcher struct {
	cfg    DispatchConfig
	nudge  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// StartDispatcher runs the dispatcher until Close.
func (h *Hub) StartDispatcher(cfg DispatchConfig) {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{cfg: cfg, nudge: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	h.dispatch = d
	go func() {
		defer close(d.done)
		h.dispatchLoop(ctx, d)
	}()
}

func (h *Hub) stopDispatcher() {
	if d := h.dispatch; d != nil {
		d.cancel()
		<-d.done
	}
}

// nudgeDispatcher wakes the dispatcher after a commit that queued work.
func (h *Hub) nudgeDispatcher() {
	if d := h.dispatch; d != nil {
		select {
		case d.nudge <- struct{}{}:
		default:
		}
	}
}

func (h *Hub) dispatchLoop(ctx context.Context, d *dispatcher) {
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		free := d.cfg.Workers - len(sem)
		if free > 0 {
			ids, err := h.claimDue(ctx, free, d.cfg.ClaimTTL)
			if err != nil && ctx.Err() == nil {
				h.log.Warn("dispatcher: claim", "err", err)
			}
			for _, id := range ids {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() {
						<-sem
						wg.Done()
						// A free worker looks for more at once, not at the next tick.
						select {
						case d.nudge <- struct{}{}:
						default:
						}
					}()
					h.deliver(ctx, d, id)
				}()
			}
			if len(ids) == free {
				continue // there may be more due right now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.nudge:
		case <-tick.C:
		}
	}
}

// claimDue marks up to n due deliveries as this replica's for ttl.
func (h *Hub) claimDue(ctx context.Context, n int, ttl time.Duration) ([]uint64, error) {
	var ids []uint64
	err := h.store.Tx(ctx, func(tx *gorm.DB) error {
		now := h.now()
		q := tx.Model(&models.Delivery{}).
			Where("status = ? AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)", DeliveryPending, now, now).
			Order("next_attempt_at, id").Limit(n)
		if h.store.Engine == store.EngineMySQL {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		if err := q.Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
			return err
		}
		until := now.Add(ttl)
		return tx.Model(&models.Delivery{}).Where("id IN ?", ids).
			Updates(map[string]any{"claimed_by": h.origin, "claimed_until": until}).Error
	})
	return ids, err
}

// enqueueMessage writes the delivery of an outbound message, in the
// transaction that stores the message.
func (h *Hub) enqueueMessage(tx *gorm.DB, p Principal, m *models.Message) error {
	now := h.now()
	d := &models.Delivery{TenantID: p.TenantID, Kind: kindChannelMessage, ChannelID: &m.ChannelID, MessageID: &m.ID,
		Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if err := tx.Create(d).Error; err != nil {
		return fmt.Errorf("hub: queue delivery: %w", err)
	}
	return nil
}

// deliver makes one attempt at a claimed delivery and records the outcome.
func (h *Hub) deliver(ctx context.Context, d *dispatcher, id uint64) {
	var del models.Delivery
	if err := h.conn(ctx).Where("id = ?", id).Take(&del).Error; err != nil {
		h.log.Warn("dispatcher: load delivery", "delivery", id, "err", err)
		return
	}
	var (
		result  connectors.SendResult
		ref     connectors.DeliverResult
		sendErr error
	)
	switch del.Kind {
	case kindTicketEvent:
		ref, sendErr = h.deliverWorkOrder(ctx, d, &del)
		result.ExternalID = ref.ExternalID
	default:
		result, sendErr = h.sendMessageDelivery(ctx, d, &del)
	}
	if err := h.recordOutcome(ctx, d, &del, result, ref, sendErr); err != nil && ctx.Err() == nil {
		h.log.Error("dispatcher: record outcome", "delivery", id, "err", err)
	}
}

func (h *Hub) sendMessageDelivery(ctx context.Context, d *dispatcher, del *models.Delivery) (connectors.SendResult, error) {
	if del.Kind != kindChannelMessage || del.MessageID == nil {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "unknown delivery kind " + del.Kind}
	}
	db := h.conn(ctx)
	var m models.Message
	var conv models.Conversation
	var ch models.Channel
	if err := db.Where("id = ?", *del.MessageID).Take(&m).Error; err != nil {
		return connectors.SendResult{}, retryable(err)
	}
	if err := db.Where("id = ?", m.ConversationID).Take(&conv).Error; err != nil {
		return connectors.SendResult{}, retryable(err)
	}
	if err := db.Where("id = ?", m.ChannelID).Take(&ch).Error; err != nil {
		return connectors.SendResult{}, retryable(err)
	}
	if !ch.Enabled {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "the channel is disabled"}
	}
	var ident models.Identity
	err := db.Where("customer_id = ? AND channel_id = ?", conv.CustomerID, ch.ID).Order("id DESC").Take(&ident).Error
	if store.IsNotFound(err) {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "the customer has no identity on this channel"}
	}
	if err != nil {
		return connectors.SendResult{}, retryable(err)
	}
	var lastIn models.Message
	var lastInAt *time.Time
	var replyTo *connectors.ReplyContext
	if err := db.Where("conversation_id = ? AND direction = ?", conv.ID, models.DirectionInbound).Order("id DESC").Take(&lastIn).Error; err == nil {
		lastInAt = &lastIn.CreatedAt
		if lastIn.ExternalID != nil {
			replyTo = &connectors.ReplyContext{ExternalID: *lastIn.ExternalID, Metadata: lastIn.Metadata}
		}
	}
	conn, err := h.openChannel(&ch)
	if err != nil {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "the channel cannot be used: " + err.Error()}
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	return conn.Send(sctx, connectors.OutboundMessage{
		DeliveryID: "msg-" + m.GlobalID(), Recipient: ident.ExternalID, Text: m.Text,
		Attachments: m.Attachments, LastInboundAt: lastInAt, InReplyTo: replyTo,
	})
}

func retryable(err error) error { return &connectors.RetryableError{Err: err} }

// backoff is the wait before attempt n+1: exponential with full jitter
// over its upper half, at least what the platform asked for.
func (h *Hub) backoff(d *dispatcher, attempts int, asked time.Duration) time.Duration {
	wait := d.cfg.BaseBackoff << min(attempts-1, 30)
	if wait <= 0 || wait > d.cfg.MaxBackoff {
		wait = d.cfg.MaxBackoff
	}
	wait = wait/2 + rand.N(wait/2+1)
	return max(wait, asked)
}

// recordOutcome stores what an attempt did, on the delivery and its
// message, and tells subscribers.
func (h *Hub) recordOutcome(ctx context.Context, d *dispatcher, del *models.Delivery, res connectors.SendResult, ref connectors.DeliverResult, sendErr error) error {
	p := System(del.TenantID)
	return h.write(context.WithoutCancel(ctx), p, func(tx *gorm.DB, ev *pending) error {
		now := h.now()
		del.Attempts++
		del.ClaimedBy, del.ClaimedUntil, del.UpdatedAt = "", nil, now
		var msgStatus models.DeliveryStatus
		var msgError string
		var perm *connectors.PermanentError
		var retry *connectors.RetryableError
		switch {
		case sendErr == nil:
			del.Status, del.LastError, del.ExternalRef = DeliverySent, "", clip(res.ExternalID, 191)
			msgStatus = models.DeliverySent
		case errors.As(sendErr, &perm):
			del.Status, del.LastError = DeliveryFailed, clip(perm.Reason, 1000)
			msgStatus, msgError = models.DeliveryFailed, perm.Reason
		case del.Attempts >= d.cfg.MaxAttempts:
			del.Status = DeliveryFailed
			del.LastError = clip(fmt.Sprintf("gave up after %d attempts: %v", del.Attempts, sendErr), 1000)
			msgStatus, msgError = models.DeliveryFailed, del.LastError
		default:
			var asked time.Duration
			if errors.As(sendErr, &retry) {
				asked = retry.After
			}
			del.Status, del.LastError = DeliveryPending, clip(sendErr.Error(), 1000)
			del.NextAttemptAt = now.Add(h.backoff(d, del.Attempts, asked))
		}
		if err := tx.Model(del).Select("status", "attempts", "claimed_by", "claimed_until", "last_error", "external_ref", "next_attempt_at", "updated_at").
			Updates(del).Error; err != nil {
			return err
		}
		if del.Kind == kindTicketEvent && del.TicketID != nil {
			if sendErr == nil {
				if err := h.recordExternalRef(tx, del, ref, ev); err != nil {
					return err
				}
			}
			// Subscribers of the ticket see its deliveries move.
			var t models.Ticket
			if err := tx.Where("id = ?", *del.TicketID).Take(&t).Error; err == nil {
				ev.add(Event{TenantID: t.TenantID, Ticket: &t})
			}
		}
		if msgStatus == "" || del.MessageID == nil {
			return nil
		}
		var m models.Message
		if err := tx.Where("id = ?", *del.MessageID).Take(&m).Error; err != nil {
			return err
		}
		m.DeliveryStatus, m.DeliveryError = msgStatus, clip(msgError, 1000)
		cols := []string{"delivery_status", "delivery_error"}
		if res.ExternalID != "" && sendErr == nil {
			ext := clip(res.ExternalID, 191)
			m.ExternalID = &ext
			cols = append(cols, "external_id")
		}
		if err := tx.Model(&m).Select(cols).Updates(&m).Error; err != nil {
			return err
		}
		ev.add(Event{TenantID: p.TenantID, Message: &m, Updated: true})
		return nil
	})
}

// DeliveryOf returns the delivery of an outbound message (tests, admin).
func (h *Hub) DeliveryOf(ctx context.Context, messageID uint64) (*models.Delivery, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	d := &models.Delivery{}
	if err := h.conn(ctx).Scopes(store.Tenant(p.TenantID)).Where("message_id = ?", messageID).Take(d).Error; err != nil {
		return nil, err
	}
	return d, nil
}
