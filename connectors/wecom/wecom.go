// Package wecom connects a WeCom 微信客服 (kf) account: customers write to
// the account in WeChat, WeCom POSTs an encrypted kf_msg_or_event callback
// that carries no message, and kefuhub fetches the messages with sync_msg
// and replies with send_msg.
//
//	callback (POST, encrypted XML) → HandleWebhook: verify msg_signature,
//	  decrypt, answer "success", hand back SyncHint{Key: OpenKfId, Token}
//	hub → Sync(cursor, hint) → POST /cgi-bin/kf/sync_msg → InboundEvents
//	dispatcher → Send → POST /cgi-bin/kf/send_msg (48 h / 5 messages rule)
//
// The wire format and the silenceper/wechat quirks are in
// /work/shared/PLATFORMS.md; package wecomfake is the platform for tests.
package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/silenceper/wechat/v2/work/kf"
	"github.com/silenceper/wechat/v2/work/kf/sendmsg"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/models"
)

// Connector is the WECOM_KF channel kind. Its channels share one access
// token cache, so the channels the hub builds per call reuse tokens.
func Connector() connectors.Connector {
	tokens := tokencache.New()
	return connectors.Connector{Spec: spec, New: func(cfg connectors.Config) (connectors.Channel, error) {
		return newChannel(cfg, tokens)
	}}
}

var (
	corpIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tokenPattern    = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	openKfIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func matches(re *regexp.Regexp, what string) func(string) error {
	return func(s string) error {
		if !re.MatchString(s) {
			return errors.New("must be " + what)
		}
		return nil
	}
}

var spec = connectors.Spec{
	Kind:  models.ChannelWeComKF,
	Label: "WeCom 微信客服",
	Fields: []connectors.Field{
		{Name: "corpId", Label: "企业ID (CorpID)", Required: true,
			Validate: matches(corpIDPattern, "the CorpID (letters and digits, e.g. ww8f3b2c1d0e9a7654)")},
		{Name: "secret", Label: "微信客服 Secret", Secret: true, Required: true},
		{Name: "token", Label: "回调 Token", Secret: true, Required: true,
			Validate: matches(tokenPattern, "the callback Token (at most 32 letters and digits)")},
		{Name: "encodingAESKey", Label: "回调 EncodingAESKey", Secret: true, Required: true, Validate: validAESKey},
		{Name: "openKfId", Label: "客服账号ID (open_kfid)", Required: true,
			Validate: matches(openKfIDPattern, "the kf account's open_kfid (e.g. wkAbCdEf0123456789)")},
	},
	Setup: "在企业微信管理后台「微信客服」→「API」的回调配置中，URL 填 {webhookUrl}，Token 和 EncodingAESKey " +
		"填与这里相同的值（可在后台随机生成后复制到这里），并把该客服账号授权给 API 接待。 / " +
		"In the WeCom admin console, open 微信客服 → API → callback settings: paste {webhookUrl} as the URL, and " +
		"the same Token and EncodingAESKey as in these settings; then let the API receive the kf account's messages. " +
		"CorpID is under 我的企业, the Secret and open_kfid under 微信客服 → API.",
}

type channel struct {
	corpID, secret, token, aesKey, openKfID string

	client *resty.Client
	now    func() time.Time
	tokens *tokencache.Source
}

var (
	_ connectors.Channel         = (*channel)(nil)
	_ connectors.WebhookReceiver = (*channel)(nil)
	_ connectors.Syncer          = (*channel)(nil)
)

// New builds a WECOM_KF channel with a token cache of its own; channels
// built through Connector share one.
func New(cfg connectors.Config) (connectors.Channel, error) {
	return newChannel(cfg, tokencache.New())
}

func newChannel(cfg connectors.Config, tokens *tokencache.Cache) (*channel, error) {
	s := cfg.Settings
	c := &channel{corpID: s["corpId"], secret: s["secret"], token: s["token"], aesKey: s["encodingAESKey"],
		openKfID: s["openKfId"], now: cfg.Now}
	if c.corpID == "" || c.secret == "" || c.token == "" || c.openKfID == "" {
		return nil, errors.New("wecom: corpId, secret, token, encodingAESKey and openKfId are required")
	}
	if err := checkAESKey(c.aesKey); err != nil {
		return nil, err
	}
	if c.now == nil {
		c.now = time.Now
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	c.client = resty.NewWithClient(hc).SetBaseURL(base)
	c.tokens = &tokencache.Source{Cache: tokens, Store: cfg.Tokens, Key: tokencache.Key(cfg.ChannelID, base, c.corpID, c.secret),
		Now: c.now, Fetch: c.fetchToken, Waited: waited}
	return c, nil
}

// --- callbacks ------------------------------------------------------------

var success = connectors.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}

// HandleWebhook answers the URL check (GET) and callbacks (POST). A
// kf_msg_or_event callback for the channel's account yields a SyncHint and
// no events; other callbacks are acknowledged and ignored.
func (c *channel) HandleWebhook(_ context.Context, req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	query := url.Values(req.Query)
	switch req.Method {
	case http.MethodGet:
		echo, err := VerifyURL(c.token, c.aesKey, c.corpID, query)
		if err != nil {
			return nil, err
		}
		return &connectors.WebhookResult{Response: connectors.WebhookResponse{Status: http.StatusOK,
			ContentType: "text/plain; charset=utf-8", Body: []byte(echo)}}, nil
	case http.MethodPost:
		cb, err := ParseCallback(c.token, c.aesKey, c.corpID, query, req.Body)
		if err != nil {
			return nil, err
		}
		res := &connectors.WebhookResult{Response: success}
		// The callback URL is the corp's, shared by its kf accounts: this
		// channel fetches only its own account's stream.
		if cb.Event == EventKfMsgOrEvent && cb.OpenKfID == c.openKfID {
			res.Sync = &connectors.SyncHint{Key: cb.OpenKfID, Token: cb.Token}
		}
		return res, nil
	default:
		return nil, &connectors.BadRequestError{Reason: "WeCom calls with GET (URL check) or POST (callbacks)"}
	}
}

// --- sync_msg ---------------------------------------------------------------

// syncLimit is sync_msg's page size (its maximum).
const syncLimit = 1000

type syncMsgResponse struct {
	commonError
	NextCursor string            `json:"next_cursor"`
	HasMore    int               `json:"has_more"`
	MsgList    []json.RawMessage `json:"msg_list"`
}

// Sync fetches one page of the account's messages after cursor with
// hint.Token (the callback's; empty when polling).
func (c *channel) Sync(ctx context.Context, cursor string, hint connectors.SyncHint) (*connectors.SyncResult, error) {
	if hint.Key != "" && hint.Key != c.openKfID {
		return nil, fmt.Errorf("wecom: sync: stream %q is not this channel's open_kfid", hint.Key)
	}
	var out syncMsgResponse
	err := c.post(ctx, "sync_msg", pathSyncMsg, kf.SyncMsgOptions{
		Cursor: cursor, Token: hint.Token, Limit: syncLimit, OpenKfID: c.openKfID,
	}, &out)
	if err != nil {
		return nil, err
	}
	res := &connectors.SyncResult{Events: DecodeMessages(out.MsgList), Cursor: out.NextCursor, More: out.HasMore == 1}
	if res.Cursor == "" {
		res.Cursor = cursor // never rewind the stream
	}
	return res, nil
}

// kfMessage is a msg_list entry. For origin 4 (events) open_kfid and
// external_userid are inside event.
type kfMessage struct {
	MsgID          string `json:"msgid"`
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	ServicerUserID string `json:"servicer_userid"`
	SendTime       int64  `json:"send_time"`
	Origin         int    `json:"origin"`
	MsgType        string `json:"msgtype"`
	Text           *struct {
		Content string `json:"content"`
		MenuID  string `json:"menu_id"`
	} `json:"text"`
	Image    *mediaBody `json:"image"`
	Voice    *mediaBody `json:"voice"`
	Video    *mediaBody `json:"video"`
	File     *mediaBody `json:"file"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Link *struct {
		Title string `json:"title"`
		Desc  string `json:"desc"`
		URL   string `json:"url"`
	} `json:"link"`
	Event json.RawMessage `json:"event"`
}

type mediaBody struct {
	MediaID string `json:"media_id"`
}

// Origins of msg_list entries.
const (
	originCustomer = 3
	originEvent    = 4
	originServicer = 5
)

var mediaLabels = map[string]struct{ text, mime string }{
	"image": {"[图片]", "image/*"},
	"voice": {"[语音]", "audio/amr"},
	"video": {"[视频]", "video/*"},
	"file":  {"[文件]", "application/octet-stream"},
}

// DecodeMessages maps a sync_msg msg_list to events: customer messages
// (origin 3) and system events (origin 4) about a customer. Servicers' own
// messages (origin 5), entries without a msgid or a customer, and events
// about no customer (servicer_status_change) are skipped: the cursor moves
// past them and nothing downstream could place them.
func DecodeMessages(list []json.RawMessage) []connectors.InboundEvent {
	var out []connectors.InboundEvent
	for _, raw := range list {
		var m kfMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			// A malformed entry still counts as received, so the stream
			// does not stall on it.
			var id struct {
				MsgID          string `json:"msgid"`
				ExternalUserID string `json:"external_userid"`
				Origin         int    `json:"origin"`
			}
			_ = json.Unmarshal(raw, &id)
			if id.MsgID != "" && id.ExternalUserID != "" && id.Origin == originCustomer {
				out = append(out, connectors.InboundEvent{ExternalID: id.MsgID, Kind: connectors.KindMessage,
					Sender: connectors.Sender{ExternalID: id.ExternalUserID}, Text: "[无法解析的消息]",
					ContentType: "text/plain", Raw: raw})
			}
			continue
		}
		if ev, ok := m.event(raw); ok {
			out = append(out, ev)
		}
	}
	return out
}

func (m *kfMessage) event(raw []byte) (connectors.InboundEvent, bool) {
	ev := connectors.InboundEvent{ExternalID: m.MsgID, Sender: connectors.Sender{ExternalID: m.ExternalUserID},
		ContentType: "text/plain", Raw: raw}
	if m.SendTime > 0 {
		ev.SentAt = time.Unix(m.SendTime, 0).UTC()
	}
	switch m.Origin {
	case originCustomer:
		ev.Kind = connectors.KindMessage
		m.content(&ev)
	case originEvent:
		var e struct {
			EventType      string `json:"event_type"`
			ExternalUserID string `json:"external_userid"`
		}
		var ctx map[string]any
		if json.Unmarshal(m.Event, &e) != nil || json.Unmarshal(m.Event, &ctx) != nil || e.EventType == "" {
			return ev, false
		}
		if ev.Sender.ExternalID == "" {
			ev.Sender.ExternalID = e.ExternalUserID
		}
		delete(ctx, "event_type")
		ev.Kind, ev.EventType, ev.Context = connectors.KindEvent, e.EventType, ctx
	default: // originServicer and unknown origins
		return ev, false
	}
	return ev, ev.ExternalID != "" && ev.Sender.ExternalID != ""
}

func (m *kfMessage) content(ev *connectors.InboundEvent) {
	var media *mediaBody
	switch m.MsgType {
	case "text":
		if m.Text != nil {
			ev.Text = m.Text.Content
			if m.Text.MenuID != "" {
				ev.Context = map[string]any{"menuId": m.Text.MenuID}
			}
		}
		return
	case "image":
		media = m.Image
	case "voice":
		media = m.Voice
	case "video":
		media = m.Video
	case "file":
		media = m.File
	case "location":
		if l := m.Location; l != nil {
			ev.Text = strings.TrimSpace("[位置] " + l.Name + " " + l.Address)
			ev.Context = map[string]any{"latitude": l.Latitude, "longitude": l.Longitude, "name": l.Name, "address": l.Address}
			return
		}
	case "link":
		if l := m.Link; l != nil {
			ev.Text = strings.TrimSpace("[链接] " + l.Title + " " + l.URL)
			return
		}
	}
	if label, ok := mediaLabels[m.MsgType]; ok {
		ev.Text = label.text
		if media != nil && media.MediaID != "" {
			ev.Attachments = []models.Attachment{{Name: m.MsgType, MimeType: label.mime, MediaID: media.MediaID}}
		}
		return
	}
	// Mini programs, business cards, menus, channels...: the agent sees
	// the type; Raw keeps the rest.
	ev.Text = "[" + m.MsgType + "]"
}

// --- send_msg ---------------------------------------------------------------

// Reply limits of 微信客服.
const (
	ReplyWindow     = 48 * time.Hour
	MaxContentBytes = 2048
)

// MsgID derives send_msg's msgid from a delivery id: "kh" and 30 hex
// digits of its SHA-256 (32 characters of [0-9a-zA-Z_-]). It is the same
// on every retry of the delivery, so WeCom refuses a second send.
func MsgID(deliveryID string) string {
	sum := sha256.Sum256([]byte("kefuhub/wecom-kf\x00" + deliveryID))
	return "kh" + hex.EncodeToString(sum[:])[:30]
}

// Send delivers a text reply. Text longer than 2048 bytes is refused
// (PermanentError) rather than cut: the agent sees the message failed and
// can split it, instead of the customer getting half a sentence. Outside
// the reply window (48 h after the customer's last message) it refuses
// before calling WeCom; the 5-replies limit is only known to WeCom, which
// answers 95001.
//
// A retry after a lost answer sends the same msgid; WeCom refuses the
// duplicate (the fake with 95033, see codeDuplicateMsgID), and Send reports
// the message as sent.
func (c *channel) Send(ctx context.Context, msg connectors.OutboundMessage) (connectors.SendResult, error) {
	text := strings.ToValidUTF8(msg.Text, "\uFFFD")
	switch {
	case len(msg.Attachments) > 0:
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "微信客服渠道暂不支持发送附件，请只发送文字。 / " +
			"Attachments cannot be sent on WeCom 微信客服 channels yet; send text only."}
	case strings.TrimSpace(text) == "":
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "消息内容为空。 / The message is empty."}
	case len(text) > MaxContentBytes:
		return connectors.SendResult{}, &connectors.PermanentError{Reason: fmt.Sprintf(
			"消息过长：微信客服单条文字最多 %d 字节（UTF-8），这条有 %d 字节，请分成几条发送。 / "+
				"The message is too long: WeCom 微信客服 accepts at most %d bytes of UTF-8 text per message, this one has %d; split it.",
			MaxContentBytes, len(text), MaxContentBytes, len(text))}
	case msg.Recipient == "":
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "没有客户的 external_userid。 / The customer has no WeCom external_userid."}
	}
	if err := c.checkWindow(msg.LastInboundAt); err != nil {
		return connectors.SendResult{}, err
	}
	body := sendmsg.Text{Message: sendmsg.Message{ToUser: msg.Recipient, OpenKFID: c.openKfID}, MsgType: "text"}
	if msg.DeliveryID != "" {
		body.MsgID = MsgID(msg.DeliveryID)
	}
	body.Text.Content = text
	var out kf.SendMsgSchema
	err := c.post(ctx, "send_msg", pathSendMsg, body, &out)
	var apiErr *APIError
	switch {
	case err == nil:
		if out.MsgID == "" {
			out.MsgID = body.MsgID
		}
		return connectors.SendResult{ExternalID: out.MsgID}, nil
	case errors.As(err, &apiErr) && apiErr.Code == codeDuplicateMsgID && body.MsgID != "":
		return connectors.SendResult{ExternalID: body.MsgID}, nil
	case errors.As(err, &apiErr):
		return connectors.SendResult{}, sendError(err, apiErr)
	}
	return connectors.SendResult{}, err
}

func (c *channel) checkWindow(last *time.Time) error {
	if last == nil {
		return &connectors.PermanentError{Reason: "该客户还没有通过微信客服发来消息，无法主动发送。 / " +
			"The customer has not written to this WeCom 微信客服 account, so it cannot message them."}
	}
	if !c.now().Before(last.Add(ReplyWindow)) {
		return windowClosed()
	}
	return nil
}

func windowClosed() error {
	return &connectors.PermanentError{Reason: "距客户最后一条消息已超过 48 小时，微信客服不再允许回复；请等客户再次发来消息。 / " +
		"More than 48 hours have passed since the customer's last message; WeCom 微信客服 only allows replies within 48 hours of it. " +
		"Wait for the customer to write again."}
}

// permanentSendCodes are refusals a retry cannot change: bad settings or
// recipient. Other codes stay plain errors, which the dispatcher retries a
// bounded number of times (safe: the msgid makes a retry idempotent).
var permanentSendCodes = map[int64]string{
	codeInvalidSecret: "企业微信拒绝了 Secret / WeCom refused the channel's secret",
	codeInvalidCorpID: "企业微信拒绝了 CorpID / WeCom refused the channel's corpId",
	40003:             "无效的客户 / invalid customer (touser)",
	40008:             "不支持的消息类型 / unsupported message type",
	40058:             "参数不合法 / invalid parameter",
	40096:             "无效的客户 external_userid / invalid external_userid",
	44004:             "消息内容为空 / empty message",
	45002:             "消息过长 / message too long",
	48002:             "API 被禁止调用 / API forbidden for this app",
	95000:             "无效的 open_kfid / invalid open_kfid",
	95004:             "open_kfid 不存在 / open_kfid does not exist",
	95017:             "微信客服 API 未开启 / the 微信客服 API is not enabled",
}

func sendError(err error, e *APIError) error {
	switch e.Code {
	case codeOverLimit:
		return &connectors.PermanentError{Reason: "客户最后一条消息之后最多只能回复 5 条，已达上限；请等客户再次发来消息。 / " +
			"WeCom 微信客服 allows at most 5 replies after the customer's last message and they are used up; " +
			"wait for the customer to write again."}
	case codeWindowClosed:
		return windowClosed()
	case codeSessionEnded, codeSessionState:
		return &connectors.PermanentError{Reason: "微信客服会话已结束或当前状态不允许发送（错误码 " + strconv.FormatInt(e.Code, 10) + "）。 / " +
			"The WeCom 微信客服 session has ended or its state does not allow sending (errcode " + strconv.FormatInt(e.Code, 10) + ")."}
	}
	if what, ok := permanentSendCodes[e.Code]; ok {
		return &connectors.PermanentError{Reason: fmt.Sprintf("企业微信拒绝发送 / WeCom refused the message: %s (errcode %d: %s)",
			what, e.Code, e.Msg)}
	}
	return err
}

// --- test -------------------------------------------------------------------

// Test fetches an access token with the channel's corpId and secret.
func (c *channel) Test(ctx context.Context) error {
	tok, ttl, err := c.fetchToken(ctx)
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case codeInvalidSecret:
			return fmt.Errorf("wecom: the secret was refused (errcode %d: %s): copy it from 微信客服 → API", apiErr.Code, apiErr.Msg)
		case codeInvalidCorpID:
			return fmt.Errorf("wecom: the corpId was refused (errcode %d: %s): copy it from 我的企业", apiErr.Code, apiErr.Msg)
		}
		return fmt.Errorf("wecom: gettoken refused (errcode %d: %s)", apiErr.Code, apiErr.Msg)
	}
	if err != nil {
		return err
	}
	c.tokens.Keep(tok, ttl)
	return nil
}
