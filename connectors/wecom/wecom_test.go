package wecom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/connectors/wecom/wecomfake"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
	"github.com/kefuhub/kefuhub/models"
)

const (
	corpID   = "ww8f3b2c1d0e9a7654"
	secret   = "kf-secret-0123456789abcdef"
	cbToken  = "CallbackT0ken"
	openKfID = "wkAbCdEf0123456789"
	customer = "wmCustomer0000000001"
)

var aesKey = wecomfake.NewAESKey()

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

// rig is a fake WeCom, a channel pointed at it, and kefuhub's webhook
// endpoint for the channel (the translation api/webhooks.go does).
type rig struct {
	fake  *wecomfake.Server
	clock *clock
	ch    *channel
	hook  *httptest.Server

	mu      sync.Mutex
	results []*connectors.WebhookResult
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{fake: wecomfake.New(corpID, secret), clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}
	t.Cleanup(r.fake.Close)
	r.fake.SetClock(r.clock.Now)
	r.ch = r.newChannel(t, tokencache.New(), nil)
	r.hook = httptest.NewServer(http.HandlerFunc(r.serveWebhook))
	t.Cleanup(r.hook.Close)
	return r
}

func (r *rig) settings() map[string]string {
	return map[string]string{"corpId": corpID, "secret": secret, "token": cbToken, "encodingAESKey": aesKey, "openKfId": openKfID}
}

func (r *rig) newChannel(t *testing.T, tokens *tokencache.Cache, edit func(map[string]string)) *channel {
	t.Helper()
	s := r.settings()
	if edit != nil {
		edit(s)
	}
	ch, err := newChannel(connectors.Config{BaseURL: r.fake.URL, ChannelID: "Q2hhbm5lbDox", Settings: s, Now: r.clock.Now}, tokens)
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

// notify has the fake announce messages and returns the callback Token.
func (r *rig) notify(t *testing.T) string {
	t.Helper()
	res, err := r.fake.Notify(context.Background(), r.hook.URL, cbToken, aesKey, corpID, openKfID)
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if res.Status != http.StatusOK || res.Body != "success" {
		t.Fatalf("callback answered %d %q, want 200 \"success\"", res.Status, res.Body)
	}
	return res.Token
}

func (r *rig) send(deliveryID, text string) (connectors.SendResult, error) {
	now := r.clock.Now()
	return r.ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: deliveryID, Recipient: customer,
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

// --- callbacks ------------------------------------------------------------

func TestURLVerification(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		name              string
		token, key, corp  string
		wantStatus        int
		wantEchoedMatches bool
	}{
		{"round trip", cbToken, aesKey, corpID, http.StatusOK, true},
		{"wrong token", "OtherToken", aesKey, corpID, http.StatusUnauthorized, false},
		{"wrong receiveid", cbToken, aesKey, "wwSomeOtherCorp", http.StatusUnauthorized, false},
		{"wrong aes key", cbToken, wecomfake.NewAESKey(), corpID, http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.fake.VerifyURL(context.Background(), r.hook.URL, tt.token, tt.key, tt.corp)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", got.Status, tt.wantStatus, got.Echoed)
			}
			if got.OK() != tt.wantEchoedMatches {
				t.Fatalf("echoed %q, want %q (match %v)", got.Echoed, got.Want, tt.wantEchoedMatches)
			}
		})
	}
	t.Run("echostr with an unencoded plus", func(t *testing.T) {
		for range 100 {
			q, err := wecomfake.URLCheckQuery(cbToken, aesKey, corpID, r.clock.Now(), "echo-123")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(q.Get("echostr"), "+") {
				continue
			}
			q.Set("echostr", strings.ReplaceAll(q.Get("echostr"), "+", " "))
			got, err := VerifyURL(cbToken, aesKey, corpID, q)
			if err != nil || got != "echo-123" {
				t.Fatalf("VerifyURL = %q, %v; want echo-123", got, err)
			}
			return
		}
		t.Skip("no echostr with a + in 100 tries")
	})
}

func TestCallbackGivesSyncHint(t *testing.T) {
	r := newRig(t)
	tok := r.notify(t)
	res := r.lastResult(t)
	if res.Events != nil {
		t.Errorf("events %v, want nil", res.Events)
	}
	if res.Sync == nil || res.Sync.Key != openKfID || res.Sync.Token != tok {
		t.Errorf("sync hint %+v, want {Key: %s, Token: %s}", res.Sync, openKfID, tok)
	}
	if res.Response.ContentType != "text/plain; charset=utf-8" || string(res.Response.Body) != "success" {
		t.Errorf("response %+v, want plain success", res.Response)
	}

	// The corp's callback URL also carries its other kf accounts: acknowledged, not fetched.
	if _, err := r.fake.Notify(context.Background(), r.hook.URL, cbToken, aesKey, corpID, "wkAnotherAccount"); err != nil {
		t.Fatal(err)
	}
	if res := r.lastResult(t); res.Sync != nil || string(res.Response.Body) != "success" {
		t.Errorf("other account: %+v, want success without sync", res)
	}
}

func TestCallbackRejected(t *testing.T) {
	r := newRig(t)
	now := r.clock.Now()
	valid, err := wecomfake.EncryptCallback(cbToken, aesKey, corpID, now, wecomfake.KfEventXML(corpID, "tok", openKfID, now))
	if err != nil {
		t.Fatal(err)
	}
	encOf := func(msg string, receiveID string) string {
		enc, err := wxcrypto.Encrypt(aesKey, receiveID, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	withQuery := func(edit func(url.Values)) *wecomfake.SignedCallback {
		q := url.Values{}
		for k, v := range valid.Query {
			q[k] = append([]string(nil), v...)
		}
		edit(q)
		return &wecomfake.SignedCallback{Query: q, Body: valid.Body}
	}
	tests := []struct {
		name   string
		method string
		cb     *wecomfake.SignedCallback
		want   string // verify, bad request
	}{
		{"tampered signature", "POST", withQuery(func(q url.Values) { q.Set("msg_signature", strings.Repeat("0", 40)) }), "verify"},
		{"missing signature", "POST", withQuery(func(q url.Values) { q.Del("msg_signature") }), "verify"},
		{"other timestamp", "POST", withQuery(func(q url.Values) { q.Set("timestamp", "1") }), "verify"},
		{"signed with another token", "POST", wecomfake.SignCallback("OtherToken", corpID, now, encOf("<xml/>", corpID)), "verify"},
		{"wrong receiveid", "POST", wecomfake.SignCallback(cbToken, corpID, now, encOf(string(wecomfake.KfEventXML(corpID, "t", openKfID, now)), "wwOtherCorp")), "verify"},
		{"encrypt not base64", "POST", wecomfake.SignCallback(cbToken, corpID, now, "%%%not-base64%%%"), "verify"},
		{"encrypt not whole blocks", "POST", wecomfake.SignCallback(cbToken, corpID, now, "QUJD"), "verify"},
		{"malformed outer XML", "POST", &wecomfake.SignedCallback{Query: valid.Query, Body: []byte("<xml><Encrypt>")}, "bad request"},
		{"no Encrypt", "POST", &wecomfake.SignedCallback{Query: valid.Query, Body: []byte("<xml><ToUserName>x</ToUserName></xml>")}, "bad request"},
		{"decrypted payload not XML", "POST", wecomfake.SignCallback(cbToken, corpID, now, encOf("not xml <", corpID)), "bad request"},
		{"kf event without Token", "POST", wecomfake.SignCallback(cbToken, corpID, now, encOf(string(wecomfake.KfEventXML(corpID, "", openKfID, now)), corpID)), "bad request"},
		{"PUT", "PUT", valid, "bad request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.ch.HandleWebhook(context.Background(), connectors.WebhookRequest{Method: tt.method, Query: tt.cb.Query, Body: tt.cb.Body})
			var verr *connectors.VerifyError
			var berr *connectors.BadRequestError
			switch {
			case tt.want == "verify" && !errors.As(err, &verr):
				t.Fatalf("got %v (%T), want *VerifyError", err, err)
			case tt.want == "bad request" && !errors.As(err, &berr):
				t.Fatalf("got %v (%T), want *BadRequestError", err, err)
			}
		})
	}

	// Over HTTP, as the platform sees it.
	for name, c := range map[string]struct{ token, corp string }{
		"bad signature":   {"OtherToken", corpID},
		"wrong receiveid": {cbToken, "wwOtherCorp"},
	} {
		t.Run(name+" over HTTP", func(t *testing.T) {
			res, err := r.fake.Notify(context.Background(), r.hook.URL, c.token, aesKey, c.corp, openKfID)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.Status)
			}
		})
	}
}

// --- sync_msg ---------------------------------------------------------------

func TestSyncPaging(t *testing.T) {
	r := newRig(t)
	r.fake.SetPageSize(2)
	enter := r.fake.CustomerEnters(openKfID, customer, "home", "order-42")
	hello := r.fake.CustomerSays(openKfID, customer, "你好，我的订单还没到")
	r.clock.Advance(time.Minute)
	img := r.fake.CustomerSends(openKfID, customer, "image", "MEDIA_IMG_1")
	r.fake.ServicerSays(openKfID, customer, "zhangsan", "您好，我帮您查一下")
	r.fake.CustomerSays("wkAnotherAccount", "wmSomeoneElse", "not ours")
	voice := r.fake.CustomerSends(openKfID, customer, "voice", "MEDIA_VOICE_1")
	file := r.fake.CustomerSends(openKfID, customer, "file", "MEDIA_FILE_1")
	bye := r.fake.CustomerSays(openKfID, customer, "谢谢")

	tok := r.notify(t)
	hint := *r.lastResult(t).Sync
	var got []connectors.InboundEvent
	var cursors []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("sync does not end")
		}
		res, err := r.ch.Sync(context.Background(), cursor, hint)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		got = append(got, res.Events...)
		if res.Cursor == "" || res.Cursor == cursor {
			t.Fatalf("page %d: cursor %q did not move from %q", page, res.Cursor, cursor)
		}
		cursor = res.Cursor
		cursors = append(cursors, cursor)
		if !res.More {
			break
		}
	}
	// 7 entries of this account, 2 a page.
	if len(cursors) != 4 {
		t.Errorf("%d pages, want 4", len(cursors))
	}
	want := []struct {
		id, kind, text, eventType, mediaID string
		sentAt                             int64
	}{
		{enter.MsgID, "event", "", "enter_session", "", enter.SendTime},
		{hello.MsgID, "message", "你好，我的订单还没到", "", "", hello.SendTime},
		{img.MsgID, "message", "[图片]", "", "MEDIA_IMG_1", img.SendTime},
		{voice.MsgID, "message", "[语音]", "", "MEDIA_VOICE_1", voice.SendTime},
		{file.MsgID, "message", "[文件]", "", "MEDIA_FILE_1", file.SendTime},
		{bye.MsgID, "message", "谢谢", "", "", bye.SendTime},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.ExternalID != w.id || string(e.Kind) != w.kind || e.Text != w.text || e.EventType != w.eventType {
			t.Errorf("event %d = {%s %s %q %s}, want {%s %s %q %s}", i, e.ExternalID, e.Kind, e.Text, e.EventType, w.id, w.kind, w.text, w.eventType)
		}
		if e.Sender.ExternalID != customer {
			t.Errorf("event %d: sender %q, want %q", i, e.Sender.ExternalID, customer)
		}
		if !e.SentAt.Equal(time.Unix(w.sentAt, 0)) {
			t.Errorf("event %d: sent at %v, want %v", i, e.SentAt, time.Unix(w.sentAt, 0))
		}
		if w.mediaID != "" && (len(e.Attachments) != 1 || e.Attachments[0].MediaID != w.mediaID) {
			t.Errorf("event %d: attachments %+v, want media %s", i, e.Attachments, w.mediaID)
		}
		if len(e.Raw) == 0 || !json.Valid(e.Raw) {
			t.Errorf("event %d: raw %q is not the platform's JSON", i, e.Raw)
		}
	}
	if got[0].Context["scene"] != "home" || got[0].Context["scene_param"] != "order-42" {
		t.Errorf("enter_session context %v, want scene and scene_param", got[0].Context)
	}

	// Nothing new: the cursor stays.
	res, err := r.ch.Sync(context.Background(), cursor, hint)
	if err != nil || len(res.Events) != 0 || res.More || res.Cursor != cursor {
		t.Errorf("resync = %+v, %v; want no events, no more, cursor %q", res, err, cursor)
	}

	// has_more with an empty page: keep going.
	r.fake.EmptyPages(1)
	later := r.fake.CustomerSays(openKfID, customer, "还在吗")
	res, err = r.ch.Sync(context.Background(), cursor, hint)
	if err != nil || len(res.Events) != 0 || !res.More {
		t.Fatalf("empty page = %+v, %v; want no events and More", res, err)
	}
	res, err = r.ch.Sync(context.Background(), res.Cursor, connectors.SyncHint{Key: openKfID, Token: tok})
	if err != nil || len(res.Events) != 1 || res.Events[0].ExternalID != later.MsgID || res.More {
		t.Fatalf("after empty page = %+v, %v; want %s", res, err, later.MsgID)
	}
}

func TestSyncErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(r *rig)
		hint      func(tok string) connectors.SyncHint
		wantErr   string // "", retryable, plain
		wantAfter time.Duration
		wantCode  int64
	}{
		{name: "token expired: refresh and retry once", setup: func(r *rig) { r.fake.ExpireTokens() }},
		{name: "45009", setup: func(r *rig) { r.fake.FailNext(wecomfake.PathSyncMsg, 1, wecomfake.ErrRateLimited) },
			wantErr: "retryable", wantAfter: time.Second, wantCode: 45009},
		{name: "system busy", setup: func(r *rig) { r.fake.FailNext(wecomfake.PathSyncMsg, 1, wecomfake.ErrSystemBusy) },
			wantErr: "retryable", wantCode: -1},
		{name: "HTTP 502", setup: func(r *rig) { r.fake.FailNextHTTP(wecomfake.PathSyncMsg, 1, http.StatusBadGateway) }, wantErr: "retryable"},
		{name: "gettoken 503", setup: func(r *rig) {
			r.fake.ExpireTokens()
			r.fake.FailNextHTTP(wecomfake.PathGetToken, 1, http.StatusServiceUnavailable)
		}, wantErr: "retryable"},
		{name: "other errcode", setup: func(r *rig) { r.fake.FailNext(wecomfake.PathSyncMsg, 1, wecomfake.ErrInvalidParam) },
			wantErr: "plain", wantCode: 40058},
		{name: "stale callback token", setup: func(r *rig) { r.clock.Advance(11 * time.Minute) },
			wantErr: "plain", wantCode: wecomfake.ErrInvalidMsgToken},
		{name: "poll without token", hint: func(string) connectors.SyncHint { return connectors.SyncHint{Key: openKfID} },
			wantErr: "plain", wantCode: wecomfake.ErrInvalidMsgToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			msg := r.fake.CustomerSays(openKfID, customer, "在吗")
			tok := r.notify(t)
			hint := connectors.SyncHint{Key: openKfID, Token: tok}
			if tt.hint != nil {
				hint = tt.hint(tok)
			}
			// Warm the token cache, so expiry is noticed by the platform.
			if err := r.ch.Test(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(r)
			}
			res, err := r.ch.Sync(context.Background(), "", hint)
			var re *connectors.RetryableError
			var ae *APIError
			switch tt.wantErr {
			case "":
				if err != nil || len(res.Events) != 1 || res.Events[0].ExternalID != msg.MsgID {
					t.Fatalf("Sync = %+v, %v; want the message", res, err)
				}
				if n := r.fake.TokenFetches(); n != 2 {
					t.Errorf("%d token fetches, want 2", n)
				}
				return
			case "retryable":
				re = asRetryable(t, err)
				if re.After != tt.wantAfter {
					t.Errorf("After %v, want %v", re.After, tt.wantAfter)
				}
			case "plain":
				if errors.As(err, &re) || connectors.IsPermanent(err) || err == nil {
					t.Fatalf("got %v (%T), want a plain error", err, err)
				}
			}
			if tt.wantCode != 0 && (!errors.As(err, &ae) || ae.Code != tt.wantCode) {
				t.Errorf("got %v, want errcode %d", err, tt.wantCode)
			}
		})
	}
}

// --- send_msg ---------------------------------------------------------------

func TestSend(t *testing.T) {
	r := newRig(t)
	r.fake.CustomerSays(openKfID, customer, "你好")
	res, err := r.send("msg-TWVzc2FnZTox", "您好，请问有什么可以帮您？")
	if err != nil {
		t.Fatal(err)
	}
	if want := MsgID("msg-TWVzc2FnZTox"); res.ExternalID != want {
		t.Errorf("external id %q, want %q", res.ExternalID, want)
	}
	sent := r.fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d messages sent, want 1", len(sent))
	}
	s := sent[0]
	if s.MsgID != res.ExternalID || s.ToUser != customer || s.OpenKfID != openKfID || s.MsgType != "text" || s.Content != "您好，请问有什么可以帮您？" {
		t.Errorf("sent %+v", s)
	}
}

func TestSendRefusedBeforeCalling(t *testing.T) {
	r := newRig(t)
	r.fake.CustomerSays(openKfID, customer, "你好")
	ago := func(d time.Duration) *time.Time { t := r.clock.Now().Add(-d); return &t }
	tests := []struct {
		name     string
		msg      connectors.OutboundMessage
		wantText string
	}{
		{"never wrote", connectors.OutboundMessage{Text: "hi"}, "has not written"},
		{"wrote 48 h ago", connectors.OutboundMessage{Text: "hi", LastInboundAt: ago(48 * time.Hour)}, "48 hours"},
		{"wrote 3 days ago", connectors.OutboundMessage{Text: "hi", LastInboundAt: ago(72 * time.Hour)}, "48 小时"},
		{"too long", connectors.OutboundMessage{Text: strings.Repeat("长", 683), LastInboundAt: ago(time.Minute)}, "2048"},
		{"empty", connectors.OutboundMessage{Text: "  \n", LastInboundAt: ago(time.Minute)}, "empty"},
		{"attachment", connectors.OutboundMessage{Text: "see file", LastInboundAt: ago(time.Minute),
			Attachments: []models.Attachment{{Name: "a.pdf", URL: "https://example.com/a.pdf"}}}, "Attachments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.msg.DeliveryID, tt.msg.Recipient = "msg-1", customer
			_, err := r.ch.Send(context.Background(), tt.msg)
			if p := asPermanent(t, err); !strings.Contains(p.Reason, tt.wantText) {
				t.Errorf("reason %q, want it to mention %q", p.Reason, tt.wantText)
			}
		})
	}
	if n := r.fake.Calls(wecomfake.PathSendMsg) + r.fake.Calls(wecomfake.PathGetToken); n != 0 {
		t.Errorf("%d calls reached the platform, want 0", n)
	}
	// 2048 bytes exactly is fine (682 × 3 bytes + 2).
	if _, err := r.send("msg-2", strings.Repeat("长", 682)+"ok"); err != nil {
		t.Errorf("2048 bytes: %v", err)
	}
}

func TestSendPlatformWindow(t *testing.T) {
	t.Run("five replies, then a customer message opens five more", func(t *testing.T) {
		r := newRig(t)
		r.fake.CustomerSays(openKfID, customer, "你好")
		for i := range 5 {
			if _, err := r.send(fmt.Sprintf("msg-%d", i), "第几条"); err != nil {
				t.Fatalf("reply %d: %v", i+1, err)
			}
		}
		_, err := r.send("msg-5", "第六条")
		if p := asPermanent(t, err); !strings.Contains(p.Reason, "5 replies") {
			t.Errorf("reason %q, want the 5-replies rule", p.Reason)
		}
		r.fake.CustomerSays(openKfID, customer, "还有问题")
		if _, err := r.send("msg-6", "请讲"); err != nil {
			t.Fatalf("after the customer wrote again: %v", err)
		}
		if n := len(r.fake.Sent()); n != 6 {
			t.Errorf("%d sent, want 6", n)
		}
	})
	t.Run("platform says 48 h passed", func(t *testing.T) {
		r := newRig(t)
		r.fake.CustomerSays(openKfID, customer, "你好")
		r.clock.Advance(49 * time.Hour)
		// The hub believes the customer wrote just now (its view is stale);
		// the platform knows better. The token expired meanwhile too.
		_, err := r.send("msg-1", "您好")
		if p := asPermanent(t, err); !strings.Contains(p.Reason, "48 hours") {
			t.Errorf("reason %q, want the 48 h rule", p.Reason)
		}
	})
	t.Run("session state", func(t *testing.T) {
		r := newRig(t)
		r.fake.CustomerSays(openKfID, customer, "你好")
		r.fake.FailNext(wecomfake.PathSendMsg, 1, 95018)
		_, err := r.send("msg-1", "您好")
		if p := asPermanent(t, err); !strings.Contains(p.Reason, "95018") {
			t.Errorf("reason %q, want the errcode", p.Reason)
		}
	})
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
		{"platform says invalid (40014)", func(r *rig) { r.fake.FailNext(wecomfake.PathSendMsg, 1, wecomfake.ErrInvalidToken) }, false, 2, 3},
		{"cached token reached its expiry", func(r *rig) { r.clock.Advance(2 * time.Hour) }, false, 2, 2},
		{"token trouble twice: retry only once", func(r *rig) { r.fake.FailNext(wecomfake.PathSendMsg, 2, wecomfake.ErrTokenExpired) }, true, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.fake.CustomerSays(openKfID, customer, "你好")
			if _, err := r.send("msg-1", "first"); err != nil {
				t.Fatal(err)
			}
			r.fake.CustomerSays(openKfID, customer, "再问一下") // keeps the window open across clock moves
			tt.setup(r)
			_, err := r.send("msg-2", "second")
			if tt.wantErr {
				asRetryable(t, err)
			} else if err != nil {
				t.Fatalf("second send: %v", err)
			}
			if n := r.fake.TokenFetches(); n != tt.wantFetches {
				t.Errorf("%d token fetches, want %d", n, tt.wantFetches)
			}
			if n := r.fake.Calls(wecomfake.PathSendMsg); n != tt.wantSendHits {
				t.Errorf("%d send_msg calls, want %d", n, tt.wantSendHits)
			}
		})
	}
}

func TestSendRetryable(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(r *rig)
		wantAfter time.Duration
	}{
		{"45009", func(r *rig) { r.fake.FailNext(wecomfake.PathSendMsg, 1, wecomfake.ErrRateLimited) }, time.Second},
		{"HTTP 500", func(r *rig) { r.fake.FailNextHTTP(wecomfake.PathSendMsg, 1, http.StatusInternalServerError) }, 0},
		{"gettoken rate limited", func(r *rig) { r.fake.FailNext(wecomfake.PathGetToken, 1, wecomfake.ErrRateLimited) }, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.fake.CustomerSays(openKfID, customer, "你好")
			tt.setup(r)
			_, err := r.send("msg-1", "您好")
			if re := asRetryable(t, err); re.After != tt.wantAfter {
				t.Errorf("After %v, want %v", re.After, tt.wantAfter)
			}
			if len(r.fake.Sent()) != 0 {
				t.Error("a message was sent")
			}
		})
	}
	t.Run("network down, no secrets in the error", func(t *testing.T) {
		r := newRig(t)
		r.fake.Close()
		_, err := r.send("msg-1", "您好")
		asRetryable(t, err)
		if s := err.Error(); strings.Contains(s, secret) || strings.Contains(s, "corpsecret") || strings.Contains(s, "access_token") {
			t.Errorf("error leaks the request URL: %s", s)
		}
	})
}

func TestSendDuplicateAfterLostResponse(t *testing.T) {
	r := newRig(t)
	r.fake.CustomerSays(openKfID, customer, "你好")
	r.fake.DropNext(wecomfake.PathSendMsg, 1)
	_, err := r.send("msg-TWVzc2FnZTo5", "您好")
	asRetryable(t, err) // the answer was lost; the dispatcher retries
	if n := len(r.fake.Sent()); n != 1 {
		t.Fatalf("%d sent, want 1 (the platform applied it)", n)
	}
	res, err := r.send("msg-TWVzc2FnZTo5", "您好")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if want := MsgID("msg-TWVzc2FnZTo5"); res.ExternalID != want {
		t.Errorf("external id %q, want %q", res.ExternalID, want)
	}
	if n := len(r.fake.Sent()); n != 1 {
		t.Errorf("%d sent after the retry, want still 1", n)
	}
	if n := r.fake.Calls(wecomfake.PathSendMsg); n != 2 {
		t.Errorf("%d send_msg calls, want 2", n)
	}
}

func TestMsgID(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-zA-Z_-]{1,32}$`)
	seen := map[string]string{}
	for _, d := range []string{"msg-1", "msg-2", "msg-TWVzc2FnZToxMjM0NTY3ODkw", "", strings.Repeat("x", 500), "消息/1 +?"} {
		id := MsgID(d)
		if !valid.MatchString(id) {
			t.Errorf("MsgID(%q) = %q: not ≤32 of [0-9a-zA-Z_-]", d, id)
		}
		if MsgID(d) != id {
			t.Errorf("MsgID(%q) is not stable", d)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("MsgID(%q) = MsgID(%q)", d, other)
		}
		seen[id] = d
	}
}

// --- test, settings, concurrency -------------------------------------------

func TestTest(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(map[string]string)
		wantErr string
	}{
		{"ok", nil, ""},
		{"bad secret", func(s map[string]string) { s["secret"] = "wrong-secret" }, "40001"},
		{"bad corpId", func(s map[string]string) { s["corpId"] = "wwWrongCorp" }, "40013"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			ch := r.newChannel(t, tokencache.New(), tt.edit)
			err := ch.Test(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				// The token is kept for the calls that follow.
				r.fake.CustomerSays(openKfID, customer, "你好")
				now := r.clock.Now()
				if _, err := ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: "d", Recipient: customer, Text: "hi", LastInboundAt: &now}); err != nil {
					t.Fatal(err)
				}
				if n := r.fake.TokenFetches(); n != 1 {
					t.Errorf("%d token fetches, want 1", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Test = %v, want an error with %s", err, tt.wantErr)
			}
		})
	}
}

func TestSpec(t *testing.T) {
	c := Connector()
	base := func() map[string]any {
		return map[string]any{"corpId": corpID, "secret": secret, "token": cbToken, "encodingAESKey": aesKey, "openKfId": openKfID}
	}
	if _, err := c.Spec.Normalize(base()); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	for _, bad := range []struct{ field, value string }{
		{"encodingAESKey", aesKey[:42]},
		{"encodingAESKey", aesKey + "A"},
		{"encodingAESKey", strings.Repeat("!", 43)},
		{"token", "has spaces in it"},
		{"corpId", "ww corp"},
		{"openKfId", "wk/../x"},
	} {
		in := base()
		in[bad.field] = bad.value
		var fe *connectors.FieldError
		if _, err := c.Spec.Normalize(in); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("%s=%q: got %v, want a FieldError", bad.field, bad.value, err)
		}
	}
	if got := strings.Join(c.Spec.SecretKeys(), ","); got != "secret,token,encodingAESKey" {
		t.Errorf("secret keys %s", got)
	}
	if !strings.Contains(c.Spec.Setup, "{webhookUrl}") || !strings.Contains(c.Spec.Setup, "EncodingAESKey") {
		t.Errorf("setup text %q", c.Spec.Setup)
	}
	if _, err := c.New(connectors.Config{Settings: map[string]string{"corpId": corpID, "secret": "s", "token": "t", "encodingAESKey": "short", "openKfId": "k"}}); err == nil {
		t.Error("New accepted a bad encodingAESKey")
	}
}

// Several channels on two corps, built per call as the hub does, used
// concurrently: each channel fetches its token once.
func TestConcurrentChannels(t *testing.T) {
	conn := Connector()
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	type corp struct {
		fake         *wecomfake.Server
		id, channel  string
		settings     map[string]string
		hook         *httptest.Server
		webhookCalls func() connectors.Channel
	}
	var corps []*corp
	for i := range 2 {
		id := fmt.Sprintf("wwCorp%d", i)
		f := wecomfake.New(id, "secret-"+id)
		t.Cleanup(f.Close)
		f.SetClock(clk.Now)
		c := &corp{fake: f, id: id, channel: fmt.Sprintf("ch-%d", i), settings: map[string]string{
			"corpId": id, "secret": "secret-" + id, "token": cbToken, "encodingAESKey": aesKey, "openKfId": openKfID}}
		c.webhookCalls = func() connectors.Channel {
			ch, err := conn.New(connectors.Config{BaseURL: f.URL, ChannelID: c.channel, Settings: c.settings, Now: clk.Now})
			if err != nil {
				t.Error(err)
			}
			return ch
		}
		c.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			res, err := c.webhookCalls().(connectors.WebhookReceiver).HandleWebhook(req.Context(),
				connectors.WebhookRequest{Method: req.Method, Query: req.URL.Query(), Body: body})
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			if res.Sync != nil {
				w.Header().Set("X-Token", res.Sync.Token)
			}
			_, _ = w.Write(res.Response.Body)
		}))
		t.Cleanup(c.hook.Close)
		corps = append(corps, c)
	}
	var wg sync.WaitGroup
	for _, c := range corps {
		for u := range 8 {
			user := fmt.Sprintf("wmUser%02d", u)
			c.fake.CustomerSays(openKfID, user, "你好")
			wg.Go(func() {
				for m := range 3 {
					now := clk.Now()
					_, err := c.webhookCalls().Send(context.Background(), connectors.OutboundMessage{
						DeliveryID: fmt.Sprintf("%s-%s-%d", c.channel, user, m), Recipient: user, Text: "hi", LastInboundAt: &now})
					if err != nil {
						t.Errorf("%s send: %v", c.id, err)
					}
				}
			})
		}
		wg.Go(func() {
			res, err := c.fake.Notify(context.Background(), c.hook.URL, cbToken, aesKey, c.id, openKfID)
			if err != nil || res.Status != http.StatusOK {
				t.Errorf("%s notify: %+v, %v", c.id, res, err)
				return
			}
			sr, err := c.webhookCalls().(connectors.Syncer).Sync(context.Background(), "", connectors.SyncHint{Key: openKfID, Token: res.Token})
			if err != nil || len(sr.Events) != 8 {
				t.Errorf("%s sync: %+v, %v", c.id, sr, err)
			}
		})
	}
	wg.Wait()
	for _, c := range corps {
		if n := c.fake.TokenFetches(); n != 1 {
			t.Errorf("%s: %d token fetches, want 1", c.id, n)
		}
		if n := len(c.fake.Sent()); n != 24 {
			t.Errorf("%s: %d sent, want 24", c.id, n)
		}
	}
}

func TestDecodeMessages(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	list := []json.RawMessage{
		raw(`{"msgid":"m1","open_kfid":"wk","external_userid":"wm1","send_time":1700000000,"origin":3,"msgtype":"location","location":{"latitude":23.1,"longitude":113.3,"name":"广州塔","address":"海珠区"}}`),
		raw(`{"msgid":"m2","open_kfid":"wk","external_userid":"wm1","send_time":1700000001,"origin":5,"msgtype":"text","text":{"content":"servicer"}}`),
		raw(`{"msgid":"m3","send_time":1700000002,"origin":4,"msgtype":"event","event":{"event_type":"servicer_status_change","servicer_userid":"zhangsan","status":1}}`),
		raw(`{"msgid":"m4","external_userid":"wm1","origin":3,"msgtype":"text","text":{"content":42}}`),
		raw(`{"msgid":"m5","open_kfid":"wk","external_userid":"wm1","origin":3,"msgtype":"miniprogram","miniprogram":{"title":"x"}}`),
		raw(`{"msgid":"m6","origin":4,"msgtype":"event","event":{"event_type":"msg_send_fail","open_kfid":"wk","external_userid":"wm1","fail_msgid":"kh1","fail_type":6}}`),
		raw(`not json`),
		raw(`{"msgid":"","external_userid":"wm1","origin":3,"msgtype":"text","text":{"content":"no id"}}`),
	}
	got := DecodeMessages(list)
	var summary []string
	for _, e := range got {
		summary = append(summary, fmt.Sprintf("%s|%s|%s|%s|%s", e.ExternalID, e.Kind, e.Sender.ExternalID, e.Text, e.EventType))
	}
	want := []string{
		"m1|message|wm1|[位置] 广州塔 海珠区|",
		"m4|message|wm1|[无法解析的消息]|",
		"m5|message|wm1|[miniprogram]|",
		"m6|event|wm1||msg_send_fail",
	}
	if strings.Join(summary, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
	}
	if len(got) == 4 && got[3].Context["fail_type"] != float64(6) {
		t.Errorf("msg_send_fail context %v", got[3].Context)
	}
}
