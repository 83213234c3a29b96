package wecomfake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type apiAnswer struct {
	ErrCode     int       `json:"errcode"`
	AccessToken string    `json:"access_token"`
	MsgID       string    `json:"msgid"`
	NextCursor  string    `json:"next_cursor"`
	HasMore     int       `json:"has_more"`
	MsgList     []Message `json:"msg_list"`
}

func call(t *testing.T, s *Server, method, path string, query url.Values, body any) apiAnswer {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, s.URL+path+"?"+query.Encode(), rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAPI(t *testing.T) {
	s := New("wwCorp", "sec")
	defer s.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })

	for _, tt := range []struct {
		q    url.Values
		want int
	}{
		{url.Values{"corpsecret": {"sec"}}, ErrMissingCorpID},
		{url.Values{"corpid": {"wwCorp"}}, ErrMissingSecret},
		{url.Values{"corpid": {"wwOther"}, "corpsecret": {"sec"}}, ErrInvalidCorpID},
		{url.Values{"corpid": {"wwCorp"}, "corpsecret": {"bad"}}, ErrInvalidSecret},
		{url.Values{"corpid": {"wwCorp"}, "corpsecret": {"sec"}}, 0},
	} {
		if got := call(t, s, "GET", PathGetToken, tt.q, nil); got.ErrCode != tt.want {
			t.Errorf("gettoken %v: errcode %d, want %d", tt.q, got.ErrCode, tt.want)
		}
	}
	tok := call(t, s, "GET", PathGetToken, url.Values{"corpid": {"wwCorp"}, "corpsecret": {"sec"}}, nil).AccessToken
	at := url.Values{"access_token": {tok}}
	msgTok := s.IssueMsgToken()
	s.CustomerSays("wk1", "wm1", "hi")

	sync := func(body map[string]any) apiAnswer { return call(t, s, "POST", PathSyncMsg, at, body) }
	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"no token":   {map[string]any{"open_kfid": "wk1"}, ErrInvalidMsgToken},
		"bad token":  {map[string]any{"token": "nope"}, ErrInvalidMsgToken},
		"limit 1001": {map[string]any{"token": msgTok, "limit": 1001}, ErrInvalidParam},
		"bad cursor": {map[string]any{"token": msgTok, "cursor": "garbage!"}, ErrInvalidParam},
		"ok":         {map[string]any{"token": msgTok, "open_kfid": "wk1"}, 0},
	} {
		if got := sync(tt.body); got.ErrCode != tt.want {
			t.Errorf("sync_msg %s: errcode %d, want %d", name, got.ErrCode, tt.want)
		}
	}
	if got := call(t, s, "POST", PathSyncMsg, url.Values{"access_token": {"nope"}}, map[string]any{"token": msgTok}); got.ErrCode != ErrInvalidToken {
		t.Errorf("unknown access_token: errcode %d", got.ErrCode)
	}

	send := func(msgid, content string) int {
		return call(t, s, "POST", PathSendMsg, at, map[string]any{"touser": "wm1", "open_kfid": "wk1", "msgid": msgid,
			"msgtype": "text", "text": map[string]string{"content": content}}).ErrCode
	}
	for _, tt := range []struct {
		msgid, content string
		want           int
	}{
		{"bad id!", "x", ErrInvalidParam},
		{strings.Repeat("a", 33), "x", ErrInvalidParam},
		{"id1", "", ErrEmptyContent},
		{"id1", strings.Repeat("x", 2049), ErrContentTooLong},
		{"id1", "x", 0},
		{"id1", "x", ErrDuplicateMsgID},
		{"", "x", 0},
	} {
		if got := send(tt.msgid, tt.content); got != tt.want {
			t.Errorf("send_msg msgid=%q len=%d: errcode %d, want %d", tt.msgid, len(tt.content), got, tt.want)
		}
	}
	if n := len(s.Sent()); n != 2 {
		t.Errorf("%d sent, want 2", n)
	}

	s.ExpireTokens()
	if got := send("id2", "x"); got != ErrTokenExpired {
		t.Errorf("after ExpireTokens: errcode %d, want %d", got, ErrTokenExpired)
	}
}
