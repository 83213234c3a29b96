package wechat

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/connectors/wechat/wechatfake"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
	"github.com/kefuhub/kefuhub/models"
)

const (
	appID   = "wx5d8e2f1a3b4c6d7e"
	secret  = "0123456789abcdef0123456789abcdef"
	cbToken = "PushT0ken"
	openID  = "oUser0000000000000000000001"
)

var aesKey = wechatfake.NewAESKey()

// clock is a test clock shared by the channel and the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is a fake Official Account, a channel pointed at it, and kefuhub's
// webhook endpoint for the channel (the translation api/webhooks.go does).
type rig struct {
	fake  *wechatfake.Server
	clock *clock
	ch    *channel
	hook  *httptest.Server

	mu      sync.Mutex
	results []*connectors.WebhookResult
}

// newRig builds a rig; safe says whether the channel has an
// encodingAESKey (safe mode) or not (plain mode).
func newRig(t *testing.T, safe bool) *rig {
	t.Helper()
	// 18:00 in Beijing.
	r := &rig{fake: wechatfake.New(appID, secret), clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}
	t.Cleanup(r.fake.Close)
	r.fake.SetClock(r.clock.Now)
	r.ch = r.newChannel(t, tokencache.New(), func(s map[string]string) {
		if !safe {
			delete(s, "encodingAESKey")
		}
	})
	r.hook = httptest.NewServer(http.HandlerFunc(r.serveWebhook))
	t.Cleanup(r.hook.Close)
	return r
}

func settings() map[string]string {
	return map[string]string{"appId": appID, "appSecret": secret, "token": cbToken, "encodingAESKey": aesKey}
}

func (r *rig) newChannel(t *testing.T, tokens *tokencache.Cache, edit func(map[string]string)) *channel {
	t.Helper()
	s := settings()
	if edit != nil {
		edit(s)
	}
	ch, err := newChannel(connectors.Config{BaseURL: r.fake.URL, ChannelID: "Q2hhbm5lbDoy", Settings: s, Now: r.clock.Now}, tokens)
	if err != nil {
		t.Fatalf("newChannel: %v", err)
	}
	return ch
}

func (r *rig) serveWebhook(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	res, err := r.ch.HandleWebhook(req.Context(), connectors.WebhookRequest{
		Method: req.Method, Header: req.Header, Query: req.URL.Query(), Body: body})
	var verr *connectors.VerifyError
	var berr *connectors.BadRequestError
	switch {
	case errors.As(err, &verr):
		http.Error(w, verr.Error(), http.StatusUnauthorized)
		return
	case errors.As(err, &berr):
		http.Error(w, berr.Error(), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	w.Header().Set("Content-Type", res.Response.ContentType)
	w.WriteHeader(res.Response.Status)
	_, _ = w.Write(res.Response.Body)
}

func (r *rig) lastResult(t *testing.T) *connectors.WebhookResult {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) == 0 {
		t.Fatal("no webhook result recorded")
	}
	return r.results[len(r.results)-1]
}

// push has the fake push msg in the channel's mode and returns the events.
func (r *rig) push(t *testing.T, msg []byte) []connectors.InboundEvent {
	t.Helper()
	status, body, err := r.fake.Push(context.Background(), r.hook.URL, cbToken, r.ch.aesKey, appID, msg)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if status != http.StatusOK || body != "success" {
		t.Fatalf("push answered %d %q, want 200 \"success\"", status, body)
	}
	return r.lastResult(t).Events
}

func (r *rig) send(text string) (connectors.SendResult, error) {
	now := r.clock.Now()
	return r.ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: "msg-1", Recipient: openID,
		Text: text, LastInboundAt: &now})
}

func asPermanent(t *testing.T, err error) *connectors.PermanentError {
	t.Helper()
	var p *connectors.PermanentError
	if !errors.As(err, &p) {
		t.Fatalf("got error %v (%T), want *connectors.PermanentError", err, err)
	}
	return p
}

func asRetryable(t *testing.T, err error) *connectors.RetryableError {
	t.Helper()
	var re *connectors.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want *connectors.RetryableError", err, err)
	}
	return re
}

// --- pushes -----------------------------------------------------------------

func TestURLVerification(t *testing.T) {
	for _, safe := range []bool{false, true} {
		r := newRig(t, safe)
		tests := []struct {
			name       string
			token      string
			wantStatus int
			wantOK     bool
		}{
			{"round trip", cbToken, http.StatusOK, true},
			{"wrong token", "OtherToken", http.StatusUnauthorized, false},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s safe=%v", tt.name, safe), func(t *testing.T) {
				got, err := r.fake.VerifyURL(context.Background(), r.hook.URL, tt.token)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tt.wantStatus || got.OK() != tt.wantOK {
					t.Fatalf("status %d echoed %q (want %q); want status %d ok %v", got.Status, got.Echoed, got.Want, tt.wantStatus, tt.wantOK)
				}
			})
		}
	}
	t.Run("errors", func(t *testing.T) {
		q := wechatfake.URLCheckQuery(cbToken, time.Now(), "123")
		q.Del("echostr")
		var berr *connectors.BadRequestError
		if _, err := VerifyURL(cbToken, q); !errors.As(err, &berr) {
			t.Errorf("no echostr: %v, want BadRequestError", err)
		}
		q = wechatfake.URLCheckQuery(cbToken, time.Now(), "123")
		q.Del("signature")
		var verr *connectors.VerifyError
		if _, err := VerifyURL(cbToken, q); !errors.As(err, &verr) {
			t.Errorf("no signature: %v, want VerifyError", err)
		}
		q = wechatfake.URLCheckQuery(cbToken, time.Now(), "123")
		q.Set("signature", strings.ToUpper(q.Get("signature")))
		if echo, err := VerifyURL(cbToken, q); err != nil || echo != "123" {
			t.Errorf("upper-case signature: %q, %v", echo, err)
		}
	})
}

func TestPushMapping(t *testing.T) {
	type want struct {
		kind, text, eventType string
		idIsMsgID             bool
		attachment            *models.Attachment
		context               map[string]any
	}
	tests := []struct {
		name string
		msg  func(f *wechatfake.Server) []byte
		want want
	}{
		{"text", func(f *wechatfake.Server) []byte {
			return f.UserSays(openID, "你好，我的订单还没到 <script>")
		},
			want{kind: "message", text: "你好，我的订单还没到 <script>", idIsMsgID: true}},
		{"image", func(f *wechatfake.Server) []byte { return f.UserSends(openID, "image", "MEDIA_IMG_1") },
			want{kind: "message", text: "[图片]", idIsMsgID: true, attachment: &models.Attachment{Name: "image", MimeType: "image/*", MediaID: "MEDIA_IMG_1"}}},
		{"voice with recognition", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "voice", map[string]string{"MediaId": "MEDIA_V", "Format": "speex", "Recognition": "查快递"})
		}, want{kind: "message", text: "[语音] 查快递", idIsMsgID: true, attachment: &models.Attachment{Name: "voice", MimeType: "audio/speex", MediaID: "MEDIA_V"}}},
		{"video", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "video", map[string]string{"MediaId": "MEDIA_VID", "ThumbMediaId": "THUMB_1"})
		}, want{kind: "message", text: "[视频]", idIsMsgID: true, attachment: &models.Attachment{Name: "video", MimeType: "video/*", MediaID: "MEDIA_VID"},
			context: map[string]any{"thumbMediaId": "THUMB_1"}}},
		{"short video", func(f *wechatfake.Server) []byte { return f.UserSends(openID, "shortvideo", "MEDIA_SV") },
			want{kind: "message", text: "[小视频]", idIsMsgID: true, attachment: &models.Attachment{Name: "shortvideo", MimeType: "video/*", MediaID: "MEDIA_SV"}}},
		{"location", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "location", map[string]string{"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "广州塔"})
		}, want{kind: "message", text: "[位置] 广州塔", idIsMsgID: true,
			context: map[string]any{"latitude": 23.134521, "longitude": 113.358803, "scale": 20.0, "label": "广州塔"}}},
		{"link", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "link", map[string]string{"Title": "订单", "Description": "d", "Url": "https://example.com/o/1"})
		}, want{kind: "message", text: "[链接] 订单 https://example.com/o/1", idIsMsgID: true,
			context: map[string]any{"title": "订单", "description": "d", "url": "https://example.com/o/1"}}},
		{"unknown type", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "miniprogrampage", map[string]string{"Title": "x"})
		}, want{kind: "message", text: "[miniprogrampage]", idIsMsgID: true}},
		{"subscribe by QR code", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "event", map[string]string{"Event": "subscribe", "EventKey": "qrscene_store42", "Ticket": "TICKET"})
		}, want{kind: "event", eventType: "subscribe", context: map[string]any{"eventKey": "qrscene_store42", "ticket": "TICKET"}}},
		{"plain subscribe", func(f *wechatfake.Server) []byte { return f.UserEvent(openID, "subscribe", "") },
			want{kind: "event", eventType: "subscribe"}},
		{"unsubscribe", func(f *wechatfake.Server) []byte { return f.UserEvent(openID, "unsubscribe", "") },
			want{kind: "event", eventType: "unsubscribe"}},
		{"menu click", func(f *wechatfake.Server) []byte { return f.UserEvent(openID, "CLICK", "MENU_HUMAN") },
			want{kind: "event", eventType: "CLICK", context: map[string]any{"eventKey": "MENU_HUMAN"}}},
		{"location report", func(f *wechatfake.Server) []byte {
			return f.UserMessage(openID, "event", map[string]string{"Event": "LOCATION", "Latitude": "23.1", "Longitude": "113.3", "Precision": "119.385040"})
		}, want{kind: "event", eventType: "LOCATION", context: map[string]any{"latitude": 23.1, "longitude": 113.3, "precision": 119.38504}}},
	}
	for _, safe := range []bool{false, true} {
		r := newRig(t, safe)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s safe=%v", tt.name, safe), func(t *testing.T) {
				msg := tt.msg(r.fake)
				evs := r.push(t, msg)
				if len(evs) != 1 {
					t.Fatalf("%d events, want 1", len(evs))
				}
				e, w := evs[0], tt.want
				if string(e.Kind) != w.kind || e.Text != w.text || e.EventType != w.eventType {
					t.Errorf("event {%s %q %s}, want {%s %q %s}", e.Kind, e.Text, e.EventType, w.kind, w.text, w.eventType)
				}
				var m Message
				if err := xml.Unmarshal(msg, &m); err != nil {
					t.Fatal(err)
				}
				wantID := m.FromUserName + ":" + m.CreateTime + ":" + m.Event
				if w.idIsMsgID {
					wantID = m.MsgID
				}
				if e.ExternalID != wantID || wantID == "" {
					t.Errorf("external id %q, want %q", e.ExternalID, wantID)
				}
				if e.Sender.ExternalID != openID {
					t.Errorf("sender %q, want %q", e.Sender.ExternalID, openID)
				}
				if !e.SentAt.Equal(r.clock.Now()) {
					t.Errorf("sent at %v, want %v", e.SentAt, r.clock.Now())
				}
				if string(e.Raw) != string(msg) {
					t.Errorf("raw %q, want the plaintext push %q", e.Raw, msg)
				}
				switch {
				case w.attachment == nil && len(e.Attachments) != 0:
					t.Errorf("attachments %+v, want none", e.Attachments)
				case w.attachment != nil:
					if len(e.Attachments) != 1 {
						t.Fatalf("attachments %+v, want 1", e.Attachments)
					}
					a := e.Attachments[0]
					if a.Name != w.attachment.Name || a.MimeType != w.attachment.MimeType || a.MediaID != w.attachment.MediaID {
						t.Errorf("attachment %+v, want %+v", a, *w.attachment)
					}
					if w.attachment.Name == "image" && !strings.HasPrefix(a.URL, "http://mmbiz.qpic.cn/") {
						t.Errorf("image URL %q, want the PicUrl", a.URL)
					}
				}
				if tt.name == "short video" {
					if id, _ := e.Context["thumbMediaId"].(string); !strings.HasPrefix(id, "thumb_") {
						t.Errorf("context %v, want the thumbMediaId", e.Context)
					}
				} else if fmt.Sprint(e.Context) != fmt.Sprint(w.context) {
					t.Errorf("context %v, want %v", e.Context, w.context)
				}
				// The stored raw push decodes to the same event.
				again, err := r.ch.DecodeRaw(e.Raw)
				if err != nil || len(again) != 1 || again[0].ExternalID != e.ExternalID || again[0].Text != e.Text {
					t.Errorf("DecodeRaw = %+v, %v", again, err)
				}
			})
		}
	}
}

func TestPushDedupeKeys(t *testing.T) {
	r := newRig(t, false)
	a := r.push(t, r.fake.UserSays(openID, "一"))[0]
	b := r.push(t, r.fake.UserSays(openID, "一"))[0]
	if a.ExternalID == b.ExternalID {
		t.Errorf("two messages share the id %s", a.ExternalID)
	}
	// WeChat retries a push it got no answer for: the same XML, the same id.
	click := r.fake.UserEvent(openID, "CLICK", "K")
	first := r.push(t, click)[0]
	retry := r.push(t, click)[0]
	if first.ExternalID != retry.ExternalID {
		t.Errorf("retried event: %s then %s", first.ExternalID, retry.ExternalID)
	}
	r.clock.Advance(time.Second)
	if later := r.push(t, r.fake.UserEvent(openID, "CLICK", "K"))[0]; later.ExternalID == first.ExternalID {
		t.Errorf("a later click has the same id %s", later.ExternalID)
	}
}

func TestReportEventsDropped(t *testing.T) {
	r := newRig(t, true)
	for _, ev := range []string{"TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH", "PUBLISHJOBFINISH", "qualification_verify_success"} {
		msg := r.fake.UserMessage(openID, "event", map[string]string{"Event": ev, "Status": "success"})
		if evs := r.push(t, msg); len(evs) != 0 {
			t.Errorf("%s: %d events, want none", ev, len(evs))
		}
	}
}

func TestPushRejected(t *testing.T) {
	now := time.Unix(1763888400, 0)
	f := wechatfake.New(appID, secret)
	defer f.Close()
	msg := f.UserSays(openID, "你好")
	pch, err := New(connectors.Config{Settings: map[string]string{"appId": appID, "appSecret": secret, "token": cbToken}})
	if err != nil {
		t.Fatal(err)
	}
	sch, err := New(connectors.Config{Settings: settings()})
	if err != nil {
		t.Fatal(err)
	}
	safe := func(token, key, app string, m []byte) *wechatfake.SignedPush {
		p, err := wechatfake.SafePush(token, key, app, now, m)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	encOf := func(m string) string {
		enc, err := wxcrypto.Encrypt(aesKey, appID, []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	edit := func(p *wechatfake.SignedPush, f func(url.Values)) *wechatfake.SignedPush {
		q := url.Values{}
		for k, v := range p.Query {
			q[k] = append([]string(nil), v...)
		}
		f(q)
		return &wechatfake.SignedPush{Query: q, Body: p.Body}
	}
	validPlain := wechatfake.PlainPush(cbToken, now, msg)
	validSafe := safe(cbToken, aesKey, appID, msg)
	tests := []struct {
		name   string
		ch     connectors.Channel
		method string
		p      *wechatfake.SignedPush
		want   string // verify, bad request
	}{
		{"plain: bad signature", pch, "POST", wechatfake.PlainPush("OtherToken", now, msg), "verify"},
		{"plain: missing signature", pch, "POST", edit(validPlain, func(q url.Values) { q.Del("signature") }), "verify"},
		{"plain: other timestamp", pch, "POST", edit(validPlain, func(q url.Values) { q.Set("timestamp", "1") }), "verify"},
		{"plain: malformed XML", pch, "POST", &wechatfake.SignedPush{Query: validPlain.Query, Body: []byte("<xml><Content>")}, "bad request"},
		{"plain: not the push XML", pch, "POST", &wechatfake.SignedPush{Query: validPlain.Query, Body: []byte("<html></html>")}, "bad request"},
		{"plain: no FromUserName", pch, "POST", &wechatfake.SignedPush{Query: validPlain.Query,
			Body: []byte("<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>")}, "bad request"},
		{"plain: CreateTime not a number", pch, "POST", &wechatfake.SignedPush{Query: validPlain.Query,
			Body: []byte("<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>")}, "bad request"},
		{"plain: event without Event", pch, "POST", &wechatfake.SignedPush{Query: validPlain.Query,
			Body: []byte("<xml><FromUserName>o</FromUserName><MsgType>event</MsgType><CreateTime>1</CreateTime></xml>")}, "bad request"},
		{"plain channel gets a safe push", pch, "POST", validSafe, "verify"},
		{"plain: unknown encrypt_type", pch, "POST", edit(validPlain, func(q url.Values) { q.Set("encrypt_type", "rsa") }), "bad request"},
		{"safe: bad msg_signature", sch, "POST", safe("OtherToken", aesKey, appID, msg), "verify"},
		{"safe: missing msg_signature", sch, "POST", edit(validSafe, func(q url.Values) { q.Del("msg_signature") }), "verify"},
		{"safe: wrong appid", sch, "POST", safe(cbToken, aesKey, "wx0000000000000000", msg), "verify"},
		{"safe: wrong aes key", sch, "POST", safe(cbToken, wechatfake.NewAESKey(), appID, msg), "verify"},
		{"safe: Encrypt not base64", sch, "POST", wechatfake.SignSafe(cbToken, now, "gh", openID, "%%%not-base64%%%"), "verify"},
		{"safe: Encrypt not whole blocks", sch, "POST", wechatfake.SignSafe(cbToken, now, "gh", openID, "QUJD"), "verify"},
		{"safe: malformed outer XML", sch, "POST", &wechatfake.SignedPush{Query: validSafe.Query, Body: []byte("<xml><Encrypt>")}, "bad request"},
		{"safe: no Encrypt", sch, "POST", &wechatfake.SignedPush{Query: validSafe.Query, Body: []byte("<xml><ToUserName>x</ToUserName></xml>")}, "bad request"},
		{"safe: decrypted not XML", sch, "POST", wechatfake.SignSafe(cbToken, now, "gh", openID, encOf("not xml <")), "bad request"},
		{"safe channel gets a plain push", sch, "POST", validPlain, "verify"},
		{"PUT", pch, "PUT", validPlain, "bad request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.ch.(connectors.WebhookReceiver).HandleWebhook(context.Background(),
				connectors.WebhookRequest{Method: tt.method, Query: tt.p.Query, Body: tt.p.Body})
			var verr *connectors.VerifyError
			var berr *connectors.BadRequestError
			switch {
			case tt.want == "verify" && !errors.As(err, &verr):
				t.Fatalf("got %v (%T), want *VerifyError", err, err)
			case tt.want == "bad request" && !errors.As(err, &berr):
				t.Fatalf("got %v (%T), want *BadRequestError", err, err)
			}
			if err != nil && (strings.Contains(err.Error(), cbToken) || strings.Contains(err.Error(), aesKey)) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}

	// Over HTTP, as the platform sees it.
	r := newRig(t, true)
	for name, c := range map[string]struct{ token, app string }{
		"bad signature": {"OtherToken", appID},
		"wrong appid":   {cbToken, "wx0000000000000000"},
	} {
		t.Run(name+" over HTTP", func(t *testing.T) {
			status, _, err := r.fake.Push(context.Background(), r.hook.URL, c.token, aesKey, c.app, r.fake.UserSays(openID, "hi"))
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", status)
			}
		})
	}
}

// --- custom/send --------------------------------------------------------------

func TestSend(t *testing.T) {
	r := newRig(t, true)
	r.fake.UserSays(openID, "你好")
	if _, err := r.send("您好，请问有什么可以帮您？<&>"); err != nil {
		t.Fatal(err)
	}
	sent := r.fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d messages sent, want 1", len(sent))
	}
	if s := sent[0]; s.ToUser != openID || s.MsgType != "text" || s.Content != "您好，请问有什么可以帮您？<&>" {
		t.Errorf("sent %+v", s)
	}
	// 2048 bytes exactly is fine (682 × 3 bytes + 2).
	if _, err := r.send(strings.Repeat("长", 682) + "ok"); err != nil {
		t.Errorf("2048 bytes: %v", err)
	}
	if n := r.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

func TestSendRefusedBeforeCalling(t *testing.T) {
	r := newRig(t, true)
	r.fake.UserSays(openID, "你好")
	ago := func(d time.Duration) *time.Time { t := r.clock.Now().Add(-d); return &t }
	tests := []struct {
		name     string
		msg      connectors.OutboundMessage
		wantText []string
	}{
		{"never wrote", connectors.OutboundMessage{Text: "hi"}, []string{"has not written", "没有给公众号发过消息"}},
		{"wrote 48 h ago", connectors.OutboundMessage{Text: "hi", LastInboundAt: ago(48 * time.Hour)}, []string{"48 hours", "48 小时"}},
		{"wrote 3 days ago", connectors.OutboundMessage{Text: "hi", LastInboundAt: ago(72 * time.Hour)}, []string{"48 hours", "48 小时"}},
		{"too long", connectors.OutboundMessage{Text: strings.Repeat("长", 683), LastInboundAt: ago(time.Minute)}, []string{"2048", "2049"}},
		{"empty", connectors.OutboundMessage{Text: "  \n", LastInboundAt: ago(time.Minute)}, []string{"empty"}},
		{"attachment", connectors.OutboundMessage{Text: "see file", LastInboundAt: ago(time.Minute),
			Attachments: []models.Attachment{{Name: "a.pdf", URL: "https://example.com/a.pdf"}}}, []string{"Attachments"}},
		{"no recipient", connectors.OutboundMessage{Text: "hi", LastInboundAt: ago(time.Minute)}, []string{"openid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.msg.DeliveryID = "msg-1"
			if tt.name != "no recipient" {
				tt.msg.Recipient = openID
			}
			_, err := r.ch.Send(context.Background(), tt.msg)
			p := asPermanent(t, err)
			for _, w := range tt.wantText {
				if !strings.Contains(p.Reason, w) {
					t.Errorf("reason %q, want it to mention %q", p.Reason, w)
				}
			}
		})
	}
	if n := r.fake.Calls(wechatfake.PathCustomSend) + r.fake.Calls(wechatfake.PathToken); n != 0 {
		t.Errorf("%d calls reached the platform, want 0", n)
	}
}

func TestSendPermanent(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(r *rig)
		to       string
		wantText []string
	}{
		{"platform says 48 h passed (45015)", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			// The hub believes the user wrote just now (its view is stale);
			// the platform knows better. The token expired meanwhile too.
			r.clock.Advance(49 * time.Hour)
		}, openID, []string{"48 hours", "48 小时"}},
		{"user unfollowed (45015)", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			r.fake.UserEvent(openID, "unsubscribe", "")
		}, openID, []string{"unfollowed", "取消关注"}},
		{"reply count used up (45047)", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			r.fake.SetReplyLimit(1)
			if _, err := r.send("first"); err != nil {
				panic(err)
			}
		}, openID, []string{"45047", "used up"}},
		{"invalid openid (40003)", func(r *rig) {}, "oSomeoneElsesOpenID", []string{"40003", "invalid openid"}},
		{"api unauthorized (48001)", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			r.fake.FailNext(wechatfake.PathCustomSend, 1, 48001)
		}, openID, []string{"48001", "verified"}},
		{"secret reset meanwhile", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			r.fake.ExpireTokens()
			r.fake.FailNext(wechatfake.PathToken, 1, wechatfake.ErrInvalidSecret)
		}, openID, []string{"40125", "AppSecret"}},
		{"IP not whitelisted", func(r *rig) {
			r.fake.UserSays(openID, "你好")
			r.fake.ExpireTokens()
			r.fake.SetIPWhitelist("192.0.2.1")
		}, openID, []string{"40164", "127.0.0.1", "IP白名单"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, true)
			// Warm the token cache.
			if err := r.ch.Test(context.Background()); err != nil {
				t.Fatal(err)
			}
			tt.setup(r)
			now := r.clock.Now()
			_, err := r.ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: "msg-2", Recipient: tt.to,
				Text: "您好", LastInboundAt: &now})
			p := asPermanent(t, err)
			for _, w := range tt.wantText {
				if !strings.Contains(p.Reason, w) {
					t.Errorf("reason %q, want it to mention %q", p.Reason, w)
				}
			}
		})
	}
}

func TestSendTokenRefresh(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(r *rig)
		wantErr      bool
		wantFetches  int
		wantSendHits int
	}{
		{"platform expired the token (42001)", func(r *rig) { r.fake.ExpireTokens() }, false, 2, 3},
		{"platform says invalid (40001)", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 1, wechatfake.ErrInvalidCredential) }, false, 2, 3},
		{"platform says invalid (40014)", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 1, wechatfake.ErrInvalidToken) }, false, 2, 3},
		{"cached token reached its expiry", func(r *rig) { r.clock.Advance(2 * time.Hour) }, false, 2, 2},
		{"token trouble twice: retry only once", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 2, wechatfake.ErrTokenExpired) }, true, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, false)
			r.fake.UserSays(openID, "你好")
			if _, err := r.send("first"); err != nil {
				t.Fatal(err)
			}
			r.fake.UserSays(openID, "再问一下") // keeps the window open across clock moves
			tt.setup(r)
			_, err := r.send("second")
			if tt.wantErr {
				asRetryable(t, err)
			} else if err != nil {
				t.Fatalf("second send: %v", err)
			}
			if n := r.fake.TokenFetches(); n != tt.wantFetches {
				t.Errorf("%d token fetches, want %d", n, tt.wantFetches)
			}
			if n := r.fake.Calls(wechatfake.PathCustomSend); n != tt.wantSendHits {
				t.Errorf("%d custom/send calls, want %d", n, tt.wantSendHits)
			}
		})
	}
}

// Another system fetching tokens with the same AppSecret retires kefuhub's
// after 5 minutes: the next send refreshes and goes through.
func TestSendAfterAnotherSystemTookTheToken(t *testing.T) {
	r := newRig(t, false)
	r.fake.UserSays(openID, "你好")
	if _, err := r.send("first"); err != nil {
		t.Fatal(err)
	}
	other := r.newChannel(t, tokencache.New(), nil)
	if err := other.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(wechatfake.TokenOverlap)
	if _, err := r.send("second"); err != nil {
		t.Fatal(err)
	}
	if n := r.fake.TokenFetches(); n != 3 {
		t.Errorf("%d token fetches, want 3", n)
	}
}

func TestSendRetryable(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(r *rig)
		wantAfter time.Duration
		wantCode  int64
	}{
		// 18:00 in Beijing: the daily quota resets in 6 h; Send asks for an hour.
		{"45009 daily quota", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 1, wechatfake.ErrQuotaExceeded) }, time.Hour, 45009},
		{"45009 just before midnight", func(r *rig) {
			r.clock.Advance(5*time.Hour + 50*time.Minute)
			r.fake.UserSays(openID, "还在吗")
			r.fake.FailNext(wechatfake.PathCustomSend, 1, wechatfake.ErrQuotaExceeded)
		}, 10 * time.Minute, 45009},
		{"45011 too frequent", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 1, 45011) }, time.Second, 45011},
		{"system busy (-1)", func(r *rig) { r.fake.FailNext(wechatfake.PathCustomSend, 1, wechatfake.ErrSystemBusy) }, 0, -1},
		{"HTTP 500", func(r *rig) { r.fake.FailNextHTTP(wechatfake.PathCustomSend, 1, http.StatusInternalServerError) }, 0, 0},
		{"HTTP 502 from token", func(r *rig) { r.fake.FailNextHTTP(wechatfake.PathToken, 1, http.StatusBadGateway) }, 0, 0},
		{"token quota", func(r *rig) { r.fake.FailNext(wechatfake.PathToken, 1, wechatfake.ErrQuotaExceeded) }, time.Hour, 45009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, false)
			r.fake.UserSays(openID, "你好")
			tt.setup(r)
			_, err := r.send("您好")
			re := asRetryable(t, err)
			if re.After != tt.wantAfter {
				t.Errorf("After %v, want %v", re.After, tt.wantAfter)
			}
			var ae *APIError
			if tt.wantCode != 0 && (!errors.As(err, &ae) || ae.Code != tt.wantCode) {
				t.Errorf("got %v, want errcode %d", err, tt.wantCode)
			}
			if len(r.fake.Sent()) != 0 {
				t.Error("a message was sent")
			}
		})
	}
	t.Run("network down, no secrets in the error", func(t *testing.T) {
		r := newRig(t, false)
		r.fake.UserSays(openID, "你好")
		if err := r.ch.Test(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.fake.Close()
		_, err := r.send("您好")
		asRetryable(t, err)
		if s := err.Error(); strings.Contains(s, secret) || strings.Contains(s, "secret=") || strings.Contains(s, "access_token") {
			t.Errorf("error leaks the request URL: %s", s)
		}
	})
	t.Run("lost answer: the retry sends again", func(t *testing.T) {
		// WeChat takes no idempotency key for customer-service messages.
		r := newRig(t, false)
		r.fake.UserSays(openID, "你好")
		r.fake.DropNext(wechatfake.PathCustomSend, 1)
		_, err := r.send("您好")
		asRetryable(t, err)
		if n := len(r.fake.Sent()); n != 1 {
			t.Fatalf("%d sent, want 1 (the platform applied it)", n)
		}
	})
}

// --- test, settings, concurrency -------------------------------------------

func TestTest(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(map[string]string)
		setup    func(f *wechatfake.Server)
		wantText []string
	}{
		{"ok", nil, nil, nil},
		{"bad secret", func(s map[string]string) { s["appSecret"] = "ffffffffffffffffffffffffffffffff" }, nil,
			[]string{"40125", "AppSecret", "基本配置"}},
		{"bad appId", func(s map[string]string) { s["appId"] = "wx0000000000000000" }, nil, []string{"40013", "AppID"}},
		{"IP not whitelisted", nil, func(f *wechatfake.Server) { f.SetIPWhitelist("192.0.2.1") },
			[]string{"40164", "127.0.0.1", "IP白名单", "whitelist"}},
		{"secret frozen", nil, func(f *wechatfake.Server) { f.FailNext(wechatfake.PathToken, 1, 40243) }, []string{"40243", "frozen"}},
		{"other errcode", nil, func(f *wechatfake.Server) { f.FailNext(wechatfake.PathToken, 1, 40002) }, []string{"40002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, true)
			if tt.setup != nil {
				tt.setup(r.fake)
			}
			ch := r.newChannel(t, tokencache.New(), tt.edit)
			err := ch.Test(context.Background())
			if tt.wantText == nil {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				// The token is kept for the calls that follow.
				r.fake.UserSays(openID, "你好")
				now := r.clock.Now()
				if _, err := ch.Send(context.Background(), connectors.OutboundMessage{Recipient: openID, Text: "hi", LastInboundAt: &now}); err != nil {
					t.Fatal(err)
				}
				if n := r.fake.TokenFetches(); n != 1 {
					t.Errorf("%d token fetches, want 1", n)
				}
				return
			}
			if err == nil {
				t.Fatal("Test passed, want an error")
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Test = %v, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestSpec(t *testing.T) {
	c := Connector()
	base := func() map[string]any {
		return map[string]any{"appId": appID, "appSecret": secret, "token": cbToken, "encodingAESKey": aesKey}
	}
	if _, err := c.Spec.Normalize(base()); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	plain := base()
	delete(plain, "encodingAESKey")
	if got, err := c.Spec.Normalize(plain); err != nil || got["encodingAESKey"] != "" {
		t.Fatalf("plain mode settings: %v, %v", got, err)
	}
	for _, bad := range []struct{ field, value string }{
		{"encodingAESKey", aesKey[:42]},
		{"encodingAESKey", aesKey + "A"},
		{"encodingAESKey", strings.Repeat("!", 43)},
		{"token", "has spaces in it"},
		{"token", "ab"},
		{"appId", "gh_3f2a1b0c9d8e"},
		{"appSecret", "short"},
	} {
		in := base()
		in[bad.field] = bad.value
		var fe *connectors.FieldError
		if _, err := c.Spec.Normalize(in); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("%s=%q: got %v, want a FieldError", bad.field, bad.value, err)
		}
	}
	if got := strings.Join(c.Spec.SecretKeys(), ","); got != "appSecret,token,encodingAESKey" {
		t.Errorf("secret keys %s", got)
	}
	for _, w := range []string{"{webhookUrl}", "EncodingAESKey", "Token", "安全模式", "明文模式", "IP白名单", "服务器配置"} {
		if !strings.Contains(c.Spec.Setup, w) {
			t.Errorf("setup text does not mention %s", w)
		}
	}
	for name, s := range map[string]map[string]string{
		"bad key":    {"appId": appID, "appSecret": secret, "token": cbToken, "encodingAESKey": "short"},
		"no token":   {"appId": appID, "appSecret": secret},
		"no appId":   {"appSecret": secret, "token": cbToken},
		"no secret":  {"appId": appID, "token": cbToken},
		"all absent": {},
	} {
		if _, err := c.New(connectors.Config{Settings: s}); err == nil {
			t.Errorf("New accepted settings with %s", name)
		}
	}
	if _, err := ParseMessage(map[string]string{}, url.Values{}, []byte("<xml/>")); err == nil || !errors.Is(err, errNoToken) {
		t.Errorf("ParseMessage without a token: %v", err)
	}
}

// Several channels on two accounts, built per call as the hub does, used
// concurrently: each account fetches its token once.
func TestConcurrentChannels(t *testing.T) {
	conn := Connector()
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	type account struct {
		fake     *wechatfake.Server
		channel  string
		settings map[string]string
		build    func() connectors.Channel
		hook     *httptest.Server
	}
	var accounts []*account
	for i := range 2 {
		app := fmt.Sprintf("wx000000000000000%d", i)
		sec := fmt.Sprintf("%032d", i)
		f := wechatfake.New(app, sec)
		t.Cleanup(f.Close)
		f.SetClock(clk.Now)
		a := &account{fake: f, channel: fmt.Sprintf("ch-%d", i), settings: map[string]string{
			"appId": app, "appSecret": sec, "token": cbToken, "encodingAESKey": aesKey}}
		a.build = func() connectors.Channel {
			ch, err := conn.New(connectors.Config{BaseURL: f.URL, ChannelID: a.channel, Settings: a.settings, Now: clk.Now})
			if err != nil {
				t.Error(err)
			}
			return ch
		}
		a.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			res, err := a.build().(connectors.WebhookReceiver).HandleWebhook(req.Context(),
				connectors.WebhookRequest{Method: req.Method, Query: req.URL.Query(), Body: body})
			if err != nil || len(res.Events) != 1 {
				http.Error(w, fmt.Sprint(err), http.StatusUnauthorized)
				return
			}
			_, _ = w.Write(res.Response.Body)
		}))
		t.Cleanup(a.hook.Close)
		accounts = append(accounts, a)
	}
	var wg sync.WaitGroup
	for _, a := range accounts {
		for u := range 8 {
			user := fmt.Sprintf("oUser%02d", u)
			msg := a.fake.UserSays(user, "你好")
			wg.Go(func() {
				status, _, err := a.fake.Push(context.Background(), a.hook.URL, cbToken, aesKey, a.settings["appId"], msg)
				if err != nil || status != http.StatusOK {
					t.Errorf("%s push: %d %v", a.channel, status, err)
				}
				for m := range 3 {
					now := clk.Now()
					_, err := a.build().Send(context.Background(), connectors.OutboundMessage{
						DeliveryID: fmt.Sprintf("%s-%s-%d", a.channel, user, m), Recipient: user, Text: "hi", LastInboundAt: &now})
					if err != nil {
						t.Errorf("%s send: %v", a.channel, err)
					}
				}
			})
		}
	}
	wg.Wait()
	for _, a := range accounts {
		if n := a.fake.TokenFetches(); n != 1 {
			t.Errorf("%s: %d token fetches, want 1", a.channel, n)
		}
		if n := len(a.fake.Sent()); n != 24 {
			t.Errorf("%s: %d sent, want 24", a.channel, n)
		}
	}
}

func TestQuotaWait(t *testing.T) {
	for _, tt := range []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2026, 11, 23, 15, 30, 0, 0, time.UTC), 30 * time.Minute}, // 23:30 Beijing
		{time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC), time.Hour},         // 00:00 Beijing: a fresh day
		{time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), time.Hour},
	} {
		if got := quotaWait(tt.now); got != tt.want {
			t.Errorf("quotaWait(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}
