package dingtalk

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
	"github.com/kefuhub/kefuhub/models"
)

const (
	appKey      = "dingq4ztwkwvbxyzabcd"
	appSecret   = "app-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	agentID     = 2845912301
	robotToken  = "7f3c9e1a2b4d6f80a1c3e5f7092b4d6f8a0c2e4f6a8b0d2f4e6a8c0b2d4f6e8a"
	robotSecret = "SECb1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2"
	processCode = "PROC-4F1A2B3C-7D8E-9F0A-1B2C-3D4E5F6A7B8C"
	operator    = "PiiiPyQqBNBii0HnCJ3zljcuAiEiE"
	executorA   = "iPiiPyQqAbCd0HnCJ3zljcuAiEiE"
	executorB   = "iPiiPyQqEfGh0HnCJ3zljcuAiEiE"
	targetID    = "VGFyZ2V0OjM"
)

// clock is a test clock shared by the targets and the fake.
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

// rig is a fake DingTalk and the four connectors, built once as the hub
// builds them (so their token caches are shared by the targets they make).
type rig struct {
	fake  *dingtalkfake.Server
	clock *clock
	conns map[models.TargetKind]connectors.TargetConnector
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{
		fake: dingtalkfake.New(
			dingtalkfake.App{AppKey: appKey, AppSecret: appSecret, AgentID: agentID},
			dingtalkfake.Robot{AccessToken: robotToken, Secret: robotSecret}),
		clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		conns: map[models.TargetKind]connectors.TargetConnector{},
	}
	r.fake.SetClock(r.clock.Now)
	t.Cleanup(r.fake.Close)
	for _, c := range []connectors.TargetConnector{RobotConnector(), WorkNoticeConnector(), TodoConnector(), ApprovalConnector()} {
		r.conns[c.Spec.Kind] = c
	}
	return r
}

func baseSettings(kind models.TargetKind) map[string]string {
	switch kind {
	case models.TargetDingTalkRobot:
		return map[string]string{"accessToken": robotToken, "secret": robotSecret}
	case models.TargetDingTalkWorkNotice:
		return map[string]string{"appKey": appKey, "appSecret": appSecret, "agentId": "2845912301", "userIds": "manager4220, zhangsan"}
	case models.TargetDingTalkTodo:
		return map[string]string{"appKey": appKey, "appSecret": appSecret, "operatorUnionId": operator,
			"executorUnionIds": executorA + "," + executorB, "detailUrl": "https://kefu.example/tickets/{ticket}"}
	case models.TargetDingTalkApproval:
		return map[string]string{"appKey": appKey, "appSecret": appSecret, "processCode": processCode, "originatorUserId": "manager4220"}
	}
	panic("no settings for " + kind)
}

func (r *rig) config(kind models.TargetKind, edit func(map[string]string)) connectors.Config {
	s := baseSettings(kind)
	s[SettingAPIBase] = r.fake.URL
	if edit != nil {
		edit(s)
	}
	return connectors.Config{ChannelID: targetID, BaseURL: r.fake.URL, Settings: s,
		HTTPClient: r.fake.Client(), Now: r.clock.Now}
}

// target builds a target as the hub does for each delivery.
func (r *rig) target(t *testing.T, kind models.TargetKind, edit func(map[string]string)) connectors.Target {
	t.Helper()
	tg, err := r.conns[kind].New(r.config(kind, edit))
	if err != nil {
		t.Fatalf("New %s: %v", kind, err)
	}
	return tg
}

func (r *rig) deliver(t *testing.T, kind models.TargetKind, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	t.Helper()
	return r.target(t, kind, nil).Deliver(context.Background(), wo)
}

func workOrder(event, delivery string) connectors.WorkOrder {
	return connectors.WorkOrder{DeliveryID: delivery, Event: event, TicketRef: "T-1024",
		Title: "新工单 T-1024：包裹丢失", Text: "### 包裹丢失，申请补发\n- 客户：王芳\n- 优先级：HIGH",
		Document: []byte(`{"schemaVersion":1,"event":"` + event + `","ticket":{"reference":"T-1024","dueAt":"2026-11-25T10:00:00Z"}}`)}
}

func asRetryable(t *testing.T, err error) *connectors.RetryableError {
	t.Helper()
	var re *connectors.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want a RetryableError", err, err)
	}
	return re
}

func asPermanent(t *testing.T, err error) *connectors.PermanentError {
	t.Helper()
	var pe *connectors.PermanentError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a PermanentError", err, err)
	}
	return pe
}

// --- robot ----------------------------------------------------------------

func TestRobotDeliver(t *testing.T) {
	r := newRig(t)
	wo := workOrder("ticket.created", "RGVsaXZlcnk6MQ")
	res, err := r.deliver(t, models.TargetDingTalkRobot, wo)
	if err != nil {
		t.Fatal(err)
	}
	if res != (connectors.DeliverResult{}) {
		t.Errorf("result %+v, want none (the robot gives no id)", res)
	}
	msgs := r.fake.RobotMessages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.MsgType != "markdown" || m.Title != wo.Title || m.Text != wo.Text || m.MsgUUID != wo.DeliveryID || m.AccessToken != robotToken {
		t.Errorf("message %+v", m)
	}
}

// The sign is base64, so it holds +, / and =; it must arrive URL-encoded
// exactly once. Timestamps are tried until a sign with a + comes up.
func TestRobotSignEncoding(t *testing.T) {
	r := newRig(t)
	found := false
	for i := range 200 {
		ts, sign := RobotSign(robotSecret, r.clock.Now())
		if want := dingtalkfake.Sign(robotSecret, ts); sign != want {
			t.Fatalf("RobotSign = %s, the fake computes %s", sign, want)
		}
		if strings.Contains(sign, "+") {
			found = true
			if _, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d-plus")); err != nil {
				t.Fatalf("sign %s (attempt %d): %v", sign, i, err)
			}
			break
		}
		r.clock.Advance(time.Millisecond)
	}
	if !found {
		t.Fatal("no sign with a + in 200 timestamps")
	}
	if n := len(r.fake.RobotMessages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestRobotRefused(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(map[string]string)
		skew    time.Duration
		setup   func(r *rig)
		wantMsg string
	}{
		{"wrong secret: 310000 sign not match", func(s map[string]string) { s["secret"] = "SEC" + strings.Repeat("0", 64) }, 0, nil, "sign not match"},
		{"clock 2 h off: 310000 invalid timestamp", nil, 2 * time.Hour, nil, "invalid timestamp"},
		{"keyword missing: 310000", nil, 0, func(r *rig) { r.fake.FailNext(dingtalkfake.PathRobotSend, 1, dingtalkfake.ErrRobotSecurity) }, "keywords"},
		{"robot removed: 300001", func(s map[string]string) { s["accessToken"] = strings.Repeat("a", 64) }, 0, nil, "300001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			cfg := r.config(models.TargetDingTalkRobot, tt.edit)
			if tt.skew != 0 {
				cfg.Now = func() time.Time { return r.clock.Now().Add(tt.skew) }
			}
			tg, err := NewRobot(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tg.Deliver(context.Background(), workOrder("ticket.created", "d1"))
			pe := asPermanent(t, err)
			if !strings.Contains(pe.Reason, tt.wantMsg) {
				t.Errorf("reason %q, want it to mention %q", pe.Reason, tt.wantMsg)
			}
			if n := len(r.fake.RobotMessages()); n != 0 {
				t.Errorf("%d messages posted", n)
			}
		})
	}
}

func TestRobotRateLimit(t *testing.T) {
	t.Run("21st message in a minute, then 10 minutes blocked", func(t *testing.T) {
		r := newRig(t)
		for i := range dingtalkfake.RobotPerMinute {
			if _, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d"+string(rune('a'+i)))); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
		}
		_, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d-21"))
		if re := asRetryable(t, err); re.After != 10*time.Minute {
			t.Errorf("After %v, want 10m", re.After)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.ErrCode != 410100 {
			t.Errorf("error %v, want errcode 410100 inside", err)
		}
		r.clock.Advance(9 * time.Minute)
		_, err = r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d-21"))
		asRetryable(t, err) // still blocked
		r.clock.Advance(time.Minute)
		if _, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d-21")); err != nil {
			t.Fatalf("after 10 minutes: %v", err)
		}
		if n := len(r.fake.RobotMessages()); n != dingtalkfake.RobotPerMinute+1 {
			t.Errorf("%d messages, want %d", n, dingtalkfake.RobotPerMinute+1)
		}
	})
	t.Run("switch", func(t *testing.T) {
		r := newRig(t)
		r.fake.RateLimit(1)
		if _, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d1")); err != nil {
			t.Fatal(err)
		}
		_, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d2"))
		if re := asRetryable(t, err); re.After != 10*time.Minute {
			t.Errorf("After %v, want 10m", re.After)
		}
		r.fake.RateLimit(0)
		r.clock.Advance(10 * time.Minute)
		for _, d := range []string{"d2", "d3", "d4"} {
			if _, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", d)); err != nil {
				t.Fatalf("%s with the limit off: %v", d, err)
			}
		}
	})
}

func TestRobotRetryable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
	}{
		{"HTTP 502", func(r *rig) { r.fake.FailNextHTTP(dingtalkfake.PathRobotSend, 1, http.StatusBadGateway, "") }},
		{"system busy (-1)", func(r *rig) { r.fake.FailNext(dingtalkfake.PathRobotSend, 1, dingtalkfake.ErrSystemBusy) }},
		{"network down", func(r *rig) { r.fake.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tt.setup(r)
			_, err := r.deliver(t, models.TargetDingTalkRobot, workOrder("ticket.created", "d1"))
			asRetryable(t, err)
			if s := err.Error(); strings.Contains(s, robotToken) || strings.Contains(s, "sign=") {
				t.Errorf("error leaks the request URL: %s", s)
			}
		})
	}
}

func TestRobotTest(t *testing.T) {
	r := newRig(t)
	if err := r.target(t, models.TargetDingTalkRobot, nil).Test(context.Background()); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if n := r.fake.Calls(dingtalkfake.PathRobotSend); n != 0 {
		t.Errorf("Test called robot/send %d times: it must not post to the group", n)
	}
	for _, edit := range []func(map[string]string){
		func(s map[string]string) { s["secret"] = "not-a-sec-secret" },
		func(s map[string]string) {
			s["accessToken"] = "https://oapi.dingtalk.com/robot/send?access_token=" + robotToken
		},
	} {
		if err := r.target(t, models.TargetDingTalkRobot, edit).Test(context.Background()); err == nil {
			t.Error("Test accepted malformed settings")
		}
	}
}

// --- settings -------------------------------------------------------------

func anySettings(kind models.TargetKind) map[string]any {
	out := map[string]any{}
	for k, v := range baseSettings(kind) {
		out[k] = v
	}
	return out
}

func TestSpecs(t *testing.T) {
	type bad struct{ field, value string }
	tests := []struct {
		conn    connectors.TargetConnector
		secrets string
		missing []string // required fields
		invalid []bad
	}{
		{RobotConnector(), "accessToken,secret", []string{"accessToken", "secret"}, []bad{
			{"accessToken", "https://oapi.dingtalk.com/robot/send?access_token=" + robotToken},
			{"accessToken", "short"},
			{"secret", "b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6"},
		}},
		{WorkNoticeConnector(), "appSecret", []string{"appKey", "appSecret", "agentId", "userIds"}, []bad{
			{"appKey", "ding key"},
			{"agentId", "agent-1"},
			{"userIds", " , ,"},
			{"userIds", "zhangsan, li si"},
			{"userIds", manyIDs(101)},
		}},
		{TodoConnector(), "appSecret", []string{"appKey", "appSecret", "operatorUnionId", "executorUnionIds"}, []bad{
			{"operatorUnionId", "union id"},
			{"executorUnionIds", ","},
			{"detailUrl", "kefu.example/tickets"},
			{"detailUrl", "ftp://kefu.example/{ticket}"},
		}},
		{ApprovalConnector(), "appSecret", []string{"appKey", "appSecret", "processCode", "originatorUserId"}, []bad{
			{"processCode", "4F1A2B3C-7D8E"},
			{"originatorUserId", "张 三"},
		}},
	}
	for _, tt := range tests {
		spec := tt.conn.Spec
		t.Run(string(spec.Kind), func(t *testing.T) {
			norm, err := spec.Normalize(anySettings(spec.Kind))
			if err != nil {
				t.Fatalf("valid settings: %v", err)
			}
			if _, err := tt.conn.New(connectors.Config{Settings: norm}); err != nil {
				t.Errorf("New with normalized settings: %v", err)
			}
			if got := strings.Join(spec.SecretKeys(), ","); got != tt.secrets {
				t.Errorf("secret keys %s, want %s", got, tt.secrets)
			}
			if spec.Label == "" || spec.Setup == "" {
				t.Error("no label or setup text")
			}
			for _, f := range tt.missing {
				in := anySettings(spec.Kind)
				delete(in, f)
				var fe *connectors.FieldError
				if _, err := spec.Normalize(in); !errors.As(err, &fe) || fe.Field != f || !strings.Contains(fe.Message, "required") {
					t.Errorf("without %s: %v, want a FieldError saying it is required", f, err)
				}
			}
			for _, b := range tt.invalid {
				in := anySettings(spec.Kind)
				in[b.field] = b.value
				var fe *connectors.FieldError
				if _, err := spec.Normalize(in); !errors.As(err, &fe) || fe.Field != b.field {
					t.Errorf("%s=%q: %v, want a FieldError", b.field, b.value, err)
				}
			}
			// The API host override is for the hub, not for admins.
			in := anySettings(spec.Kind)
			in[SettingAPIBase] = "https://evil.example"
			if _, err := spec.Normalize(in); err == nil {
				t.Errorf("Normalize accepted %s", SettingAPIBase)
			}
		})
	}
}

func manyIDs(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "user" + strconv.Itoa(i)
	}
	return strings.Join(ids, ",")
}

func TestSplitIDs(t *testing.T) {
	got := splitIDs(" a, b，c,,a ,")
	if strings.Join(got, "|") != "a|b|c" {
		t.Errorf("splitIDs = %q", got)
	}
}

func TestKindsAndRegistry(t *testing.T) {
	want := map[models.TargetKind]connectors.TargetConnector{
		models.TargetDingTalkRobot:      RobotConnector(),
		models.TargetDingTalkWorkNotice: WorkNoticeConnector(),
		models.TargetDingTalkTodo:       TodoConnector(),
		models.TargetDingTalkApproval:   ApprovalConnector(),
	}
	reg := connectors.NewRegistry()
	for kind, c := range want {
		if c.Spec.Kind != kind {
			t.Errorf("connector for %s has kind %s", kind, c.Spec.Kind)
		}
		reg.WithTargets(c)
	}
	for kind := range want {
		if _, ok := reg.LookupTarget(kind); !ok {
			t.Errorf("%s not registered", kind)
		}
	}
}

func TestHosts(t *testing.T) {
	b := newBase(connectors.Config{Settings: map[string]string{}})
	if b.oapi != DefaultOAPIBase || b.api != DefaultAPIBase {
		t.Errorf("defaults %s %s", b.oapi, b.api)
	}
	b = newBase(connectors.Config{BaseURL: "http://oapi.test/", Settings: map[string]string{SettingAPIBase: "http://api.test/"}})
	if b.oapi != "http://oapi.test" || b.api != "http://api.test" {
		t.Errorf("overrides %s %s", b.oapi, b.api)
	}
}

func TestMarkdownFallbacks(t *testing.T) {
	tests := []struct {
		title, text, ref    string
		wantTitle, wantText string
		wantErr             bool
	}{
		{"T", "body", "T-1", "T", "body", false},
		{"", "body", "T-1", "T-1", "body", false},
		{"T", "", "T-1", "T", "T", false},
		{"", "## 标题行\nmore", "", "标题行", "## 标题行\nmore", false},
		{"", "", "", "", "", true},
	}
	for _, tt := range tests {
		title, text, err := markdown(connectors.WorkOrder{Title: tt.title, Text: tt.text, TicketRef: tt.ref})
		if (err != nil) != tt.wantErr || title != tt.wantTitle || text != tt.wantText {
			t.Errorf("markdown(%q, %q, %q) = %q, %q, %v", tt.title, tt.text, tt.ref, title, text, err)
		}
	}
}

// Errors never carry the request URL: gettoken's query holds the secret.
func TestNoSecretsInErrors(t *testing.T) {
	r := newRig(t)
	r.fake.Close()
	for _, kind := range []models.TargetKind{models.TargetDingTalkWorkNotice, models.TargetDingTalkTodo} {
		_, err := r.deliver(t, kind, workOrder("ticket.created", "d1"))
		asRetryable(t, err)
		if s := err.Error(); strings.Contains(s, appSecret) || strings.Contains(s, url.QueryEscape(appSecret)) {
			t.Errorf("%s: error leaks the secret: %s", kind, s)
		}
	}
}
