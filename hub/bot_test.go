package hub_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// TestBotCommands walks a staff member through the bot's commands, and
// checks that strangers, viewers and unknown commands change nothing.
func TestBotCommands(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			h, ch := feedHub(t, eng.URL(t), &feed{})
			ctx := hub.WithPrincipal(context.Background(), hub.System(ch.TenantID))
			agent, err := h.CreateUser(ctx, models.CreateUserInput{Name: "小张", Email: "zhang@shop.test", Role: models.RoleAgent, DingtalkUserID: ptr("dt-zhang")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.CreateUser(ctx, models.CreateUserInput{Name: "只读", Email: "ro@shop.test", Role: models.RoleViewer, WecomUserID: ptr("wc-ro")}); err != nil {
				t.Fatal(err)
			}
			res, err := h.Ingest(context.Background(), ch, []connectors.InboundEvent{{ExternalID: "m1", Kind: connectors.KindMessage,
				Sender: connectors.Sender{ExternalID: "buyer-1", DisplayName: "顾客甲"}, Text: "包裹没收到"}})
			if err != nil {
				t.Fatal(err)
			}
			convID := models.EncodeID(models.TypeConversation, res.Messages[0].ConversationID)
			tk, err := h.CreateTicket(ctx, models.CreateTicketInput{Title: "包裹丢失", ConversationID: &convID})
			if err != nil {
				t.Fatal(err)
			}
			say := func(platform hub.BotPlatform, sender, text string) string {
				return h.HandleBotCommand(context.Background(), hub.BotRequest{TenantID: ch.TenantID, Platform: platform, SenderID: sender, Text: text})
			}
			steps := []struct {
				sender, text string
				platform     hub.BotPlatform
				want         string
			}{
				{"dt-zhang", "@kefuhub 帮助", hub.BotDingTalk, "可用命令"},
				{"dt-zhang", "查工单 T-1001", hub.BotDingTalk, "T-1001 包裹丢失"},
				{"dt-zhang", "查工单 T-9999", hub.BotDingTalk, "没有找到这个工单"},
				{"dt-zhang", "查工单", hub.BotDingTalk, "请在命令后写工单号"},
				{"dt-zhang", "我的工单", hub.BotDingTalk, "没有未完成的工单"},
				{"dt-zhang", "接单 T-1001", hub.BotDingTalk, "已接单"},
				{"dt-zhang", "我的工单", hub.BotDingTalk, "T-1001 包裹丢失 [OPEN]"},
				{"dt-zhang", "回复 T-1001 您的包裹已重新发出", hub.BotDingTalk, "已回复顾客"},
				{"wc-ro", "完成 T-1001 好了", hub.BotWeCom, "没有这个权限"},
				{"dt-stranger", "完成 T-1001", hub.BotDingTalk, "还没有绑定"},
				{"dt-zhang", "删库", hub.BotDingTalk, "不认识这个命令"},
				{"dt-zhang", "完成 T-1001 已补发", hub.BotDingTalk, "已完成"},
			}
			for _, s := range steps {
				if got := say(s.platform, s.sender, s.text); !strings.Contains(got, s.want) {
					t.Errorf("%s says %q: got %q, want it to contain %q", s.sender, s.text, got, s.want)
				}
			}
			got, err := h.TicketsByID(ctx, []uint64{tk.ID})
			if err != nil {
				t.Fatal(err)
			}
			final := got[tk.ID]
			if final.Status != models.TicketResolved || final.AssigneeID == nil || *final.AssigneeID != agent.ID {
				t.Errorf("ticket after the bot: %+v", final)
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
				t.Error("the reply through the bot is not in the conversation as the agent's")
			}
		})
	}
}
