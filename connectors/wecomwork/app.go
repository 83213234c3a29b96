package wecomwork

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// textcard limits (message/send): title 128 bytes, description 512 bytes,
// button text 4 characters.
const (
	maxCardTitle       = 128
	maxCardDescription = 512
	cardButton         = "查看"
	// duplicateInterval is duplicate_check_interval, in seconds: WeCom's
	// default; it allows up to 4 hours.
	duplicateInterval = 1800
)

// AppMessageConnector is the WECOM_APP_MESSAGE target kind. Its targets
// share one access-token cache.
func AppMessageConnector() connectors.TargetConnector {
	tokens := newTokenCache()
	return connectors.TargetConnector{Spec: appSpec, New: func(cfg connectors.Config) (connectors.Target, error) {
		return newAppTarget(cfg, tokens)
	}}
}

var appSpec = connectors.TargetSpec{
	Kind:  models.TargetWeComAppMessage,
	Label: "WeCom app message (企业微信应用消息)",
	Fields: []connectors.Field{
		{Name: "corpId", Label: "企业ID (CorpID)", Required: true, Validate: validCorpID},
		{Name: "secret", Label: "应用 Secret", Secret: true, Required: true},
		{Name: "agentId", Label: "应用 AgentId", Required: true, Validate: validAgentID},
		{Name: "toUser", Label: `接收成员 UserID, "ZhangSan|LiSi" or "@all"`, Required: true, Validate: validToUser},
		{Name: "detailUrl", Label: "The card's link, {ref} replaced by the ticket reference (default https://kefuhub.invalid/tickets/{ref}: set it to kefuhub's ticket page)",
			Validate: validDetailURL},
	},
	Setup: "在企业微信管理后台「应用管理」创建自建应用，把接收工单的成员加入其可见范围，并在「企业可信IP」中加入 kefuhub 的出口 IP；" +
		"CorpID 在「我的企业」，AgentId 与 Secret 在应用详情页。 / In the WeCom admin console create a self-built app " +
		"(应用管理), add the members who receive work orders to its visible range, and add kefuhub's outbound IP to its " +
		"trusted IPs (企业可信IP). The CorpID is under 我的企业, the AgentId and Secret on the app's page.",
}

type appTarget struct {
	api       *api
	agentID   int64
	toUser    string
	users     []string
	detailURL string
}

// NewAppMessage builds a WECOM_APP_MESSAGE target with a token cache of its
// own; targets built through AppMessageConnector share one.
func NewAppMessage(cfg connectors.Config) (connectors.Target, error) {
	return newAppTarget(cfg, newTokenCache())
}

func newAppTarget(cfg connectors.Config, tokens *tokenCache) (*appTarget, error) {
	s := cfg.Settings
	if s["corpId"] == "" || s["secret"] == "" || s["agentId"] == "" || s["toUser"] == "" {
		return nil, errors.New("wecomwork: corpId, secret, agentId and toUser are required")
	}
	agentID, err := strconv.ParseInt(s["agentId"], 10, 64)
	if err != nil || agentID <= 0 {
		return nil, errors.New("wecomwork: agentId must be the app's AgentId (digits)")
	}
	users, err := parseToUser(s["toUser"])
	if err != nil {
		return nil, fmt.Errorf("wecomwork: toUser %w", err)
	}
	if s["detailUrl"] != "" {
		if err := validDetailURL(s["detailUrl"]); err != nil {
			return nil, fmt.Errorf("wecomwork: detailUrl %w", err)
		}
	}
	return &appTarget{api: newAPI(cfg, s["corpId"], s["secret"], tokens), agentID: agentID,
		toUser: strings.Join(users, "|"), users: users, detailURL: s["detailUrl"]}, nil
}

// textCard is message/send's textcard.
type textCard struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	BtnTxt      string `json:"btntxt"`
}

type appMessage struct {
	ToUser                 string   `json:"touser"`
	MsgType                string   `json:"msgtype"`
	AgentID                int64    `json:"agentid"`
	TextCard               textCard `json:"textcard"`
	EnableDuplicateCheck   int      `json:"enable_duplicate_check"`
	DuplicateCheckInterval int      `json:"duplicate_check_interval"`
}

type sendAnswer struct {
	commonError
	InvalidUser  string `json:"invaliduser"`
	InvalidParty string `json:"invalidparty"`
	InvalidTag   string `json:"invalidtag"`
	MsgID        string `json:"msgid"`
}

// card renders the work order: only from the work order, so that a retry
// sends the same content (see the package comment on duplicate checks).
func (t *appTarget) card(wo connectors.WorkOrder) textCard {
	title := orDefault(wo.Title, strings.TrimSpace("工单 "+wo.TicketRef))
	return textCard{
		Title:       clipBytes(title, maxCardTitle),
		Description: clipBytes(orDefault(wo.Text, title), maxCardDescription),
		URL:         detailURL(t.detailURL, wo.TicketRef),
		BtnTxt:      cardButton,
	}
}

// Deliver sends the work order as a textcard app message; ExternalID is
// the msgid.
func (t *appTarget) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	msg := appMessage{ToUser: t.toUser, MsgType: "textcard", AgentID: t.agentID, TextCard: t.card(wo),
		EnableDuplicateCheck: 1, DuplicateCheckInterval: duplicateInterval}
	var out sendAnswer
	err := t.api.post(ctx, "message/send", pathSendMsg, msg, &out)
	if err != nil {
		if out.ErrCode == codeAllInvalid {
			return connectors.DeliverResult{}, t.nobody(out)
		}
		return connectors.DeliverResult{}, err
	}
	// Members WeCom does not know (or who left) come back in invaliduser;
	// the message reached the others. Only when it reached nobody is that
	// an error: retrying cannot help.
	if invalid := splitIDs(out.InvalidUser); len(invalid) > 0 && t.toUser != "@all" && coversAll(invalid, t.users) {
		return connectors.DeliverResult{}, t.nobody(out)
	}
	return connectors.DeliverResult{ExternalID: out.MsgID}, nil
}

func (t *appTarget) nobody(out sendAnswer) error {
	users := out.InvalidUser
	if users == "" {
		users = t.toUser
	}
	return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom delivered the work order to nobody: unknown or "+
		"inaccessible members %s (errcode %d: %s); check toUser, and that these members are in the app's visible range",
		strings.ReplaceAll(users, "|", ", "), out.ErrCode, out.ErrMsg)}
}

func splitIDs(s string) []string {
	var out []string
	for _, id := range strings.Split(s, "|") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// coversAll reports whether every user in users is in invalid. UserIDs
// are case-insensitive in WeCom: compare without case.
func coversAll(invalid, users []string) bool {
	bad := map[string]bool{}
	for _, u := range invalid {
		bad[strings.ToLower(u)] = true
	}
	for _, u := range users {
		if !bad[strings.ToLower(u)] {
			return false
		}
	}
	return true
}

// Test fetches a fresh access token: corpId, secret and the IP allow-list.
func (t *appTarget) Test(ctx context.Context) error { return t.api.testToken(ctx) }
