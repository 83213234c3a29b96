// Package wechat connects a WeChat Official Account (公众号, WECHAT_OA):
// users write to the account in WeChat, the platform pushes each message
// or event to the account's 服务器配置 URL, and kefuhub replies with the
// customer-service message API within 48 hours of the user's last
// interaction.
//
//	URL check (GET ?signature&timestamp&nonce&echostr) → HandleWebhook: echostr, bare
//	push (POST XML; safe mode: encrypt_type=aes, msg_signature, <Encrypt>)
//	  → HandleWebhook: verify, decrypt, answer "success", hand back InboundEvents
//	dispatcher → Send → POST /cgi-bin/message/custom/send (48 h rule, 45015)
//
// The reply never goes through the passive reply (the XML answer to the
// push): it must come within 5 s, before an agent has read the message.
//
// The wire format and the silenceper/wechat quirks are in
// /work/shared/PLATFORMS.md (the safe mode's crypto is WeCom's, package
// wxcrypto, with the AppID as receiveid); package wechatfake is the
// platform for tests.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/models"
)

// Connector is the WECHAT_OA channel kind. Its channels share one access
// token cache, so the channels the hub builds per call reuse tokens.
func Connector() connectors.Connector {
	tokens := tokencache.New()
	return connectors.Connector{Spec: spec, New: func(cfg connectors.Config) (connectors.Channel, error) {
		return newChannel(cfg, tokens)
	}}
}

var (
	appIDPattern  = regexp.MustCompile(`^wx[0-9A-Za-z]{16}$`)
	secretPattern = regexp.MustCompile(`^[0-9A-Za-z]{32}$`)
	tokenPattern  = regexp.MustCompile(`^[A-Za-z0-9]{3,32}$`)
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
	Kind:  models.ChannelWeChatOA,
	Label: "微信公众号 WeChat Official Account",
	Fields: []connectors.Field{
		{Name: "appId", Label: "开发者ID (AppID)", Required: true,
			Validate: matches(appIDPattern, "the AppID (wx and 16 letters or digits, e.g. wx5d8e2f1a3b4c6d7e)")},
		{Name: "appSecret", Label: "开发者密码 (AppSecret)", Secret: true, Required: true,
			Validate: matches(secretPattern, "the AppSecret (32 letters and digits)")},
		{Name: "token", Label: "服务器配置 Token", Secret: true, Required: true,
			Validate: matches(tokenPattern, "the Token (3 to 32 letters and digits)")},
		{Name: "encodingAESKey", Label: "服务器配置 EncodingAESKey（留空为明文模式 / empty for plain mode）", Secret: true,
			Validate: validAESKey},
	},
	Setup: "在公众号后台「设置与开发」→「基本配置」：复制开发者ID(AppID)和开发者密码(AppSecret)到这里，并把 kefuhub 服务器的出口 IP " +
		"加入「IP白名单」（否则获取 access_token 会报 40164）。然后在「服务器配置」中点「修改配置」：URL 填 {webhookUrl}，" +
		"Token 和 EncodingAESKey 填与这里相同的值（可在后台随机生成后复制过来），消息加解密方式选「安全模式（推荐）」；" +
		"若这里的 EncodingAESKey 留空，则选「明文模式」（明文模式的签名不覆盖消息内容，不推荐）。保存后点「启用」。" +
		"注意：启用服务器配置后，后台设置的自动回复和自定义菜单将停用；若其他系统也用同一 AppSecret 获取 access_token，会使彼此的 token 失效。 / " +
		"In 公众号后台, open 设置与开发 → 基本配置: copy the AppID (开发者ID) and AppSecret (开发者密码) here, and add kefuhub's " +
		"outbound IP to the IP whitelist (IP白名单), or fetching access tokens fails with 40164. Then edit 服务器配置: " +
		"paste {webhookUrl} as the URL, the same Token and EncodingAESKey as in these settings, and choose 安全模式 (safe mode, " +
		"recommended) as 消息加解密方式; leave EncodingAESKey empty here only with 明文模式 (plain mode, whose signature does not " +
		"cover the message). Save, then enable (启用) it. Enabling it turns off the auto-replies and menus set in the console; " +
		"another system fetching access tokens with the same AppSecret invalidates kefuhub's, and the other way round.",
}

type channel struct {
	appID, secret, token, aesKey string

	client *resty.Client
	now    func() time.Time
	tokens *tokencache.Source
}

var (
	_ connectors.Channel         = (*channel)(nil)
	_ connectors.WebhookReceiver = (*channel)(nil)
	_ connectors.RawDecoder      = (*channel)(nil)
)

// New builds a WECHAT_OA channel with a token cache of its own; channels
// built through Connector share one.
func New(cfg connectors.Config) (connectors.Channel, error) {
	return newChannel(cfg, tokencache.New())
}

func newChannel(cfg connectors.Config, tokens *tokencache.Cache) (*channel, error) {
	s := cfg.Settings
	c := &channel{appID: s["appId"], secret: s["appSecret"], token: s["token"], aesKey: s["encodingAESKey"],
		now: cfg.Now}
	if c.appID == "" || c.secret == "" || c.token == "" {
		return nil, errors.New("wechat: appId, appSecret and token are required")
	}
	if c.aesKey != "" {
		if err := checkAESKey(c.aesKey); err != nil {
			return nil, err
		}
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
	c.tokens = &tokencache.Source{Cache: tokens, Store: cfg.Tokens, Key: tokencache.Key("wechat-oa", cfg.ChannelID, base, c.appID, c.secret),
		Now: c.now, Fetch: c.fetchToken, Waited: waited}
	return c, nil
}

// --- pushes -------------------------------------------------------------------

var success = connectors.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}

// HandleWebhook answers the URL check (GET) and pushes (POST). A push is
// answered "success" (the reply goes out later through Send), with the
// message or event it carried; report events carry none.
func (c *channel) HandleWebhook(_ context.Context, req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	query := url.Values(req.Query)
	switch req.Method {
	case http.MethodGet:
		echo, err := VerifyURL(c.token, query)
		if err != nil {
			return nil, err
		}
		return &connectors.WebhookResult{Response: connectors.WebhookResponse{Status: http.StatusOK,
			ContentType: "text/plain; charset=utf-8", Body: []byte(echo)}}, nil
	case http.MethodPost:
		plain, err := openMessage(c.token, c.aesKey, c.appID, query, req.Body)
		if err != nil {
			return nil, err
		}
		events, err := DecodeMessage(plain)
		if err != nil {
			return nil, err
		}
		return &connectors.WebhookResult{Events: events, Response: success}, nil
	default:
		return nil, &connectors.BadRequestError{Reason: "WeChat calls with GET (URL check) or POST (pushes)"}
	}
}

// DecodeRaw decodes a stored push again: Raw is the plaintext XML (already
// decrypted in safe mode).
func (c *channel) DecodeRaw(raw []byte) ([]connectors.InboundEvent, error) {
	return DecodeMessage(raw)
}

// --- customer-service messages ---------------------------------------------

// Reply limits.
const (
	// ReplyWindow: the customer-service API may message a user within 48 h
	// of their last interaction (a message, a subscribe, a menu click, a
	// scan...); later WeChat answers 45015.
	ReplyWindow = 48 * time.Hour
	// MaxContentBytes is kefuhub's cap on a text reply, in UTF-8 bytes.
	// WeChat documents no limit for customer-service text; 2048 bytes is
	// what WeCom documents for the same kind of message, and keeps replies
	// readable on a phone. Longer text is refused, not cut.
	MaxContentBytes = 2048
)

// Send delivers a text reply with the customer-service message API. It
// refuses before calling WeChat when the text is empty or longer than
// MaxContentBytes, when there are attachments, and when the customer has
// not interacted within the reply window (LastInboundAt nil or 48 h old).
//
// WeChat takes no idempotency key for customer-service messages: after a
// lost answer, the dispatcher's retry may deliver the text twice.
func (c *channel) Send(ctx context.Context, msg connectors.OutboundMessage) (connectors.SendResult, error) {
	text := strings.ToValidUTF8(msg.Text, "\uFFFD")
	switch {
	case len(msg.Attachments) > 0:
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "公众号渠道暂不支持发送附件，请只发送文字。 / " +
			"Attachments cannot be sent on WeChat Official Account channels yet; send text only."}
	case strings.TrimSpace(text) == "":
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "消息内容为空。 / The message is empty."}
	case len(text) > MaxContentBytes:
		return connectors.SendResult{}, &connectors.PermanentError{Reason: fmt.Sprintf(
			"消息过长：公众号客服消息单条最多 %d 字节（UTF-8），这条有 %d 字节，请分成几条发送。 / "+
				"The message is too long: kefuhub sends at most %d bytes of UTF-8 text per WeChat customer-service message, "+
				"this one has %d; split it.",
			MaxContentBytes, len(text), MaxContentBytes, len(text))}
	case msg.Recipient == "":
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "没有客户的 openid。 / The customer has no WeChat openid."}
	}
	if err := c.checkWindow(msg.LastInboundAt); err != nil {
		return connectors.SendResult{}, err
	}
	err := c.post(ctx, "custom/send", pathCustomSend, message.NewCustomerTextMessage(msg.Recipient, text))
	var apiErr *APIError
	var re *connectors.RetryableError
	switch {
	case err == nil:
		return connectors.SendResult{}, nil
	case errors.As(err, &re):
		return connectors.SendResult{}, err
	case errors.As(err, &apiErr):
		return connectors.SendResult{}, sendError(err, apiErr)
	}
	return connectors.SendResult{}, err
}

func (c *channel) checkWindow(last *time.Time) error {
	if last == nil {
		return &connectors.PermanentError{Reason: "该用户还没有给公众号发过消息，公众号不能主动发客服消息。 / " +
			"The user has not written to this Official Account, so it cannot send them customer-service messages."}
	}
	if !c.now().Before(last.Add(ReplyWindow)) {
		return windowClosed()
	}
	return nil
}

func windowClosed() error {
	return &connectors.PermanentError{Reason: "距用户最后一次互动已超过 48 小时（或用户已取消关注），公众号不能再发客服消息；请等用户再次发来消息。 / " +
		"More than 48 hours have passed since the user last interacted with the Official Account (or they unfollowed it); " +
		"WeChat only allows customer-service messages within 48 hours. Wait for the user to write again."}
}

// permanentSendCodes are refusals a retry cannot change. Other codes stay
// plain errors, which the dispatcher retries a bounded number of times.
var permanentSendCodes = map[int64]string{
	codeInvalidOpenID:    "无效的 openid（不是这个公众号的用户）/ invalid openid (not a user of this Official Account)",
	codeInvalidMsgType:   "不支持的消息类型 / unsupported message type",
	codeRequireSubscribe: "用户未关注公众号 / the user does not follow the Official Account",
	codeEmptyContent:     "消息内容为空 / empty message",
	codeContentTooLong:   "消息过长 / message too long",
	codeBadJSON:          "请求格式错误 / malformed request",
	codeAPIUnauthorized:  "公众号没有客服消息接口权限（需微信认证）/ the Official Account may not use the customer-service API (it must be verified)",
	codeUserRestricted:   "用户受限 / the user is restricted",
}

func sendError(err error, e *APIError) error {
	if e.Op == "token" {
		if reason := tokenProblem(e); reason != "" {
			return &connectors.PermanentError{Reason: reason}
		}
		return err
	}
	switch e.Code {
	case codeWindowClosed:
		return windowClosed()
	case codeOverLimit:
		return &connectors.PermanentError{Reason: "用户最后一次互动之后可发的客服消息条数已用完；请等用户再次发来消息。 / " +
			"The customer-service messages WeChat allows since the user's last interaction are used up (errcode 45047); " +
			"wait for the user to write again."}
	case codeIPNotWhitelisted:
		return &connectors.PermanentError{Reason: tokenProblem(e)}
	}
	if what, ok := permanentSendCodes[e.Code]; ok {
		return &connectors.PermanentError{Reason: fmt.Sprintf("微信拒绝发送 / WeChat refused the message: %s (errcode %d: %s)",
			what, e.Code, e.Msg)}
	}
	return err
}

var ipInMsg = regexp.MustCompile(`invalid ip ([0-9A-Fa-f.:]+)`)

// tokenProblem explains a credential or whitelist refusal to an admin, or
// returns "" for other errors.
func tokenProblem(e *APIError) string {
	switch e.Code {
	case codeInvalidAppID:
		return fmt.Sprintf("公众号 AppID 无效，请从「设置与开发 → 基本配置」复制开发者ID(AppID)。 / WeChat refused the appId "+
			"(errcode %d: %s): copy the AppID (开发者ID) from 设置与开发 → 基本配置.", e.Code, e.Msg)
	case codeInvalidSecret, codeInvalidCredential:
		return fmt.Sprintf("公众号 AppSecret 错误或已重置，请在「设置与开发 → 基本配置」重置开发者密码(AppSecret)后填到这里。 / "+
			"WeChat refused the appSecret (errcode %d: %s): it is wrong or was reset; reset the AppSecret (开发者密码) "+
			"under 设置与开发 → 基本配置 and paste it here.", e.Code, e.Msg)
	case codeSecretFrozen:
		return fmt.Sprintf("公众号 AppSecret 已被冻结，请在公众号后台解冻。 / The AppSecret is frozen (errcode %d: %s): "+
			"unfreeze it in 公众号后台.", e.Code, e.Msg)
	case codeIPNotWhitelisted:
		ip := "kefuhub 服务器的出口 IP / kefuhub's outbound IP"
		if m := ipInMsg.FindStringSubmatch(e.Msg); m != nil {
			ip = m[1]
		}
		return fmt.Sprintf("IP 不在公众号的 IP 白名单中：请在「设置与开发 → 基本配置 → IP白名单」中加入 %s。 / "+
			"kefuhub's IP is not in the Official Account's IP whitelist (errcode 40164): add %s under "+
			"设置与开发 → 基本配置 → IP白名单. (%s)", ip, ip, e.Msg)
	}
	return ""
}

// --- test -------------------------------------------------------------------

// Test fetches an access token with the channel's appId and appSecret and
// keeps it for the calls that follow.
func (c *channel) Test(ctx context.Context) error {
	tok, ttl, err := c.fetchToken(ctx)
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if reason := tokenProblem(apiErr); reason != "" {
			return errors.New("wechat: " + reason)
		}
		return fmt.Errorf("wechat: access token refused (errcode %d: %s)", apiErr.Code, apiErr.Msg)
	}
	if err != nil {
		return err
	}
	c.tokens.Keep(tok, ttl)
	return nil
}
