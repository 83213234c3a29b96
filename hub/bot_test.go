package hub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// TestBotCommands walks a staff member through the bot's commands, in
// DingTalk and in WeCom, and checks that strangers, viewers and unknown
// commands change nothing.
func TestBotCommands(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			h, ch := feedHub(t, eng.URL(t), &feed{})
			ctx := hub.WithPrincipal(context.Background(), hub.System(ch.TenantID))
			agent, err := h.CreateUser(ctx, models.CreateUserInput{Name: "小张", Email: "zhang@shop.test", Role: models.RoleAgent,
				DingtalkUserID: ptr("dt-zhang"), WecomUserID: ptr("wc-zhang")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.CreateUser(ctx, models.CreateUserInput{Name: "只读", Email: "ro@shop.test", Role: models.RoleViewer,
				DingtalkUserID: ptr("dt-ro"), WecomUserID: ptr("wc-ro")}); err != nil {
				t.Fatal(err)
			}
			for i, pf := range []struct {
				platform                hub.BotPlatform
				agent, viewer, stranger string
			}{
				{hub.BotDingTalk, "dt-zhang", "dt-ro", "dt-stranger"},
				{hub.BotWeCom, "wc-zhang", "wc-ro", "wc-stranger"},
			} {
				buyer := fmt.Sprintf("buyer-%d", i)
				res, err := h.Ingest(context.Background(), ch, []connectors.InboundEvent{{ExternalID: "m-" + buyer, Kind: connectors.KindMessage,
					Sender: connectors.Sender{ExternalID: buyer, DisplayName: "顾客甲"}, Text: "包裹没收到"}})
				if err != nil {
					t.Fatal(err)
				}
				convID := models.EncodeID(models.TypeConversation, res.Messages[0].ConversationID)
				tk, err := h.CreateTicket(ctx, models.CreateTicketInput{Title: "包裹丢失", ConversationID: &convID})
				if err != nil {
					t.Fatal(err)
				}
				ref := tk.Reference()
				say := func(sender, text string) string {
					return h.HandleBotCommand(context.Background(), hub.BotRequest{TenantID: ch.TenantID, Platform: pf.platform, SenderID: sender, Text: text})
				}
				steps := []struct{ sender, text, want string }{
					{pf.agent, "@kefuhub 帮助", "可用命令"},
					{pf.agent, "查工单 " + ref, ref + " 包裹丢失"},
					{pf.agent, "查工单 T-9999", "没有找到这个工单"},
					{pf.agent, "查工单", "请在命令后写工单号"},
					{pf.agent, "我的工单", "没有未完成的工单"},
					{pf.agent, "接单 " + ref, "已接单"},
					{pf.agent, "我的工单", ref + " 包裹丢失 [OPEN]"},
					{pf.agent, "回复 " + ref + " 您的包裹已重新发出", "已回复顾客"},
					{pf.viewer, "完成 " + ref + " 好了", "没有这个权限"},
					{pf.stranger, "完成 " + ref, "还没有绑定"},
					{pf.agent, "删库", "不认识这个命令"},
					{pf.agent, "完成 " + ref + " 已补发", "已完成"},
				}
				for _, s := range steps {
					if got := say(s.sender, s.text); !strings.Contains(got, s.want) {
						t.Errorf("%s: %s says %q: got %q, want it to contain %q", pf.platform, s.sender, s.text, got, s.want)
					}
				}
				got, err := h.TicketsByID(ctx, []uint64{tk.ID})
				if err != nil {
					t.Fatal(err)
				}
				final := got[tk.ID]
				if final.Status != models.TicketResolved || final.AssigneeID == nil || *final.AssigneeID != agent.ID {
					t.Errorf("%s: ticket after the bot: %+v", pf.platform, final)
				}
				page, err := h.ConversationMessages(ctx, hub.System(ch.TenantID), res.Messages[0].ConversationID, hub.PageArgs{}, nil, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				var replied bool
				for _, m := range page.Items {
					replied = replied || (m.Text == "您的包裹已重新发出" && m.SenderUserID != nil && *m.SenderUserID == agent.ID)
				}
				if !replied {
					t.Errorf("%s: the reply through the bot is not in the conversation as the agent's", pf.platform)
				}
			}
		})
	}
}
