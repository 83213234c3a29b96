package hub

import (
	"fmt"

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
	format, ok := resolvedNotice[ch.Kind]
	if !ok {
		format = defaultResolvedNotice
	}
	note := ""
	if comment != "" {
		note = "处理结果：" + comment + "。"
	}
	text := clipRunes(fmt.Sprintf(format, t.Reference(), t.Title, note), maxMessageRunes)
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
