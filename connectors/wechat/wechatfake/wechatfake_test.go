package wechatfake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

const (
	appID  = "wx5d8e2f1a3b4c6d7e"
	secret = "0123456789abcdef0123456789abcdef"
)

func TestPushShapes(t *testing.T) {
	s := New(appID, secret)
	defer s.Close()
	now := time.Unix(1763888400, 0)
	s.SetClock(func() time.Time { return now })
	msg := s.UserSays("oUser1", "a ]]> b <c>")
	var m struct {
		ToUserName, FromUserName, MsgType, Content string
		CreateTime                                 int64
		MsgID                                      uint64 `xml:"MsgId"`
	}
	if err := xml.Unmarshal(msg, &m); err != nil {
		t.Fatal(err)
	}
	if m.ToUserName != s.OriginalID || m.FromUserName != "oUser1" || m.MsgType != "text" || m.Content != "a ]]> b <c>" ||
		m.CreateTime != now.Unix() || m.MsgID == 0 {
		t.Errorf("push %+v from %s", m, msg)
	}
	if last, ok := s.LastInteraction("oUser1"); !ok || !last.Equal(now) {
		t.Errorf("last interaction %v %v", last, ok)
	}

	p := PlainPush("tok", now, msg)
	q := p.Query
	if q.Get("signature") != wxcrypto.Signature("tok", q.Get("timestamp"), q.Get("nonce")) || q.Get("openid") != "oUser1" ||
		!bytes.Equal(p.Body, msg) || q.Has("encrypt_type") {
		t.Errorf("plain push %v", q)
	}

	key := NewAESKey()
	sp, err := SafePush("tok", key, appID, now, msg)
	if err != nil {
		t.Fatal(err)
	}
	var outer struct{ ToUserName, Encrypt string }
	if err := xml.Unmarshal(sp.Body, &outer); err != nil {
		t.Fatal(err)
	}
	q = sp.Query
	if q.Get("encrypt_type") != "aes" || q.Get("msg_signature") != wxcrypto.Signature("tok", q.Get("timestamp"), q.Get("nonce"), outer.Encrypt) ||
		outer.ToUserName != s.OriginalID {
		t.Errorf("safe push %v %s", q, sp.Body)
	}
	plain, rid, err := wxcrypto.Decrypt(key, outer.Encrypt)
	if err != nil || rid != appID || !bytes.Equal(plain, msg) {
		t.Errorf("safe push opens to %q for %q, %v", plain, rid, err)
	}
}

type apiAnswer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func get(t *testing.T, s *Server, q url.Values) apiAnswer {
	t.Helper()
	resp, err := http.Get(s.URL + PathToken + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func send(t *testing.T, s *Server, token, to, content string) apiAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"touser": to, "msgtype": "text", "text": map[string]string{"content": content}})
	resp, err := http.Post(s.URL+PathCustomSend+"?access_token="+url.QueryEscape(token), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTokenAndSend(t *testing.T) {
	s := New(appID, secret)
	defer s.Close()
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	tq := func(app, sec string) url.Values {
		return url.Values{"grant_type": {"client_credential"}, "appid": {app}, "secret": {sec}}
	}
	for _, tt := range []struct {
		q    url.Values
		code int
	}{
		{tq("wxWrongWrongWrong0", secret), ErrInvalidAppID},
		{tq(appID, "ffffffffffffffffffffffffffffffff"), ErrInvalidSecret},
		{tq(appID, ""), ErrMissingSecret},
		{url.Values{"appid": {appID}, "secret": {secret}}, ErrInvalidGrantType},
	} {
		if a := get(t, s, tt.q); a.ErrCode != tt.code || a.AccessToken != "" || !strings.Contains(a.ErrMsg, "rid: ") {
			t.Errorf("%v: %+v, want errcode %d", tt.q, a, tt.code)
		}
	}
	s.SetIPWhitelist("192.0.2.1")
	if a := get(t, s, tq(appID, secret)); a.ErrCode != ErrIPNotWhitelisted || !strings.Contains(a.ErrMsg, "invalid ip 127.0.0.1") {
		t.Errorf("whitelist: %+v", a)
	}
	s.SetIPWhitelist()
	first := get(t, s, tq(appID, secret))
	if first.ErrCode != 0 || first.AccessToken == "" || first.ExpiresIn != 7200 {
		t.Fatalf("token: %+v", first)
	}

	if a := send(t, s, first.AccessToken, "oNobody", "hi"); a.ErrCode != ErrInvalidOpenID {
		t.Errorf("unknown openid: %+v", a)
	}
	s.UserSays("oUser1", "你好")
	if a := send(t, s, first.AccessToken, "oUser1", "您好"); a.ErrCode != 0 {
		t.Errorf("send: %+v", a)
	}
	if a := send(t, s, "bogus", "oUser1", "您好"); a.ErrCode != ErrInvalidCredential {
		t.Errorf("bogus token: %+v", a)
	}
	if a := send(t, s, first.AccessToken, "oUser1", strings.Repeat("x", MaxContentBytes+1)); a.ErrCode != ErrContentTooLong {
		t.Errorf("too long: %+v", a)
	}

	// A new token retires the first after 5 minutes.
	second := get(t, s, tq(appID, secret))
	advance(TokenOverlap)
	if a := send(t, s, first.AccessToken, "oUser1", "x"); a.ErrCode != ErrTokenExpired {
		t.Errorf("retired token: %+v", a)
	}
	if a := send(t, s, second.AccessToken, "oUser1", "x"); a.ErrCode != 0 {
		t.Errorf("new token: %+v", a)
	}

	s.SetReplyLimit(2)
	if a := send(t, s, second.AccessToken, "oUser1", "x"); a.ErrCode != ErrOverLimit {
		t.Errorf("reply limit: %+v", a)
	}
	s.UserEvent("oUser1", "CLICK", "MENU_HELP") // an interaction reopens the count
	if a := send(t, s, second.AccessToken, "oUser1", "x"); a.ErrCode != 0 {
		t.Errorf("after a click: %+v", a)
	}
	s.SetReplyLimit(0)

	advance(ReplyWindow)
	if a := send(t, s, second.AccessToken, "oUser1", "x"); a.ErrCode != ErrTokenExpired {
		t.Errorf("token after 48 h: %+v", a)
	}
	third := get(t, s, tq(appID, secret))
	if a := send(t, s, third.AccessToken, "oUser1", "x"); a.ErrCode != ErrWindowClosed {
		t.Errorf("window: %+v", a)
	}
	s.UserSays("oUser1", "在吗")
	s.UserEvent("oUser1", "unsubscribe", "")
	if a := send(t, s, third.AccessToken, "oUser1", "x"); a.ErrCode != ErrWindowClosed {
		t.Errorf("after unsubscribe: %+v", a)
	}
	if n := len(s.Sent()); n != 3 {
		t.Errorf("%d sent, want 3", n)
	}
	if n := s.TokenFetches(); n != 3 {
		t.Errorf("%d token fetches, want 3", n)
	}
}
