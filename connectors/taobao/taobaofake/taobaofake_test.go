package taobaofake

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// post sends a raw gateway call signed with md5 (the fake's own signer is
// checked against a hand-made digest first).
func post(t *testing.T, s *Server, params url.Values, mutate func(url.Values)) map[string]json.RawMessage {
	t.Helper()
	f := url.Values{"app_key": {"k"}, "v": {"2.0"}, "format": {"json"}, "sign_method": {"md5"},
		"timestamp": {s.Now().In(gmt8).Format(timeLayout)}}
	for k, v := range params {
		f[k] = v
	}
	f.Set("sign", sign(f, "sec", "md5"))
	if mutate != nil {
		mutate(f)
	}
	resp, err := s.Client().PostForm(s.GatewayURL(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func code(t *testing.T, out map[string]json.RawMessage) int {
	t.Helper()
	var e struct{ Code int }
	if raw, ok := out["error_response"]; ok {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
	}
	return e.Code
}

func TestSignMD5ByHand(t *testing.T) {
	f := url.Values{"b": {"2"}, "a": {"1"}, "empty": {""}, "sign": {"x"}}
	sum := md5.Sum([]byte("sec" + "a1b2" + "sec"))
	if got, want := sign(f, "sec", "md5"), strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
		t.Fatalf("%s != %s", got, want)
	}
}

func TestChecks(t *testing.T) {
	s := New("k", "sec", "sess")
	defer s.Close()
	for _, tc := range []struct {
		name   string
		params url.Values
		mutate func(url.Values)
		want   int
	}{
		{"ok", url.Values{"method": {"taobao.time.get"}}, nil, 0},
		{"lowercase sign", url.Values{"method": {"taobao.time.get"}}, func(f url.Values) { f.Set("sign", strings.ToLower(f.Get("sign"))) }, 25},
		{"tampered", url.Values{"method": {"taobao.time.get"}}, func(f url.Values) { f.Set("extra", "1") }, 25},
		{"stale", url.Values{"method": {"taobao.time.get"}, "timestamp": {s.Now().Add(-11 * time.Minute).In(gmt8).Format(timeLayout)}}, nil, 31},
		{"bad app key", url.Values{"method": {"taobao.time.get"}, "app_key": {"other"}}, nil, 29},
		{"missing session", url.Values{"method": {"taobao.logistics.trace.search"}, "tid": {"1"}}, nil, 26},
		{"bad session", url.Values{"method": {"taobao.time.get"}, "session": {"nope"}}, nil, 27},
		{"unknown method", url.Values{"method": {"taobao.nope"}}, nil, 22},
		{"bad quantity", url.Values{"method": {"taobao.tmc.messages.consume"}, "quantity": {"500"}}, nil, 41},
	} {
		if got := code(t, post(t, s, tc.params, tc.mutate)); got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestConsumeConfirm(t *testing.T) {
	s := New("k", "sec", "sess")
	defer s.Close()
	a := s.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 1})
	b := s.Publish("taobao_trade_TradeCreate", map[string]any{"tid": 2})
	consume := func() string {
		out := post(t, s, url.Values{"method": {"taobao.tmc.messages.consume"}, "quantity": {"1"}}, nil)
		return string(out["tmc_messages_consume_response"])
	}
	if got := consume(); !strings.Contains(got, `"id":`+a+`,`) {
		t.Fatalf("consume %s: want the id %s as a bare number", got, a)
	}
	// Not confirmed: handed out again.
	if got := consume(); !strings.Contains(got, a) {
		t.Fatalf("not redelivered: %s", got)
	}
	post(t, s, url.Values{"method": {"taobao.tmc.messages.confirm"}, "s_message_ids": {a}}, nil)
	if got := consume(); !strings.Contains(got, b) {
		t.Fatalf("consume %s, want %s", got, b)
	}
	post(t, s, url.Values{"method": {"taobao.tmc.messages.confirm"}, "s_message_ids": {a + "," + b}}, nil)
	if got := consume(); got != "{}" {
		t.Fatalf("empty queue: %s", got)
	}
	if c := s.Confirmed(); len(c) != 2 || c[0] != a || c[1] != b {
		t.Fatalf("confirmed %v", c)
	}
}
