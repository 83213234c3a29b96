// Package dingtalkbot is kefuhub's bot in DingTalk (channel kind
// DINGTALK_BOT): staff @mention it in a group or chat with it, DingTalk
// POSTs each message (HTTP mode) with a timestamp and a signature, and the
// answer goes back through the message's sessionWebhook.
package dingtalkbot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
	"github.com/kefuhub/kefuhub/models"
)

// DefaultBase is DingTalk's host for robot replies and tokens.
const DefaultBase = "https://oapi.dingtalk.com"

// Connector is the DINGTALK_BOT channel kind.
func Connector() connectors.Connector {
	return connectors.Connector{Spec: spec, New: New}
}

var spec = connectors.Spec{
	Kind:  models.ChannelDingTalkBot,
	Label: "kefuhub bot in DingTalk",
	Fields: []connectors.Field{
		{Name: "appKey", Label: "The robot app's AppKey", Required: true},
		{Name: "appSecret", Label: "The robot app's AppSecret (signs the messages)", Secret: true, Required: true},
		// Event subscription (HTTP push): approval results arrive here too.
		{Name: "eventToken", Label: "Event subscription token (for approval results)", Secret: true},
		{Name: "eventAESKey", Label: "Event subscription aes_key (43 characters)", Secret: true, Validate: func(s string) error {
			if _, err := wxcrypto.ParseAESKey(s); err != nil {
				return errors.New("must be the 43-character aes_key")
			}
			return nil
		}},
	},
	Setup: "In the DingTalk developer console, create an internal app with a robot, choose HTTP mode and set the " +
		"message receiving address to {webhookUrl}. Staff whose DingTalk staff id is set on their kefuhub user can then " +
		"talk to it: 查工单 T-1024, 我的工单, 接单, 完成, 回复, 帮助.",
}

type channel struct {
	appKey, appSecret       string
	eventToken, eventAESKey string
	base                    *url.URL
	client                  *resty.Client
	now                     func() time.Time
}

var (
	_ connectors.Channel         = (*channel)(nil)
	_ connectors.WebhookReceiver = (*channel)(nil)
	_ connectors.BotReplier      = (*channel)(nil)
)

// New builds the bot channel.
func New(cfg connectors.Config) (connectors.Channel, error) {
	c := &channel{appKey: cfg.Settings["appKey"], appSecret: cfg.Settings["appSecret"], now: cfg.Now,
		eventToken: cfg.Settings["eventToken"], eventAESKey: cfg.Settings["eventAESKey"]}
	if c.appKey == "" || c.appSecret == "" {
		return nil, errors.New("dingtalkbot: appKey and appSecret are required")
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBase
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("dingtalkbot: bad base URL %q", raw)
	}
	c.base = u
	if c.now == nil {
		c.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	c.client = resty.NewWithClient(hc)
	return c, nil
}

// Sign is DingTalk's robot signature: base64(HMAC-SHA256(secret,
// timestamp + "\n" + secret)).
func Sign(secret, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// message is the robot callback body (the fields kefuhub uses).
type message struct {
	MsgType string `json:"msgtype"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
	MsgID                     string `json:"msgId"`
	SenderStaffID             string `json:"senderStaffId"`
	SenderNick                string `json:"senderNick"`
	SessionWebhook            string `json:"sessionWebhook"`
	SessionWebhookExpiredTime int64  `json:"sessionWebhookExpiredTime"`
}

// HandleWebhook verifies the timestamp and signature (within an hour, in
// constant time) and decodes the staff member's message.
func (c *channel) HandleWebhook(_ context.Context, req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	if req.Method != http.MethodPost {
		return nil, &connectors.BadRequestError{Reason: "robot messages are POSTed"}
	}
	if req.Header.Get("sign") == "" && c.eventToken != "" && bytes.Contains(req.Body, []byte(`"encrypt"`)) {
		return c.handleEvent(req)
	}
	if err := Verify(c.appSecret, req.Header.Get("timestamp"), req.Header.Get("sign"), c.now()); err != nil {
		return nil, &connectors.VerifyError{Reason: err.Error()}
	}
	msg, err := Decode(req.Body)
	if err != nil {
		return nil, err
	}
	ok := connectors.WebhookResponse{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{}`)}
	if msg == nil {
		return &connectors.WebhookResult{Response: ok}, nil
	}
	return &connectors.WebhookResult{Response: ok, Bot: msg}, nil
}

// Verify checks a robot message's timestamp (ms, within an hour) and sign.
func Verify(secret, timestamp, sign string, now time.Time) error {
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || sign == "" {
		return errors.New("missing or malformed timestamp/sign headers")
	}
	if d := now.Sub(time.UnixMilli(ms)); d > time.Hour || d < -time.Hour {
		return errors.New("timestamp is more than an hour off")
	}
	if !hmac.Equal([]byte(sign), []byte(Sign(secret, timestamp))) {
		return errors.New("sign does not match")
	}
	return nil
}

// Decode parses a robot message; non-text messages give nil (the bot only
// reads text).
func Decode(body []byte) (*connectors.BotMessage, error) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &connectors.BadRequestError{Reason: "body is not a DingTalk robot message"}
	}
	if m.MsgType != "text" {
		return nil, nil
	}
	if m.SessionWebhook == "" {
		return nil, &connectors.BadRequestError{Reason: "the message has no sessionWebhook to answer on"}
	}
	return &connectors.BotMessage{SenderID: m.SenderStaffID, SenderName: m.SenderNick,
		Text: strings.TrimSpace(m.Text.Content), ReplyTo: m.SessionWebhook}, nil
}

// ReplyBot posts the answer to the message's sessionWebhook. Only
// DingTalk's own host is accepted, so a forged address cannot make
// kefuhub post elsewhere.
func (c *channel) ReplyBot(ctx context.Context, to connectors.BotMessage, text string) error {
	u, err := url.Parse(to.ReplyTo)
	if err != nil || u.Host != c.base.Host || u.Scheme != c.base.Scheme {
		return &connectors.PermanentError{Reason: "sessionWebhook is not on DingTalk's host"}
	}
	var out struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	resp, err := c.client.R().SetContext(ctx).SetHeader("Content-Type", "application/json").
		SetBody(map[string]any{"msgtype": "text", "text": map[string]string{"content": text}}).Post(u.String())
	if err != nil {
		return &connectors.RetryableError{Err: fmt.Errorf("dingtalkbot: reply: %w", err)}
	}
	if resp.StatusCode() >= 500 {
		return &connectors.RetryableError{Err: fmt.Errorf("dingtalkbot: reply: HTTP %d", resp.StatusCode())}
	}
	_ = json.Unmarshal(resp.Body(), &out)
	if out.ErrCode != 0 {
		return &connectors.PermanentError{Reason: fmt.Sprintf("DingTalk refused the reply: %d %s", out.ErrCode, out.ErrMsg)}
	}
	return nil
}

// Send is not for bots: customers do not write through them.
func (c *channel) Send(context.Context, connectors.OutboundMessage) (connectors.SendResult, error) {
	return connectors.SendResult{}, &connectors.PermanentError{Reason: "a DingTalk bot channel carries no customer conversations"}
}

// Test fetches an access token with the app's credentials.
func (c *channel) Test(ctx context.Context) error {
	var out struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	resp, err := c.client.R().SetContext(ctx).SetQueryParams(map[string]string{"appkey": c.appKey, "appsecret": c.appSecret}).
		Get(c.base.String() + "/gettoken")
	if err != nil {
		return fmt.Errorf("dingtalkbot: DingTalk unreachable: %w", err)
	}
	_ = json.Unmarshal(resp.Body(), &out)
	if resp.StatusCode() != http.StatusOK || out.ErrCode != 0 {
		return fmt.Errorf("dingtalkbot: DingTalk refused the AppKey/AppSecret: %d %s", out.ErrCode, out.ErrMsg)
	}
	return nil
}

// handleEvent reads a DingTalk event subscription push (the WeCom scheme:
// a signature over token, timestamp, nonce and the encrypted body, AES
// with the app's AppKey as receiveid) and answers with the encrypted
// "success" DingTalk expects.
func (c *channel) handleEvent(req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	var env struct {
		Encrypt string `json:"encrypt"`
	}
	if err := json.Unmarshal(req.Body, &env); err != nil || env.Encrypt == "" {
		return nil, &connectors.BadRequestError{Reason: "body is not a DingTalk event push"}
	}
	q := req.Query
	sig := firstOf(q, "msg_signature", "signature")
	ts := firstOf(q, "timestamp", "timeStamp")
	nonce := firstOf(q, "nonce")
	if sig == "" || !wxcrypto.VerifySignature(sig, c.eventToken, ts, nonce, env.Encrypt) {
		return nil, &connectors.VerifyError{Reason: "event signature does not match"}
	}
	plain, receiveID, err := wxcrypto.Decrypt(c.eventAESKey, env.Encrypt)
	if err != nil || receiveID != c.appKey {
		return nil, &connectors.VerifyError{Reason: "event cannot be decrypted for this app"}
	}
	outcome, err := DecodeEvent(plain)
	if err != nil {
		return nil, err
	}
	body, err := c.encryptedSuccess()
	if err != nil {
		return nil, err
	}
	return &connectors.WebhookResult{Approval: outcome,
		Response: connectors.WebhookResponse{Status: http.StatusOK, ContentType: "application/json", Body: body}}, nil
}

// DecodeEvent reads a decrypted event: bpms_instance_change gives an
// approval outcome; check_url and other events give nil.
func DecodeEvent(plain []byte) (*connectors.ApprovalOutcome, error) {
	var ev struct {
		EventType         string `json:"EventType"`
		ProcessInstanceID string `json:"processInstanceId"`
		Type              string `json:"type"`
		Result            string `json:"result"`
		Remark            string `json:"remark"`
	}
	if err := json.Unmarshal(plain, &ev); err != nil {
		return nil, &connectors.BadRequestError{Reason: "the decrypted event is not JSON"}
	}
	if ev.EventType != "bpms_instance_change" || ev.Type != "finish" || ev.ProcessInstanceID == "" {
		return nil, nil
	}
	return &connectors.ApprovalOutcome{ExternalID: ev.ProcessInstanceID, Approved: ev.Result == "agree",
		Rejected: ev.Result == "refuse", Comment: ev.Remark}, nil
}

func (c *channel) encryptedSuccess() ([]byte, error) {
	enc, err := wxcrypto.Encrypt(c.eventAESKey, c.appKey, []byte("success"))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(c.now().UnixMilli(), 10)
	nonce := wxcrypto.Nonce()
	return json.Marshal(map[string]string{"msg_signature": wxcrypto.Signature(c.eventToken, ts, nonce, enc),
		"timeStamp": ts, "nonce": nonce, "encrypt": enc})
}

func firstOf(q map[string][]string, keys ...string) string {
	for _, k := range keys {
		if v := q[k]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
