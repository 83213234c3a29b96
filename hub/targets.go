package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Work orders go to targets as dispatch rules say: every ticket event
// (created, assigned, resolved...) is matched against the tenant's rules in
// the transaction that changes the ticket, and each match writes a
// delivery row (the outbox) with the event's document frozen in it. The
// dispatcher delivers it; the delivery id stays the same across retries.

const kindTicketEvent = "ticket_event"

func targetAAD(id uint64) []byte { return []byte("target:" + strconv.FormatUint(id, 10)) }

// CallbackURL is where the target's system calls kefuhub back.
func (h *Hub) CallbackURL(t *models.Target) string {
	return strings.TrimRight(h.publicURL, "/") + "/webhooks/oa/" + t.GlobalID()
}

// CreateTarget adds a target (ADMIN).
func (h *Hub) CreateTarget(ctx context.Context, in models.CreateTargetInput) (*models.Target, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	c, ok := h.connectors.LookupTarget(in.Kind)
	if !ok {
		return nil, errBadInput("kind", "kefuhub does not deliver to %s targets yet", in.Kind)
	}
	t := &models.Target{TenantID: p.TenantID, Kind: in.Kind, Enabled: true, Settings: map[string]any{}}
	if t.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if err := maxJSONSize("settings", in.Settings, maxJSONBytes); err != nil {
		return nil, err
	}
	norm, err := c.Spec.Normalize(in.Settings)
	if err != nil {
		var fe *connectors.FieldError
		if errors.As(err, &fe) {
			return nil, &Error{Code: CodeBadInput, Message: "settings." + fe.Field + " " + fe.Message, Field: []string{"input", "settings", fe.Field}}
		}
		return nil, errBadInput("settings", "%v", err)
	}
	secrets := map[string]any{}
	for k, v := range norm {
		if slices.Contains(c.Spec.SecretKeys(), k) {
			secrets[k] = v
			t.SecretKeys = append(t.SecretKeys, k)
		} else {
			t.Settings[k] = v
		}
	}
	slices.Sort(t.SecretKeys)
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Create(t).Error; err != nil {
			return fmt.Errorf("hub: create target: %w", err)
		}
		if len(secrets) > 0 {
			plain, _ := json.Marshal(secrets)
			if t.SealedSecrets, err = h.box.Seal(plain, targetAAD(t.ID)); err != nil {
				return err
			}
			if err := tx.Model(t).Update("sealed_secrets", t.SealedSecrets).Error; err != nil {
				return err
			}
		}
		return audit(tx, p, "target.create", models.TypeTarget, t.ID, nil, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// targetSettings opens a target's settings, secret ones included.
func (h *Hub) targetSettings(t *models.Target) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range t.Settings {
		out[k] = fmt.Sprint(v)
	}
	if len(t.SealedSecrets) > 0 {
		plain, err := h.box.Open(t.SealedSecrets, targetAAD(t.ID))
		if err != nil {
			return nil, fmt.Errorf("hub: target %d secrets: %w", t.ID, err)
		}
		var secrets map[string]any
		if err := json.Unmarshal(plain, &secrets); err != nil {
			return nil, err
		}
		for k, v := range secrets {
			out[k] = fmt.Sprint(v)
		}
	}
	return out, nil
}

func (h *Hub) openTarget(t *models.Target) (connectors.Target, error) {
	c, ok := h.connectors.LookupTarget(t.Kind)
	if !ok {
		return nil, fmt.Errorf("hub: no connector for %s targets", t.Kind)
	}
	settings, err := h.targetSettings(t)
	if err != nil {
		return nil, err
	}
	if api := h.targetAPIs[t.Kind]; api != "" {
		// The connector's documented key for its second host; specs refuse
		// it from admins, so only configuration sets it.
		settings["_apiBase"] = api
	}
	return c.New(connectors.Config{ChannelID: t.GlobalID(), Settings: settings, WebhookURL: h.CallbackURL(t),
		BaseURL: h.targetURLs[t.Kind], HTTPClient: h.httpClient, Now: h.now, Tokens: tokenStore{h}})
}

// TargetTest is the outcome of TestTarget; Problem is nil when it works.
type TargetTest struct {
	Target  *models.Target
	Problem error
}

// TestTarget checks a target's settings against its system (ADMIN).
func (h *Hub) TestTarget(ctx context.Context, gid string) (*TargetTest, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeTarget, gid)
	if err != nil {
		return nil, err
	}
	t := &models.Target{}
	if err := load(h.conn(ctx), p, t, id, "id", models.TypeTarget); err != nil {
		return nil, err
	}
	res := &TargetTest{Target: t}
	conn, err := h.openTarget(t)
	if err != nil {
		res.Problem = err
		return res, nil
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res.Problem = conn.Test(tctx)
	return res, nil
}

// Targets lists the tenant's targets (ADMIN).
func (h *Hub) Targets(ctx context.Context) ([]*models.Target, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var out []*models.Target
	err = h.conn(ctx).Scopes(store.Tenant(p.TenantID)).Order("id").Find(&out).Error
	return out, err
}

// TargetsByID serves batch lookups.
func (h *Hub) TargetsByID(ctx context.Context, ids []uint64) (map[uint64]*models.Target, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []*models.Target
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[uint64]*models.Target{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}

var conditionKeys = []string{"teamId", "category", "priority", "channelKind", "tag"}

// CreateDispatchRule adds a rule (ADMIN).
func (h *Hub) CreateDispatchRule(ctx context.Context, in models.CreateDispatchRuleInput) (*models.DispatchRule, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	r := &models.DispatchRule{TenantID: p.TenantID, Enabled: true, Condition: in.Condition, Events: in.Events}
	if r.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if len(r.Events) == 0 {
		return nil, errBadInput("events", "name at least one event")
	}
	if r.TargetID, err = decodeRef("targetId", models.TypeTarget, in.TargetID); err != nil {
		return nil, err
	}
	for k := range r.Condition {
		if !slices.Contains(conditionKeys, k) {
			return nil, errBadInput("condition", "condition has no key %q (allowed: %s)", k, strings.Join(conditionKeys, ", "))
		}
	}
	r.Template = derefOr(in.Template, defaultTemplate)
	if _, err := template.New("rule").Option("missingkey=zero").Parse(r.Template); err != nil {
		return nil, errBadInput("template", "template does not parse: %v", err)
	}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := load(tx, p, &models.Target{}, r.TargetID, "targetId", models.TypeTarget); err != nil {
			return err
		}
		if err := tx.Create(r).Error; err != nil {
			return fmt.Errorf("hub: create rule: %w", err)
		}
		return audit(tx, p, "dispatch_rule.create", models.TypeDispatchRule, r.ID, nil, r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DispatchRules lists the tenant's rules (ADMIN).
func (h *Hub) DispatchRules(ctx context.Context) ([]*models.DispatchRule, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var out []*models.DispatchRule
	err = h.conn(ctx).Scopes(store.Tenant(p.TenantID)).Order("id").Find(&out).Error
	return out, err
}

const defaultTemplate = `【{{.Ticket.Reference}}】{{.Ticket.Title}}
状态: {{.Ticket.Status}}  优先级: {{.Ticket.Priority}}{{if .Customer}}
客户: {{.Customer.Name}}{{end}}{{if .Ticket.Description}}
{{.Ticket.Description}}{{end}}`

// ticketEvent matches a ticket event against the tenant's rules and queues
// a delivery per match, in tx. The system that caused the change (an OA
// callback) is not told about it again.
func (h *Hub) ticketEvent(tx *gorm.DB, ev *pending, p Principal, t *models.Ticket, event models.TicketEvent, comment string) error {
	var rules []*models.DispatchRule
	if err := tx.Scopes(store.Tenant(p.TenantID)).Where("enabled = ?", true).Find(&rules).Error; err != nil {
		return err
	}
	var doc []byte
	var data *workOrderData
	for _, r := range rules {
		if !slices.Contains(r.Events, event) || r.TargetID == p.ViaTargetID {
			continue
		}
		if data == nil {
			var err error
			if data, err = h.workOrderData(tx, p, t, event, comment); err != nil {
				return err
			}
			if doc, err = json.Marshal(data.document()); err != nil {
				return err
			}
		}
		if !data.matches(r.Condition) {
			continue
		}
		var text bytes.Buffer
		tpl, err := template.New("rule").Option("missingkey=zero").Parse(r.Template)
		if err == nil {
			err = tpl.Execute(&text, data)
		}
		if err != nil {
			text.Reset()
			text.WriteString(fmt.Sprintf("【%s】%s", t.Reference(), t.Title))
		}
		now := h.now()
		targetID, ticketID := r.TargetID, t.ID
		d := &models.Delivery{TenantID: p.TenantID, Kind: kindTicketEvent, TargetID: &targetID, TicketID: &ticketID,
			Event: event.WireName(), Document: doc, Title: clipRunes(t.Reference()+" "+t.Title, 200), Text: clipRunes(text.String(), 4000),
			Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(d).Error; err != nil {
			return fmt.Errorf("hub: queue work order: %w", err)
		}
		ev.queued = true
	}
	return nil
}

// workOrderData is what templates and documents see of a ticket event.
type workOrderData struct {
	Event        string
	Ticket       *models.Ticket
	Customer     *models.Customer
	Conversation *models.Conversation
	Channel      *models.Channel
	Assignee     *models.User
	Team         *models.Team
	Excerpt      []*models.Message
	PerformedBy  map[string]any
	Comment      string
	At           time.Time
}

func (h *Hub) workOrderData(tx *gorm.DB, p Principal, t *models.Ticket, event models.TicketEvent, comment string) (*workOrderData, error) {
	d := &workOrderData{Event: event.WireName(), Ticket: t, Comment: comment, At: h.now()}
	if t.CustomerID != nil {
		d.Customer = &models.Customer{}
		if err := tx.Where("id = ?", *t.CustomerID).Take(d.Customer).Error; err != nil {
			d.Customer = nil
		}
	}
	if t.AssigneeID != nil {
		d.Assignee = &models.User{}
		if err := tx.Where("id = ?", *t.AssigneeID).Take(d.Assignee).Error; err != nil {
			d.Assignee = nil
		}
	}
	if t.TeamID != nil {
		d.Team = &models.Team{}
		if err := tx.Where("id = ?", *t.TeamID).Take(d.Team).Error; err != nil {
			d.Team = nil
		}
	}
	var link models.TicketConversation
	if err := tx.Where("ticket_id = ?", t.ID).Order("created_at").Take(&link).Error; err == nil {
		d.Conversation, d.Channel = &models.Conversation{}, &models.Channel{}
		if tx.Where("id = ?", link.ConversationID).Take(d.Conversation).Error != nil {
			d.Conversation = nil
		} else {
			_ = tx.Where("id = ?", d.Conversation.ChannelID).Take(d.Channel).Error
			var msgs []*models.Message
			_ = tx.Where("conversation_id = ? AND is_private = ?", d.Conversation.ID, false).Order("id DESC").Limit(5).Find(&msgs).Error
			slices.Reverse(msgs)
			d.Excerpt = msgs
		}
	}
	switch {
	case p.ViaTargetID != 0:
		d.PerformedBy = map[string]any{"type": "target", "id": models.EncodeID(models.TypeTarget, p.ViaTargetID)}
	case p.UserID != 0:
		u := &models.User{}
		d.PerformedBy = map[string]any{"type": "user", "id": models.EncodeID(models.TypeUser, p.UserID)}
		if tx.Where("id = ?", p.UserID).Take(u).Error == nil {
			d.PerformedBy["name"], d.PerformedBy["email"] = u.Name, u.Email
		}
	default:
		d.PerformedBy = map[string]any{"type": "system"}
	}
	return d, nil
}

// matches applies a rule's condition.
func (d *workOrderData) matches(cond map[string]any) bool {
	for k, want := range cond {
		w := fmt.Sprint(want)
		switch k {
		case "teamId":
			if d.Ticket.TeamID == nil || models.EncodeID(models.TypeTeam, *d.Ticket.TeamID) != w {
				return false
			}
		case "category":
			if d.Ticket.Category != w {
				return false
			}
		case "priority":
			if !anyEquals(want, string(d.Ticket.Priority)) {
				return false
			}
		case "channelKind":
			if d.Channel == nil || !anyEquals(want, string(d.Channel.Kind)) {
				return false
			}
		case "tag":
			if d.Customer == nil || !slices.Contains(d.Customer.Tags, w) {
				return false
			}
		}
	}
	return true
}

// anyEquals reports whether want (a value or a list of values) holds got.
func anyEquals(want any, got string) bool {
	if list, ok := want.([]any); ok {
		for _, v := range list {
			if fmt.Sprint(v) == got {
				return true
			}
		}
		return false
	}
	return fmt.Sprint(want) == got
}

// document is the versioned work-order document (docs/oa-webhook).
func (d *workOrderData) document() map[string]any {
	t := d.Ticket
	ticket := map[string]any{
		"id": t.GlobalID(), "reference": t.Reference(), "number": t.Number, "title": t.Title, "description": t.Description,
		"category": t.Category, "priority": t.Priority, "status": t.Status, "dueAt": t.DueAt,
		"createdAt": t.CreatedAt, "updatedAt": t.UpdatedAt, "assignee": nil, "team": nil,
	}
	if d.Assignee != nil {
		ticket["assignee"] = map[string]any{"id": d.Assignee.GlobalID(), "name": d.Assignee.Name, "email": d.Assignee.Email}
	}
	if d.Team != nil {
		ticket["team"] = map[string]any{"id": d.Team.GlobalID(), "name": d.Team.Name}
	}
	doc := map[string]any{"schemaVersion": 1, "event": d.Event, "occurredAt": d.At, "performedBy": d.PerformedBy,
		"ticket": ticket, "customer": nil, "conversation": nil}
	if d.Customer != nil {
		doc["customer"] = map[string]any{"id": d.Customer.GlobalID(), "name": d.Customer.Name, "phone": d.Customer.Phone, "email": d.Customer.Email}
	}
	if d.Conversation != nil {
		excerpt := []map[string]any{}
		for _, m := range d.Excerpt {
			excerpt = append(excerpt, map[string]any{"direction": m.Direction, "text": clipRunes(m.Text, 500), "at": m.CreatedAt})
		}
		conv := map[string]any{"id": d.Conversation.GlobalID(), "number": d.Conversation.Number, "excerpt": excerpt}
		if d.Channel != nil && d.Channel.ID != 0 {
			conv["channel"] = map[string]any{"kind": d.Channel.Kind, "name": d.Channel.Name}
		}
		doc["conversation"] = conv
	}
	if d.Comment != "" {
		doc["comment"] = d.Comment
	}
	return doc
}

// deliverWorkOrder makes one attempt at a work-order delivery.
func (h *Hub) deliverWorkOrder(ctx context.Context, d *dispatcher, del *models.Delivery) (connectors.DeliverResult, error) {
	if del.TargetID == nil {
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: "the delivery has no target"}
	}
	t := &models.Target{}
	if err := h.conn(ctx).Where("id = ?", *del.TargetID).Take(t).Error; err != nil {
		return connectors.DeliverResult{}, retryable(err)
	}
	if !t.Enabled {
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: "the target is disabled"}
	}
	conn, err := h.openTarget(t)
	if err != nil {
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: "the target cannot be used: " + err.Error()}
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	ref := ""
	if del.TicketID != nil {
		var tk models.Ticket
		if h.conn(ctx).Where("id = ?", *del.TicketID).Take(&tk).Error == nil {
			ref = tk.Reference()
		}
	}
	return conn.Deliver(sctx, connectors.WorkOrder{DeliveryID: del.GlobalID(), Event: del.Event, OccurredAt: del.CreatedAt,
		Document: del.Document, Title: del.Title, Text: del.Text, TicketRef: ref})
}

// recordExternalRef keeps a target's id for the ticket on the ticket.
func (h *Hub) recordExternalRef(tx *gorm.DB, del *models.Delivery, res connectors.DeliverResult, ev *pending) error {
	if del.TicketID == nil || res.ExternalID == "" {
		return nil
	}
	t := &models.Ticket{}
	if err := h.lockFor(tx).Where("id = ?", *del.TicketID).Take(t).Error; err != nil {
		return err
	}
	var target models.Target
	system := "target"
	if del.TargetID != nil && tx.Where("id = ?", *del.TargetID).Take(&target).Error == nil {
		system = string(target.Kind) + ":" + target.GlobalID()
	}
	for _, r := range t.ExternalRefs {
		if r.System == system && r.ExternalID == res.ExternalID {
			return nil
		}
	}
	t.ExternalRefs = append(t.ExternalRefs, models.ExternalRef{System: system, ExternalID: res.ExternalID, URL: res.URL, CreatedAt: h.now()})
	if err := tx.Model(t).Select("external_refs").Updates(t).Error; err != nil {
		return err
	}
	ev.add(Event{TenantID: t.TenantID, Ticket: t})
	return nil
}

// DeliveriesOfTickets returns each ticket's work-order deliveries.
func (h *Hub) DeliveriesOfTickets(ctx context.Context, ticketIDs []uint64) (map[uint64][]*models.Delivery, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	var rows []*models.Delivery
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("ticket_id IN ?", ticketIDs).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[uint64][]*models.Delivery{}
	for _, r := range rows {
		out[*r.TicketID] = append(out[*r.TicketID], r)
	}
	return out, nil
}

// DeliveryCancelled is the status of a delivery an admin stopped.
const DeliveryCancelled = "CANCELLED"

// Deliveries lists the tenant's work-order deliveries, newest first (ADMIN).
func (h *Hub) Deliveries(ctx context.Context, args PageArgs, f *models.DeliveryFilter) (*Page[models.Delivery], error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Delivery{}).Where("kind = ?", kindTicketEvent)
	if f != nil {
		if f.Status != nil {
			q = q.Where("status = ?", strings.ToUpper(*f.Status))
		}
		if f.TargetID != nil {
			id, err := decodeFilterRef("targetId", models.TypeTarget, *f.TargetID)
			if err != nil {
				return nil, err
			}
			q = q.Where("target_id = ?", id)
		}
		if f.TicketID != nil {
			id, err := decodeFilterRef("ticketId", models.TypeTicket, *f.TicketID)
			if err != nil {
				return nil, err
			}
			q = q.Where("ticket_id = ?", id)
		}
	}
	key := sortKey[models.Delivery]{table: "deliveries", column: "id", kind: keyInt, desc: true,
		value: func(d *models.Delivery) any { return d.ID }, id: func(d *models.Delivery) uint64 { return d.ID }}
	return paginate(ctx, q, args, key)
}

// RetryDelivery makes a failed or pending delivery due now (ADMIN).
func (h *Hub) RetryDelivery(ctx context.Context, gid string) (*models.Delivery, error) {
	return h.changeDelivery(ctx, gid, "delivery.retry", func(d *models.Delivery) error {
		if d.Status == DeliverySent {
			return errConflict("id", "the delivery was already sent")
		}
		d.Status, d.NextAttemptAt, d.ClaimedBy, d.ClaimedUntil = DeliveryPending, h.now(), "", nil
		return nil
	})
}

// CancelDelivery stops a pending delivery (ADMIN).
func (h *Hub) CancelDelivery(ctx context.Context, gid string) (*models.Delivery, error) {
	return h.changeDelivery(ctx, gid, "delivery.cancel", func(d *models.Delivery) error {
		if d.Status != DeliveryPending {
			return errConflict("id", "only a pending delivery can be cancelled (it is %s)", d.Status)
		}
		d.Status = DeliveryCancelled
		return nil
	})
}

func (h *Hub) changeDelivery(ctx context.Context, gid, action string, change func(*models.Delivery) error) (*models.Delivery, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeDelivery, gid)
	if err != nil {
		return nil, err
	}
	d := &models.Delivery{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, d, id, "id", models.TypeDelivery); err != nil {
			return err
		}
		if d.Kind != kindTicketEvent {
			return errNotFound("id", models.TypeDelivery)
		}
		before := map[string]any{"status": d.Status, "attempts": d.Attempts}
		if err := change(d); err != nil {
			return err
		}
		d.UpdatedAt = h.now()
		if err := tx.Model(d).Select("status", "next_attempt_at", "claimed_by", "claimed_until", "updated_at").Updates(d).Error; err != nil {
			return err
		}
		ev.queued = d.Status == DeliveryPending
		return audit(tx, p, action, models.TypeDelivery, d.ID, before, map[string]any{"status": d.Status})
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DeliveriesByID serves node(id) for deliveries (ADMIN).
func (h *Hub) DeliveriesByID(ctx context.Context, ids []uint64) (map[uint64]*models.Delivery, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	var rows []*models.Delivery
	if err := h.conn(ctx).Scopes(store.TenantCheck(p.TenantID)).Where("id IN ? AND kind = ?", ids, kindTicketEvent).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[uint64]*models.Delivery{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}
