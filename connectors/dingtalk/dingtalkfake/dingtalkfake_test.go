package dingtalkfake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

type answer struct {
	Status      int
	ErrCode     int    `json:"errcode"`
	AccessToken string `json:"access_token"`
	TaskID      int64  `json:"task_id"`
	Code        string `json:"code"`
	NewToken    string `json:"accessToken"`
	ID          string `json:"id"`
}

func call(t *testing.T, s *Server, method, path string, header http.Header, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out answer
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	out.Status = resp.StatusCode
	return out
}

var (
	jsonHeader = http.Header{"Content-Type": {"application/json"}}
	formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
)

func TestTokensAndWorkNotices(t *testing.T) {
	s := New(App{AppKey: "dingk", AppSecret: "sec", AgentID: 42}, Robot{})
	defer s.Close()

	if a := call(t, s, "GET", PathGetToken+"?appkey=dingk&appsecret=bad", nil, nil); a.Status != 200 || a.ErrCode != ErrInvalidApp {
		t.Errorf("bad secret: %+v", a)
	}
	old := call(t, s, "GET", PathGetToken+"?appkey=dingk&appsecret=sec", nil, nil).AccessToken
	q := "?access_token=" + url.QueryEscape(old)
	msg := `{"msgtype":"markdown","markdown":{"title":"t","text":"x"}}`

	// The documented form body and a JSON body both work.
	form := url.Values{"agent_id": {"42"}, "userid_list": {"a,b"}, "msg": {msg}}.Encode()
	if a := call(t, s, "POST", PathAsyncSend+q, formHeader, []byte(form)); a.ErrCode != 0 || a.TaskID == 0 {
		t.Errorf("form: %+v", a)
	}
	js := `{"agent_id":42,"userid_list":"a","msg":` + msg + `}`
	if a := call(t, s, "POST", PathAsyncSend+q, jsonHeader, []byte(js)); a.ErrCode != 0 || a.TaskID == 0 {
		t.Errorf("json: %+v", a)
	}
	if n := s.WorkNotices(); len(n) != 2 || n[0].Encoding != "form" || n[1].Encoding != "json" || len(n[0].UserIDs) != 2 {
		t.Errorf("notices %+v", n)
	}
	if a := call(t, s, "POST", PathAsyncSend+q, jsonHeader, []byte(strings.Replace(js, "42", "7", 1))); a.ErrCode != ErrInvalidAgentID {
		t.Errorf("wrong agent: %+v", a)
	}

	// The new token: JSON only.
	if a := call(t, s, "POST", PathAccessToken, formHeader, []byte("appKey=dingk&appSecret=sec")); a.Status != 400 {
		t.Errorf("form to accessToken: %+v", a)
	}
	if a := call(t, s, "POST", PathAccessToken, jsonHeader, []byte(`{"appKey":"dingk","appSecret":"bad"}`)); a.Status != 400 || a.Code != CodeInvalidCredentials {
		t.Errorf("bad secret: %+v", a)
	}
	tok := call(t, s, "POST", PathAccessToken, jsonHeader, []byte(`{"appKey":"dingk","appSecret":"sec"}`)).NewToken
	h := http.Header{"Content-Type": {"application/json"}, "X-Acs-Dingtalk-Access-Token": {tok}}
	todo := []byte(`{"subject":"s","executorIds":["u"],"sourceId":"T-1"}`)
	first := call(t, s, "POST", "/v1.0/todo/users/uid/tasks?operatorId=uid", h, todo)
	again := call(t, s, "POST", "/v1.0/todo/users/uid/tasks?operatorId=uid", h, todo)
	if first.Status != 200 || first.ID == "" || again.ID != first.ID || len(s.Todos()) != 1 {
		t.Errorf("to-do %+v, again %+v", first, again)
	}
	if a := call(t, s, "POST", "/v1.0/todo/users/uid/tasks", h, []byte(`{}`)); a.Status != 400 || a.Code != CodeInvalidParameter {
		t.Errorf("no subject: %+v", a)
	}

	// Expiry: the old host at HTTP 200, the new one with HTTP 400.
	s.ExpireTokens()
	if a := call(t, s, "POST", PathAsyncSend+q, jsonHeader, []byte(js)); a.Status != 200 || a.ErrCode != ErrTokenExpired {
		t.Errorf("old expired: %+v", a)
	}
	if a := call(t, s, "POST", PathProcessInstance, h, []byte(`{}`)); a.Status != 400 || a.Code != CodeInvalidAuthentication {
		t.Errorf("new expired: %+v", a)
	}
	if a := call(t, s, "POST", PathAsyncSend+"?access_token=nope", jsonHeader, []byte(js)); a.ErrCode != ErrInvalidToken {
		t.Errorf("unknown token: %+v", a)
	}
	if n := s.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches", n)
	}
}

func TestRobot(t *testing.T) {
	const token, secret = "robottoken0123456789", "SECabcdef0123456789"
	s := New(App{}, Robot{AccessToken: token, Secret: secret})
	defer s.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	send := func(at time.Time, sec, uuid string) int {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		q := url.Values{"access_token": {token}, "timestamp": {ts}, "sign": {Sign(sec, ts)}}
		body := `{"msgtype":"markdown","markdown":{"title":"t","text":"x"},"msgUuid":"` + uuid + `"}`
		return call(t, s, "POST", PathRobotSend+"?"+q.Encode(), jsonHeader, []byte(body)).ErrCode
	}
	for _, tt := range []struct {
		name string
		at   time.Time
		sec  string
		uuid string
		want int
	}{
		{"ok", now, secret, "u1", 0},
		{"repeat msgUuid", now, secret, "u1", 0},
		{"wrong secret", now, "SECother", "u2", ErrRobotSecurity},
		{"timestamp 61 min old", now.Add(-61 * time.Minute), secret, "u2", ErrRobotSecurity},
		{"timestamp 59 min ahead", now.Add(59 * time.Minute), secret, "u2", 0},
	} {
		if got := send(tt.at, tt.sec, tt.uuid); got != tt.want {
			t.Errorf("%s: errcode %d, want %d", tt.name, got, tt.want)
		}
	}
	if m := s.RobotMessages(); len(m) != 2 || m[0].Received != 2 {
		t.Errorf("messages %+v", m)
	}
}
