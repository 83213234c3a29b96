package hub

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Staff act on work orders by talking to a kefuhub bot in DingTalk or
// WeCom: "查工单 T-1024", "我的工单", "接单 T-1024", "完成 T-1024 已补发",
// "回复 T-1024 您的包裹已重新发出", "帮助". The sender is mapped to a staff
// user by their DingTalk staff id or WeCom userid, and the command runs with
// that user's role in the bot's tenant. Unknown senders and commands get a
// polite answer and nothing happens.

// BotPlatform names where a bot message came from.
type BotPlatform string

const (
	BotDingTalk BotPlatform = "dingtalk"
	BotWeCom    BotPlatform = "wecom"
)

// BotRequest is one message to the bot.
type BotRequest struct {
	TenantID uint64
	Platform BotPlatform
	// SenderID is the DingTalk staff id (senderStaffId) or WeCom userid.
	SenderID string
	Text     string
}

const botHelp = `可用命令：
查工单 T-1024 —— 查看工单
我的工单 —— 列出分配给我的未完成工单
接单 T-1024 —— 把工单分配给我
完成 T-1024 处理说明 —— 标记工单已解决
回复 T-1024 内容 —— 通过顾客来时的渠道回复顾客
帮助 —— 显示本说明`

var (
	botMention = regexp.MustCompile(`^(@\S+\s+)+`)
	botRef     = regexp.MustCompile(`(?i)^T-?(\d{1,12})$`)
)

// HandleBotCommand runs one bot message and returns the answer to post.
func (h *Hub) HandleBotCommand(ctx context.Context, req BotRequest) string {
	u, err := h.botUser(ctx, req)
	if err != nil {
		h.log.Warn("bot: find sender", "err", err)
		return "抱歉，系统暂时无法处理，请稍后再试。"
	}
	if u == nil {
		return "抱歉，您还没有绑定 kefuhub 账号（请管理员在 kefuhub 中为您填写钉钉或企业微信 ID）。"
	}
	p := Principal{TenantID: req.TenantID, UserID: u.ID, Role: u.Role}
	ctx = WithPrincipal(ctx, p)
	text := strings.TrimSpace(botMention.ReplaceAllString(strings.TrimSpace(req.Text), ""))
	cmd, rest, _ := strings.Cut(text, " ")
	rest = strings.TrimSpace(rest)
	ref, arg, _ := strings.Cut(rest, " ")
	arg = strings.TrimSpace(arg)
	var reply string
	switch cmd {
	case "帮助", "help", "?", "？", "":
		return botHelp
	case "我的工单":
		reply, err = h.botMine(ctx, p)
	case "查工单", "接单", "完成", "回复":
		var t *models.Ticket
		if t, err = h.botTicket(ctx, p, ref); err == nil {
			switch cmd {
			case "查工单":
				reply, err = h.botShow(ctx, p, t)
			case "接单":
				reply, err = h.botClaim(ctx, u, t)
			case "完成":
				reply, err = h.botResolve(ctx, t, arg)
			case "回复":
				reply, err = h.botReply(ctx, p, t, arg)
			}
		}
	default:
		return "抱歉，我不认识这个命令。\n" + botHelp
	}
	if err != nil {
		return botError(err)
	}
	return reply
}

func botError(err error) string {
	e, ok := AsError(err)
	if !ok {
		return "抱歉，系统暂时无法处理，请稍后再试。"
	}
	switch e.Code {
	case CodeForbidden:
		return "抱歉，您的账号没有这个权限。"
	case CodeNotFound:
		return "没有找到这个工单，请检查工单号（例如 T-1024）。"
	default:
		return "没有办成：" + e.Message
	}
}

func (h *Hub) botUser(ctx context.Context, req BotRequest) (*models.User, error) {
	if strings.TrimSpace(req.SenderID) == "" {
		return nil, nil
	}
	column := "dingtalk_user_id"
	if req.Platform == BotWeCom {
		column = "wecom_user_id"
	}
	var u models.User
	err := h.conn(ctx).Where("tenant_id = ? AND active = ? AND "+column+" = ?", req.TenantID, true, req.SenderID).Take(&u).Error
	if store.IsNotFound(err) {
		return nil, nil
	}
	return &u, err
}

func (h *Hub) botTicket(ctx context.Context, p Principal, ref string) (*models.Ticket, error) {
	m := botRef.FindStringSubmatch(strings.TrimSpace(ref))
	if m == nil {
		return nil, &Error{Code: CodeBadInput, Message: "请在命令后写工单号，例如：查工单 T-1024"}
	}
	if _, err := require(ctx, canRead); err != nil {
		return nil, err
	}
	return h.findTicket(ctx, p, "T-"+m[1])
}

func (h *Hub) botShow(ctx context.Context, p Principal, t *models.Ticket) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n状态：%s　优先级：%s", t.Reference(), t.Title, t.Status, t.Priority)
	if t.AssigneeID != nil {
		if us, err := h.UsersByID(ctx, []uint64{*t.AssigneeID}); err == nil && us[*t.AssigneeID] != nil {
			fmt.Fprintf(&b, "　处理人：%s", us[*t.AssigneeID].Name)
		}
	} else {
		b.WriteString("　处理人：未分配")
	}
	if t.CustomerID != nil {
		if cs, err := h.CustomersByID(ctx, []uint64{*t.CustomerID}); err == nil && cs[*t.CustomerID] != nil {
			fmt.Fprintf(&b, "\n顾客：%s", cs[*t.CustomerID].Name)
		}
	}
	if t.DueAt != nil {
		fmt.Fprintf(&b, "\n截止：%s", t.DueAt.In(chinaTime).Format("2006-01-02 15:04"))
	}
	if t.Description != "" {
		fmt.Fprintf(&b, "\n%s", clipRunes(t.Description, 300))
	}
	return b.String(), nil
}

func (h *Hub) botMine(ctx context.Context, p Principal) (string, error) {
	page, err := h.Tickets(ctx, PageArgs{First: ptrTo(10)}, &models.TicketFilter{
		AssigneeID: ptrTo(models.EncodeID(models.TypeUser, p.UserID)),
		Status:     []models.TicketStatus{models.TicketNew, models.TicketOpen, models.TicketPending},
	}, nil)
	if err != nil {
		return "", err
	}
	if len(page.Items) == 0 {
		return "您目前没有未完成的工单。", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "您的未完成工单（%d）：", len(page.Items))
	for _, t := range page.Items {
		fmt.Fprintf(&b, "\n%s %s [%s]", t.Reference(), t.Title, t.Status)
	}
	return b.String(), nil
}

func (h *Hub) botClaim(ctx context.Context, u *models.User, t *models.Ticket) (string, error) {
	uid := u.GlobalID()
	t, err := h.UpdateTicket(ctx, models.UpdateTicketInput{ID: t.GlobalID(), AssigneeID: omittableOf(&uid)})
	if err != nil {
		return "", err
	}
	if t.Status == models.TicketNew {
		if t, err = h.TransitionTicket(ctx, models.TransitionTicketInput{ID: t.GlobalID(), Status: models.TicketOpen}); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("已接单：%s %s，处理人是您。", t.Reference(), t.Title), nil
}

func (h *Hub) botResolve(ctx context.Context, t *models.Ticket, note string) (string, error) {
	t, err := h.TransitionTicket(ctx, models.TransitionTicketInput{ID: t.GlobalID(), Status: models.TicketResolved, Comment: &note})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("已完成：%s %s。顾客会收到通知。", t.Reference(), t.Title), nil
}

func (h *Hub) botReply(ctx context.Context, p Principal, t *models.Ticket, text string) (string, error) {
	if text == "" {
		return "", &Error{Code: CodeBadInput, Message: "请在工单号后写回复内容，例如：回复 T-1024 您的包裹已重新发出"}
	}
	var link models.TicketConversation
	if err := h.conn(ctx).Where("ticket_id = ? AND tenant_id = ?", t.ID, p.TenantID).Order("created_at DESC").Take(&link).Error; err != nil {
		return "", &Error{Code: CodeConflict, Message: "这个工单没有关联的会话，无法回复顾客"}
	}
	if _, err := h.SendMessage(ctx, models.SendMessageInput{ConversationID: models.EncodeID(models.TypeConversation, link.ConversationID), Text: text}); err != nil {
		return "", err
	}
	return fmt.Sprintf("已回复顾客（%s）。", t.Reference()), nil
}

func ptrTo[T any](v T) *T { return &v }

// chinaTime shows times as staff in China read them.
var chinaTime = time.FixedZone("CST", 8*60*60)

// AnswerBot runs a bot message that arrived on a bot channel and posts the
// answer, after the platform has been acknowledged. The answer is retried
// a few times; it is not kept beyond that (the staff member can ask again).
func (h *Hub) AnswerBot(ch *models.Channel, msg connectors.BotMessage) {
	platform := BotDingTalk
	if ch.Kind == models.ChannelWeComApp {
		platform = BotWeCom
	}
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		ctx, cancel := context.WithTimeout(h.bgCtx, time.Minute)
		defer cancel()
		reply := h.HandleBotCommand(ctx, BotRequest{TenantID: ch.TenantID, Platform: platform, SenderID: msg.SenderID, Text: msg.Text})
		conn, err := h.openChannel(ch)
		if err != nil {
			h.log.Warn("bot: open channel", "channel", ch.GlobalID(), "err", err)
			return
		}
		replier, ok := conn.(connectors.BotReplier)
		if !ok {
			return
		}
		for attempt := 1; ; attempt++ {
			err := replier.ReplyBot(ctx, msg, reply)
			var retry *connectors.RetryableError
			if err == nil || !errors.As(err, &retry) || attempt == 3 {
				if err != nil {
					h.log.Warn("bot: reply", "channel", ch.GlobalID(), "err", err)
				}
				return
			}
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return
			}
		}
	}()
}
