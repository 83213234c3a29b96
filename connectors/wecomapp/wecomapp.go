// Package wecomapp is kefuhub's WeCom app (channel kind WECOM_APP): staff
// message it like a bot ("查工单 T-1024"), and WeCom reports on it the
// approvals kefuhub filed (sys_approval_change). Callbacks are encrypted
// and signed like every WeCom callback (wxcrypto); answers go back as app
// text messages.
package wecomapp

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/connectors/wecomwork"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
	"github.com/kefuhub/kefuhub/models"
)

// DefaultBaseURL is WeCom's API host.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// Connector is the WECOM_APP channel kind.
func Connector() connectors.Connector {
	tokens := tokencache.New()
	return connectors.Connector{Spec: spec, New: func(cfg connectors.Config) (connectors.Channel, error) { return newChannel(cfg, tokens) }}
}

var spec = connectors.Spec{
	Kind:  models.ChannelWeComApp,
	Label: "kefuhub app in WeCom",
	Fields: []connectors.Field{
		{Name: "corpId", Label: "CorpID", Required: true},
		{Name: "secret", Label: "The app's Secret", Secret: true, Required: true},
		{Name: "agentId", Label: "The app's AgentId", Required: true, Validate: func(s string) error {
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return errors.New("must be the app's numeric AgentId")
			}
			return nil
		}},
		{Name: "token", Label: "The callback Token", Secret: true, Required: true},
		{Name: "encodingAESKey", Label: "The callback EncodingAESKey", Secret: true, Required: true, Validate: func(s string) error {
			if _, err := wxcrypto.ParseAESKey(s); err != nil {
				return errors.New("must be the 43-character EncodingAESKey")
			}
			return nil
		}},
	},
	Setup: "In the WeCom admin console, open the app → 接收消息 → 设置API接收: URL {webhookUrl}, and the Token and " +
		"EncodingAESKey above. Staff whose WeCom userid is set on their kefuhub user can message the app: 查工单 T-1024, " +
		"我的工单, 接单, 完成, 回复, 帮助. Approvals kefuhub files through this corp are reported here too.",
}

type channel struct {
	corpID, agentID, token, aesKey string
	base                           string
	client                         *resty.Client
	tokens                         *tokencache.Source
}

var (
	_ connectors.Channel         = (*channel)(nil)
	_ connectors.WebhookReceiver = (*channel)(nil)
	_ connectors.BotReplier      = (*channel)(nil)
)

func newChannel(cfg connectors.Config, cache *tokencache.Cache) (connectors.Channel, error) {
	s := cfg.Settings
	c := &channel{corpID: s["corpId"], agentID: s["agentId"], token: s["token"], aesKey: s["encodingAESKey"], base: cfg.BaseURL}
	if c.corpID == "" || s["secret"] == "" || c.token == "" || c.aesKey == "" {
		return nil, errors.New("wecomapp: corpId, secret, token and encodingAESKey are required")
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	c.base = strings.TrimRight(c.base, "/")
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	c.client = resty.NewWithClient(hc)
	secret := s["secret"]
	c.tokens = &tokencache.Source{Cache: cache, Store: cfg.Tokens, Key: tokencache.Key(c.base, c.corpID, secret), Now: now,
		Fetch: func(ctx context.Context) (string, time.Duration, error) {
			var out struct {
				ErrCode     int    `json:"errcode"`
				ErrMsg      string `json:"errmsg"`
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			resp, err := c.client.R().SetContext(ctx).SetQueryParams(map[string]string{"corpid": c.corpID, "corpsecret": secret}).
				Get(c.base + "/cgi-bin/gettoken")
			if err != nil {
				return "", 0, &connectors.RetryableError{Err: errors.New("wecomapp: gettoken: WeCom unreachable")}
			}
			_ = json.Unmarshal(resp.Body(), &out)
			if out.ErrCode != 0 || out.AccessToken == "" {
				return "", 0, &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refused the corpId/secret: %d %s", out.ErrCode, out.ErrMsg)}
			}
			return out.AccessToken, tokencache.Lifetime(time.Duration(out.ExpiresIn) * time.Second), nil
		}}
	return c, nil
}

// envelope is the encrypted callback body.
type envelope struct {
	Encrypt string `xml:"Encrypt"`
}

// message is a decrypted app callback (the fields kefuhub reads).
type message struct {
	FromUserName string `xml:"FromUserName"`
	MsgType      string `xml:"MsgType"`
	Content      string `xml:"Content"`
	Event        string `xml:"Event"`
}

// HandleWebhook answers WeCom's URL check, and decodes staff messages and
// approval changes from encrypted callbacks.
func (c *channel) HandleWebhook(_ context.Context, req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	q := req.Query
	switch req.Method {
	case http.MethodGet:
		echo := first(q["echostr"])
		if err := wxcrypto.VerifyQuery(q, "msg_signature", c.token, echo); err != nil {
			return nil, &connectors.VerifyError{Reason: err.Error()}
		}
		plain, err := c.decrypt(echo)
		if err != nil {
			return nil, err
		}
		return &connectors.WebhookResult{Response: connectors.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain", Body: plain}}, nil
	case http.MethodPost:
	default:
		return nil, &connectors.BadRequestError{Reason: "WeCom calls with GET or POST"}
	}
	var env envelope
	if err := xml.Unmarshal(req.Body, &env); err != nil || env.Encrypt == "" {
		return nil, &connectors.BadRequestError{Reason: "body is not an encrypted WeCom callback"}
	}
	if err := wxcrypto.VerifyQuery(q, "msg_signature", c.token, env.Encrypt); err != nil {
		return nil, &connectors.VerifyError{Reason: err.Error()}
	}
	plain, err := c.decrypt(env.Encrypt)
	if err != nil {
		return nil, err
	}
	res := &connectors.WebhookResult{Response: connectors.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain", Body: []byte("success")}}
	var m message
	if err := xml.Unmarshal(plain, &m); err != nil {
		return nil, &connectors.BadRequestError{Reason: "the decrypted callback is not XML"}
	}
	switch {
	case m.MsgType == "text" && m.FromUserName != "":
		res.Bot = &connectors.BotMessage{SenderID: m.FromUserName, Text: strings.TrimSpace(m.Content), ReplyTo: m.FromUserName}
	case m.MsgType == "event" && m.Event == "sys_approval_change":
		ch, err := wecomwork.ParseApprovalChange(plain)
		if err != nil {
			return nil, err
		}
		res.Approval = &connectors.ApprovalOutcome{ExternalID: ch.SpNo, Approved: ch.Status == wecomwork.ApprovalApproved,
			Rejected: ch.Status == wecomwork.ApprovalRejected, Comment: ch.Comment}
	}
	return res, nil
}

func (c *channel) decrypt(encrypted string) ([]byte, error) {
	plain, receiveID, err := wxcrypto.Decrypt(c.aesKey, encrypted)
	if err != nil {
		return nil, &connectors.VerifyError{Reason: "cannot decrypt: " + err.Error()}
	}
	if receiveID != c.corpID {
		return nil, &connectors.VerifyError{Reason: "the callback is for another corp"}
	}
	return plain, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// ReplyBot sends the answer as an app text message to the staff member.
func (c *channel) ReplyBot(ctx context.Context, to connectors.BotMessage, text string) error {
	agent, _ := strconv.ParseInt(c.agentID, 10, 64)
	return c.tokens.Do(ctx, func(token string) (bool, error) {
		var out struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		resp, err := c.client.R().SetContext(ctx).SetQueryParam("access_token", token).SetHeader("Content-Type", "application/json").
			SetBody(map[string]any{"touser": to.ReplyTo, "msgtype": "text", "agentid": agent, "text": map[string]string{"content": text}}).
			Post(c.base + "/cgi-bin/message/send")
		if err != nil {
			return false, &connectors.RetryableError{Err: errors.New("wecomapp: message/send: WeCom unreachable")}
		}
		_ = json.Unmarshal(resp.Body(), &out)
		switch out.ErrCode {
		case 0:
			return false, nil
		case 40014, 42001:
			return true, &connectors.RetryableError{Err: fmt.Errorf("wecomapp: token refused: %d", out.ErrCode)}
		case 45009, -1:
			return false, &connectors.RetryableError{After: time.Second, Err: fmt.Errorf("wecomapp: %d %s", out.ErrCode, out.ErrMsg)}
		}
		return false, &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refused the reply: %d %s", out.ErrCode, out.ErrMsg)}
	})
}

// Send is not for the app channel: customers do not write through it.
func (c *channel) Send(context.Context, connectors.OutboundMessage) (connectors.SendResult, error) {
	return connectors.SendResult{}, &connectors.PermanentError{Reason: "a WeCom app channel carries no customer conversations"}
}

// Test fetches a token.
func (c *channel) Test(ctx context.Context) error {
	_, err := c.tokens.Token(ctx)
	return err
}
