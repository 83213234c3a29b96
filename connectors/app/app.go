// Package app connects the company's own mobile app: its backend POSTs
// signed JSON events to kefuhub, and kefuhub POSTs agent replies back to
// the backend's reply URL, signed the same way (package signing).
//
// Inbound event (one object, or an array of them):
//
//	{"id": "evt-1", "type": "message", "user": {"id": "u-42", "name": "张三",
//	 "phone": "13800138000", "email": "z@example.com"}, "text": "你好",
//	 "attachments": [{"name", "mimeType", "size", "url"}],
//	 "event": "enter_session", "context": {...}, "sentAt": "2026-11-23T10:00:00Z"}
//
// Reply delivered to replyUrl (header X-Kefuhub-Event: reply, and a
// X-Kefuhub-Delivery id that stays the same across retries):
//
//	{"deliveryId", "userId", "text", "attachments", "sentAt"}
//
// The backend answers 2xx (optionally {"messageId": "..."}); 429 and 5xx
// are retried, other 4xx are final.
package app

import (
	"bytes"
	"context"
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
	"github.com/kefuhub/kefuhub/connectors/signing"
	"github.com/kefuhub/kefuhub/models"
)

// Connector is the APP channel kind.
func Connector() connectors.Connector {
	return connectors.Connector{Spec: spec, New: New}
}

var spec = connectors.Spec{
	Kind:  models.ChannelApp,
	Label: "Company app",
	Fields: []connectors.Field{
		{Name: "secret", Label: "Signing secret shared with the app backend", Secret: true, Required: true, Validate: minLen(16)},
		{Name: "replyUrl", Label: "URL of the app backend that receives agent replies", Required: true, Validate: httpURL},
	},
	Setup: "In the app backend, POST customer events to {webhookUrl} signed with the secret " +
		"(X-Kefuhub-Timestamp, X-Kefuhub-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + \".\" + body))); " +
		"replies arrive at replyUrl signed the same way.",
}

func minLen(n int) func(string) error {
	return func(s string) error {
		if len(s) < n {
			return fmt.Errorf("must be at least %d characters", n)
		}
		return nil
	}
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	return nil
}

type channel struct {
	secret   string
	replyURL string
	client   *resty.Client
	now      func() time.Time
}

var (
	_ connectors.Channel         = (*channel)(nil)
	_ connectors.WebhookReceiver = (*channel)(nil)
	_ connectors.RawDecoder      = (*channel)(nil)
)

// New builds an APP channel from its settings.
func New(cfg connectors.Config) (connectors.Channel, error) {
	c := &channel{secret: cfg.Settings["secret"], replyURL: cfg.Settings["replyUrl"], now: cfg.Now}
	if c.secret == "" || c.replyURL == "" {
		return nil, errors.New("app: secret and replyUrl are required")
	}
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

// event is the app backend's JSON.
type event struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	User struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Phone string `json:"phone"`
		Email string `json:"email"`
	} `json:"user"`
	Text        string              `json:"text"`
	Attachments []models.Attachment `json:"attachments"`
	Event       string              `json:"event"`
	Context     map[string]any      `json:"context"`
	SentAt      *time.Time          `json:"sentAt"`
}

const maxEventsPerRequest = 100

// HandleWebhook verifies the signature and decodes the events.
func (c *channel) HandleWebhook(_ context.Context, req connectors.WebhookRequest) (*connectors.WebhookResult, error) {
	if req.Method != http.MethodPost {
		return nil, &connectors.BadRequestError{Reason: "app events are POSTed"}
	}
	if err := signing.Verify(req.Header, c.secret, c.now(), req.Body); err != nil {
		return nil, &connectors.VerifyError{Reason: err.Error()}
	}
	events, err := Decode(req.Body)
	if err != nil {
		return nil, err
	}
	return &connectors.WebhookResult{
		Events:   events,
		Response: connectors.WebhookResponse{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"ok":true}`)},
	}, nil
}

// Decode parses a request body into normalized events. It is the parser
// the fuzz test drives.
func Decode(body []byte) ([]connectors.InboundEvent, error) {
	trimmed := bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, &connectors.BadRequestError{Reason: "body is not a JSON array of events: " + jsonReason(err)}
		}
	} else {
		raws = []json.RawMessage{trimmed}
	}
	if len(raws) == 0 || len(raws) > maxEventsPerRequest {
		return nil, &connectors.BadRequestError{Reason: fmt.Sprintf("send 1 to %d events per request", maxEventsPerRequest)}
	}
	out := make([]connectors.InboundEvent, 0, len(raws))
	for i, raw := range raws {
		var e event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, &connectors.BadRequestError{Reason: fmt.Sprintf("event %d is not valid JSON: %s", i, jsonReason(err))}
		}
		ev, err := e.normalize(i, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	return "cannot decode"
}

func (e *event) normalize(i int, raw []byte) (connectors.InboundEvent, error) {
	bad := func(msg string) error {
		return &connectors.BadRequestError{Reason: fmt.Sprintf("event %d: %s", i, msg)}
	}
	if strings.TrimSpace(e.ID) == "" || len(e.ID) > 128 {
		return connectors.InboundEvent{}, bad("id is required (at most 128 characters)")
	}
	if strings.TrimSpace(e.User.ID) == "" || len(e.User.ID) > 128 {
		return connectors.InboundEvent{}, bad("user.id is required (at most 128 characters)")
	}
	ev := connectors.InboundEvent{
		ExternalID: e.ID,
		Sender: connectors.Sender{ExternalID: e.User.ID, DisplayName: e.User.Name,
			Phone: e.User.Phone, Email: e.User.Email},
		Text:        e.Text,
		ContentType: "text/plain",
		Attachments: e.Attachments,
		Context:     e.Context,
		Raw:         raw,
	}
	switch e.Type {
	case "message", "":
		ev.Kind = connectors.KindMessage
		if strings.TrimSpace(e.Text) == "" && len(e.Attachments) == 0 {
			return connectors.InboundEvent{}, bad("a message needs text or attachments")
		}
	case "event":
		ev.Kind, ev.EventType = connectors.KindEvent, e.Event
		if e.Event == "" {
			return connectors.InboundEvent{}, bad("an event needs its name in \"event\"")
		}
	default:
		return connectors.InboundEvent{}, bad(fmt.Sprintf("unknown type %q (message or event)", e.Type))
	}
	if e.SentAt != nil {
		ev.SentAt = e.SentAt.UTC()
	}
	return ev, nil
}

// reply is what the app backend receives.
type reply struct {
	DeliveryID  string              `json:"deliveryId"`
	UserID      string              `json:"userId"`
	Text        string              `json:"text"`
	Attachments []models.Attachment `json:"attachments"`
	SentAt      time.Time           `json:"sentAt"`
}

// Send posts the reply to the app backend.
func (c *channel) Send(ctx context.Context, msg connectors.OutboundMessage) (connectors.SendResult, error) {
	atts := msg.Attachments
	if atts == nil {
		atts = []models.Attachment{}
	}
	now := c.now()
	body, err := json.Marshal(reply{DeliveryID: msg.DeliveryID, UserID: msg.Recipient, Text: msg.Text, Attachments: atts, SentAt: now.UTC()})
	if err != nil {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "app: cannot encode the reply"}
	}
	h := http.Header{}
	signing.SetHeaders(h, c.secret, now, body)
	var out struct {
		MessageID string `json:"messageId"`
	}
	resp, err := c.client.R().SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetHeader(signing.HeaderEvent, "reply").
		SetHeader(signing.HeaderDelivery, msg.DeliveryID).
		SetHeader(signing.HeaderTimestamp, h.Get(signing.HeaderTimestamp)).
		SetHeader(signing.HeaderSignature, h.Get(signing.HeaderSignature)).
		SetBody(body).
		Post(c.replyURL)
	if err != nil {
		return connectors.SendResult{}, &connectors.RetryableError{Err: fmt.Errorf("app: send: %w", err)}
	}
	if err := classify(resp); err != nil {
		return connectors.SendResult{}, err
	}
	// The message id is optional, and backends do not always label their
	// JSON: read it whatever the content type says.
	_ = json.Unmarshal(resp.Body(), &out)
	return connectors.SendResult{ExternalID: out.MessageID}, nil
}

// classify maps the backend's answer: 2xx delivered, 408/429/5xx retry
// (honouring Retry-After), any other 4xx is final.
func classify(resp *resty.Response) error {
	code := resp.StatusCode()
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return &connectors.RetryableError{After: retryAfter(resp.Header().Get("Retry-After")), Err: fmt.Errorf("app: reply url answered %d", code)}
	default:
		return &connectors.PermanentError{Reason: fmt.Sprintf("the app backend refused the reply (HTTP %d)", code)}
	}
}

func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// Test checks that the reply URL answers (any HTTP status proves it is
// reachable; the backend decides what a probe without a delivery means).
func (c *channel) Test(ctx context.Context) error {
	now := c.now()
	body := []byte(`{"probe":true}`)
	h := http.Header{}
	signing.SetHeaders(h, c.secret, now, body)
	resp, err := c.client.R().SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetHeader(signing.HeaderEvent, "ping").
		SetHeader(signing.HeaderTimestamp, h.Get(signing.HeaderTimestamp)).
		SetHeader(signing.HeaderSignature, h.Get(signing.HeaderSignature)).
		SetBody(body).Post(c.replyURL)
	if err != nil {
		return fmt.Errorf("app: reply url unreachable: %w", err)
	}
	if resp.StatusCode() >= 500 {
		return fmt.Errorf("app: reply url answered %d", resp.StatusCode())
	}
	return nil
}

// DecodeRaw decodes a stored event again, for replays.
func (c *channel) DecodeRaw(raw []byte) ([]connectors.InboundEvent, error) { return Decode(raw) }
