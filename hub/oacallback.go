package hub

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// OA systems call back to change the tickets they hold: the change is
// made as if an agent had made it (rules, audit, subscribers), performed
// via the target, and is not delivered back to the target that made it.

// OAChange is what an OA system asks for. Action is "status", "assign",
// "comment" or "reference".
type OAChange struct {
	Ticket        string `json:"ticket"` // "T-1024" or the ticket's global ID
	Action        string `json:"action"`
	Status        string `json:"status"`
	AssigneeEmail string `json:"assigneeEmail"`
	Comment       string `json:"comment"`
	ExternalID    string `json:"externalId"`
	URL           string `json:"url"`
}

// OATarget finds the OA target a callback URL names and its signing
// secret; unknown, disabled or non-OA targets are ErrNoWebhook.
func (h *Hub) OATarget(ctx context.Context, gid string) (*models.Target, string, error) {
	id, err := models.DecodeIDOf(models.TypeTarget, gid)
	if err != nil {
		return nil, "", ErrNoWebhook
	}
	t := &models.Target{}
	err = h.conn(ctx).Where("id = ?", id).Take(t).Error
	if store.IsNotFound(err) || (err == nil && (!t.Enabled || t.Kind != models.TargetOAWebhook)) {
		return nil, "", ErrNoWebhook
	}
	if err != nil {
		return nil, "", err
	}
	settings, err := h.targetSettings(t)
	if err != nil {
		return nil, "", err
	}
	return t, settings["secret"], nil
}

// ApplyOAChange applies an OA system's change to one of the tenant's tickets.
func (h *Hub) ApplyOAChange(ctx context.Context, t *models.Target, c OAChange) (*models.Ticket, error) {
	p := Principal{TenantID: t.TenantID, Role: models.RoleAdmin, ViaTargetID: t.ID}
	ctx = WithPrincipal(ctx, p)
	ticket, err := h.findTicket(ctx, p, c.Ticket)
	if err != nil {
		return nil, err
	}
	gid := ticket.GlobalID()
	switch c.Action {
	case "status":
		var st models.TicketStatus
		if err := st.UnmarshalGQL(strings.ToUpper(c.Status)); err != nil {
			return nil, &Error{Code: CodeBadInput, Message: "status must be one of NEW, OPEN, PENDING, RESOLVED, CLOSED", Field: []string{"status"}}
		}
		comment := c.Comment
		return h.TransitionTicket(ctx, models.TransitionTicketInput{ID: gid, Status: st, Comment: &comment})
	case "assign":
		u, err := h.UserByEmail(ctx, t.TenantID, c.AssigneeEmail)
		if err != nil {
			return nil, &Error{Code: CodeNotFound, Message: "no user with that assigneeEmail", Field: []string{"assigneeEmail"}}
		}
		uid := u.GlobalID()
		return h.UpdateTicket(ctx, models.UpdateTicketInput{ID: gid, AssigneeID: omittableOf(&uid)})
	case "comment":
		return h.commentTicket(ctx, p, ticket, c.Comment)
	case "reference":
		return h.referenceTicket(ctx, p, t, ticket, c)
	}
	return nil, &Error{Code: CodeBadInput, Message: "action must be status, assign, comment or reference", Field: []string{"action"}}
}

// findTicket resolves "T-1024" or a global ID within p's tenant.
func (h *Hub) findTicket(ctx context.Context, p Principal, ref string) (*models.Ticket, error) {
	t := &models.Ticket{}
	q := h.conn(ctx).Scopes(store.Tenant(p.TenantID))
	if n, ok := referenceNumber(ref); ok && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ref)), "T-") {
		q = q.Where("number = ?", n)
	} else if id, err := models.DecodeIDOf(models.TypeTicket, ref); err == nil {
		q = q.Where("id = ?", id)
	} else {
		return nil, &Error{Code: CodeBadInput, Message: "ticket must be a reference like T-1024 or a ticket ID", Field: []string{"ticket"}}
	}
	if err := q.Take(t).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, &Error{Code: CodeNotFound, Message: "no such ticket", Field: []string{"ticket"}}
		}
		return nil, err
	}
	return t, nil
}

func (h *Hub) commentTicket(ctx context.Context, p Principal, t *models.Ticket, comment string) (*models.Ticket, error) {
	comment, err := cleanText("comment", comment, 2000, true)
	if err != nil {
		return nil, err
	}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := audit(tx, p, "ticket.comment", models.TypeTicket, t.ID, nil, map[string]any{"comment": comment}); err != nil {
			return err
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		return h.ticketEvent(tx, ev, p, t, models.TicketCommented, comment)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (h *Hub) referenceTicket(ctx context.Context, p Principal, target *models.Target, t *models.Ticket, c OAChange) (*models.Ticket, error) {
	ext, err := cleanText("externalId", c.ExternalID, 191, true)
	if err != nil {
		return nil, err
	}
	system := string(target.Kind) + ":" + target.GlobalID()
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := h.lockFor(tx).Where("id = ?", t.ID).Take(t).Error; err != nil {
			return err
		}
		for _, r := range t.ExternalRefs {
			if r.System == system && r.ExternalID == ext {
				return nil
			}
		}
		t.ExternalRefs = append(t.ExternalRefs, models.ExternalRef{System: system, ExternalID: ext, URL: c.URL, CreatedAt: h.now()})
		if err := tx.Model(t).Select("external_refs").Updates(t).Error; err != nil {
			return err
		}
		ev.add(Event{TenantID: p.TenantID, Ticket: t})
		return audit(tx, p, "ticket.reference", models.TypeTicket, t.ID, nil, map[string]any{"system": system, "externalId": ext})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func omittableOf[T any](v T) graphql.Omittable[T] { return graphql.OmittableOf(v) }

// ApplyApproval moves the ticket an approval was filed for: approved
// resolves it, rejected reopens it with the reason as a comment. The change
// is made via the target that filed the approval, so it is not sent back
// there. An approval kefuhub does not know is ignored.
func (h *Hub) ApplyApproval(ctx context.Context, ch *models.Channel, o connectors.ApprovalOutcome) error {
	if !o.Approved && !o.Rejected {
		return nil
	}
	var t models.Ticket
	pattern := likePattern(`"externalId":` + jsonQuoted(o.ExternalID))
	err := h.conn(ctx).Scopes(store.Tenant(ch.TenantID)).Where("external_refs"+likeEscape, pattern).Take(&t).Error
	if store.IsNotFound(err) {
		h.log.Info("approval for no known ticket", "channel", ch.GlobalID(), "externalId", o.ExternalID)
		return nil
	}
	if err != nil {
		return err
	}
	p := Principal{TenantID: ch.TenantID, Role: models.RoleAdmin}
	for _, r := range t.ExternalRefs {
		if r.ExternalID != o.ExternalID {
			continue
		}
		if _, gid, ok := strings.Cut(r.System, ":"); ok {
			if id, err := models.DecodeIDOf(models.TypeTarget, gid); err == nil {
				p.ViaTargetID = id
			}
		}
	}
	ctx = WithPrincipal(ctx, p)
	comment := o.Comment
	switch {
	case o.Approved && t.Status.CanTransitionTo(models.TicketResolved):
		_, err = h.TransitionTicket(ctx, models.TransitionTicketInput{ID: t.GlobalID(), Status: models.TicketResolved, Comment: &comment})
	case o.Rejected && t.Status.CanTransitionTo(models.TicketOpen):
		if comment == "" {
			comment = "审批被驳回"
		}
		_, err = h.TransitionTicket(ctx, models.TransitionTicketInput{ID: t.GlobalID(), Status: models.TicketOpen, Comment: &comment})
	case o.Rejected && comment != "":
		_, err = h.commentTicket(ctx, p, &t, "审批被驳回："+comment)
	}
	return err
}
