package hub

import (
	"fmt"
	"strings"
	"text/template"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

// When a work order is resolved, the customer is told on the channel they
// wrote from: a system message in the ticket's conversation, delivered by
// the dispatcher like any reply (so it is retried, and its delivery status
// is visible).

// resolvedNotice is the message, per channel kind where the wording should
// differ; the default serves the rest.
var resolvedNotice = map[models.ChannelKind]string{
	models.ChannelEmail: "您好，您的工单 %s（%s）已处理完成。%s\n\n如仍有问题，直接回复本邮件即可。",
}

const defaultResolvedNotice = "您好，您的工单 %s（%s）已处理完成。%s如仍有问题，请直接回复我们。"

// noticeData is what a channel's resolvedNotice template sees.
type noticeData struct {
	Reference, Title, Comment, CustomerName string
}

// maxNoticeTemplate bounds a resolvedNotice template, in runes.
const maxNoticeTemplate = 2000

// checkResolvedNotice validates an admin's resolvedNotice template: it must
// parse and run on a sample ticket (so {{.Typo}} is refused now, not when a
// customer should be told).
func checkResolvedNotice(s string) (string, error) {
	s, err := cleanText("resolvedNotice", s, maxNoticeTemplate, false)
	if err != nil || s == "" {
		return s, err
	}
	tpl, err := template.New("resolvedNotice").Parse(s)
	if err != nil {
		return "", errBadInput("resolvedNotice", "not a valid template: %v", err)
	}
	var out strings.Builder
	sample := noticeData{Reference: "T-1024", Title: "包裹丢失", Comment: "已补发", CustomerName: "王芳"}
	if err := tpl.Execute(&out, sample); err != nil {
		return "", errBadInput("resolvedNotice", "the template fails on a sample ticket: %v", err)
	}
	if strings.TrimSpace(out.String()) == "" {
		return "", errBadInput("resolvedNotice", "the template renders an empty message")
	}
	return s, nil
}

// resolvedText is the notice for t on ch: the channel's template when it
// has one (falling back to the default wording if it fails), else the
// wording for the kind.
func (h *Hub) resolvedText(ch *models.Channel, t *models.Ticket, customerName, comment string) string {
	if ch.ResolvedNotice != "" {
		var out strings.Builder
		tpl, err := template.New("resolvedNotice").Parse(ch.ResolvedNotice)
		if err == nil {
			err = tpl.Execute(&out, noticeData{Reference: t.Reference(), Title: t.Title, Comment: comment, CustomerName: customerName})
		}
		if err == nil && strings.TrimSpace(out.String()) != "" {
			return clipRunes(strings.TrimSpace(out.String()), maxMessageRunes)
		}
		h.log.Warn("resolved notice template failed; default wording used", "channel", ch.GlobalID(), "err", err)
	}
	format, ok := resolvedNotice[ch.Kind]
	if !ok {
		format = defaultResolvedNotice
	}
	note := ""
	if comment != "" {
		note = "处理结果：" + comment + "。"
	}
	return clipRunes(fmt.Sprintf(format, t.Reference(), t.Title, note), maxMessageRunes)
}

func (h *Hub) notifyCustomerResolved(tx *gorm.DB, ev *pending, p Principal, t *models.Ticket, comment string) error {
	var link models.TicketConversation
	if err := tx.Where("ticket_id = ?", t.ID).Order("created_at DESC").Take(&link).Error; err != nil {
		return nil // a ticket with no conversation has no one to tell
	}
	conv := &models.Conversation{}
	if err := h.lockFor(tx).Where("id = ?", link.ConversationID).Take(conv).Error; err != nil {
		return err
	}
	var ch models.Channel
	if err := tx.Where("id = ?", conv.ChannelID).Take(&ch).Error; err != nil {
		return err
	}
	var customer models.Customer
	_ = tx.Where("id = ?", conv.CustomerID).Select("id", "name").Take(&customer).Error
	text := h.resolvedText(&ch, t, customer.Name, comment)
	// The notice is the system's, not the agent's who resolved the ticket.
	sys := System(p.TenantID)
	m, err := h.addOutbound(tx, ev, sys, conv, text, nil, false)
	if err != nil {
		return err
	}
	ev.add(Event{TenantID: p.TenantID, Message: m})
	ev.add(Event{TenantID: p.TenantID, Conversation: conv})
	return nil
}
