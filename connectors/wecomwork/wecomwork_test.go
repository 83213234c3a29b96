package wecomwork

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wecomwork/wecomworkfake"
)

const (
	corpID         = "ww8f3b2c1d0e9a7654"
	appSecret      = "app-secret-0123456789abcdef"
	approvalSecret = "approval-secret-0123456789"
	robotKeyValue  = "693a91f6-7a1c-4bc4-97a0-0ec2f1a5aaa0"
	agentID        = "1000002"
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

type rig struct {
	fake  *wecomworkfake.Server
	clock *clock
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{fake: wecomworkfake.New(corpID, appSecret), clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}
	t.Cleanup(r.fake.Close)
	r.fake.SetClock(r.clock.Now)
	r.fake.AddSecret(approvalSecret)
	r.fake.AddRobotKey(robotKeyValue)
	return r
}

func (r *rig) config(settings map[string]string) connectors.Config {
	return connectors.Config{BaseURL: r.fake.URL, ChannelID: "VGFyZ2V0OjE=", Settings: settings, Now: r.clock.Now}
}

func appSettings(edit ...func(map[string]string)) map[string]string {
	s := map[string]string{"corpId": corpID, "secret": appSecret, "agentId": agentID, "toUser": "ZhangSan|LiSi"}
	for _, e := range edit {
		e(s)
	}
	return s
}

func approvalSettings(edit ...func(map[string]string)) map[string]string {
	s := map[string]string{"corpId": corpID, "secret": approvalSecret, "templateId": "3TkZjxugodbqpEMk9j7X6h6zKqYPVLK1Xj8Vvs5A", "creatorUserId": "WangWu"}
	for _, e := range edit {
		e(s)
	}
	return s
}

// newTarget builds a target of conn against the fake.
func (r *rig) newTarget(t *testing.T, conn connectors.TargetConnector, settings map[string]string) connectors.Target {
	t.Helper()
	tg, err := conn.New(r.config(settings))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tg
}

func workOrder(event string) connectors.WorkOrder {
	return connectors.WorkOrder{DeliveryID: "RGVsaXZlcnk6NDI=", Event: event, Title: "退款工单 T-1024",
		Text: "客户张三：订单 88 未收到货，要求退款。", TicketRef: "T-1024", Document: []byte(`{"schemaVersion":1}`)}
}

// errKind names what an error is to the dispatcher.
func errKind(err error) string {
	var perm *connectors.PermanentError
	var retry *connectors.RetryableError
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &perm):
		return "permanent"
	case errors.As(err, &retry):
		return "retryable"
	}
	return "other"
}

func retryAfter(err error) time.Duration {
	var retry *connectors.RetryableError
	if errors.As(err, &retry) {
		return retry.After
	}
	return -1
}

// --- app messages ---------------------------------------------------------

func TestAppMessageDeliver(t *testing.T) {
	long := strings.Repeat("退款", 200) // 1200 bytes
	tests := []struct {
		name     string
		settings map[string]string
		wo       func(*connectors.WorkOrder)
		check    func(t *testing.T, m wecomworkfake.AppMessage)
	}{
		{name: "textcard", settings: appSettings(), check: func(t *testing.T, m wecomworkfake.AppMessage) {
			want := wecomworkfake.TextCard{Title: "退款工单 T-1024", Description: "客户张三：订单 88 未收到货，要求退款。",
				URL: "https://kefuhub.invalid/tickets/T-1024", BtnTxt: "查看"}
			if m.MsgType != "textcard" || m.TextCard == nil || *m.TextCard != want {
				t.Errorf("message %s %+v, want textcard %+v", m.MsgType, m.TextCard, want)
			}
			if m.AgentID != 1000002 || strings.Join(m.ToUser, "|") != "ZhangSan|LiSi" {
				t.Errorf("agent %d to %v", m.AgentID, m.ToUser)
			}
		}},
		{name: "detailUrl template", settings: appSettings(func(s map[string]string) { s["detailUrl"] = "https://hub.example.com/t/{ref}?from=wecom" }),
			check: func(t *testing.T, m wecomworkfake.AppMessage) {
				if m.TextCard.URL != "https://hub.example.com/t/T-1024?from=wecom" {
					t.Errorf("url %q", m.TextCard.URL)
				}
			}},
		{name: "@all", settings: appSettings(func(s map[string]string) { s["toUser"] = "@all" }),
			check: func(t *testing.T, m wecomworkfake.AppMessage) {
				if strings.Join(m.ToUser, "|") != "@all" {
					t.Errorf("to %v", m.ToUser)
				}
			}},
		{name: "long text cut on a UTF-8 boundary", settings: appSettings(), wo: func(wo *connectors.WorkOrder) {
			wo.Text = long
			wo.Title = strings.Repeat("标题", 40) // 240 bytes
		}, check: func(t *testing.T, m wecomworkfake.AppMessage) {
			d := m.TextCard.Description
			if len(d) > 512 || !utf8.ValidString(d) || !strings.HasSuffix(d, "…") || !strings.HasPrefix(long, strings.TrimSuffix(d, "…")) {
				t.Errorf("description %d bytes, valid %v: %q", len(d), utf8.ValidString(d), d)
			}
			if len(d) < 512-3-2 {
				t.Errorf("description cut too short: %d bytes", len(d))
			}
			if ti := m.TextCard.Title; len(ti) > 128 || !utf8.ValidString(ti) || !strings.HasSuffix(ti, "…") {
				t.Errorf("title %d bytes: %q", len(ti), ti)
			}
		}},
		{name: "no title or text", settings: appSettings(), wo: func(wo *connectors.WorkOrder) { wo.Title, wo.Text = "", "" },
			check: func(t *testing.T, m wecomworkfake.AppMessage) {
				if m.TextCard.Title != "工单 T-1024" || m.TextCard.Description != "工单 T-1024" {
					t.Errorf("card %+v", m.TextCard)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, AppMessageConnector(), tc.settings)
			wo := workOrder("ticket.created")
			if tc.wo != nil {
				tc.wo(&wo)
			}
			res, err := tg.Deliver(context.Background(), wo)
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			msgs := r.fake.AppMessages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			if res.ExternalID == "" || res.ExternalID != msgs[0].MsgID {
				t.Errorf("ExternalID %q, want msgid %q", res.ExternalID, msgs[0].MsgID)
			}
			tc.check(t, msgs[0])
		})
	}
}

func TestAppMessageTokens(t *testing.T) {
	tests := []struct {
		name        string
		before      func(r *rig)
		wantErr     string
		wantFetches int // after the second delivery
		wantSent    int
	}{
		{name: "token reused across targets", wantErr: "nil", wantFetches: 1, wantSent: 2},
		{name: "expired token refreshed once", before: func(r *rig) { r.fake.ExpireTokens() }, wantErr: "nil", wantFetches: 2, wantSent: 2},
		{name: "token expiry by the clock", before: func(r *rig) { r.clock.Advance(2 * time.Hour) }, wantErr: "nil", wantFetches: 2, wantSent: 2},
		{name: "40014 refreshed once", before: func(r *rig) { r.fake.FailNext(wecomworkfake.PathSendMsg, 1, wecomworkfake.ErrInvalidToken) },
			wantErr: "nil", wantFetches: 2, wantSent: 2},
		{name: "42001 twice is retryable", before: func(r *rig) { r.fake.FailNext(wecomworkfake.PathSendMsg, 2, wecomworkfake.ErrTokenExpired) },
			wantErr: "retryable", wantFetches: 2, wantSent: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			conn := AppMessageConnector()
			wo := workOrder("ticket.created")
			if _, err := r.newTarget(t, conn, appSettings()).Deliver(context.Background(), wo); err != nil {
				t.Fatalf("first Deliver: %v", err)
			}
			if tc.before != nil {
				tc.before(r)
			}
			wo.DeliveryID, wo.Title = "RGVsaXZlcnk6NDM=", "第二张工单"
			_, err := r.newTarget(t, conn, appSettings()).Deliver(context.Background(), wo)
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("second Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
			if got := r.fake.TokenFetches(); got != tc.wantFetches {
				t.Errorf("%d token fetches, want %d", got, tc.wantFetches)
			}
			if got := len(r.fake.AppMessages()); got != tc.wantSent {
				t.Errorf("%d messages, want %d", got, tc.wantSent)
			}
		})
	}
}

func TestAppMessageConcurrentTokenFetch(t *testing.T) {
	r := newRig(t)
	conn := AppMessageConnector()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			wo := workOrder("ticket.created")
			wo.Title = strings.Repeat("x", i+1)
			tg, err := conn.New(r.config(appSettings()))
			if err == nil {
				_, err = tg.Deliver(context.Background(), wo)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := r.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

// A response lost after WeCom sent the message: the dispatcher retries with
// the same work order, and the duplicate check keeps the members from
// seeing it twice, for 30 minutes.
func TestAppMessageDuplicateCheck(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		wantSent   int
		wantSameID bool
	}{
		{name: "retry within the interval counts once", wait: 5 * time.Minute, wantSent: 1, wantSameID: true},
		{name: "retry after the interval is sent again", wait: 31 * time.Minute, wantSent: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, AppMessageConnector(), appSettings())
			wo := workOrder("ticket.created")
			r.fake.DropNext(wecomworkfake.PathSendMsg, 1)
			_, err := tg.Deliver(context.Background(), wo)
			if errKind(err) != "retryable" {
				t.Fatalf("Deliver with the answer lost: %v, want retryable", err)
			}
			r.clock.Advance(tc.wait)
			res, err := tg.Deliver(context.Background(), wo)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			msgs := r.fake.AppMessages()
			if len(msgs) != tc.wantSent {
				t.Fatalf("%d messages delivered, want %d", len(msgs), tc.wantSent)
			}
			if tc.wantSameID && (res.ExternalID != msgs[0].MsgID || msgs[0].Duplicates != 1) {
				t.Errorf("retry ExternalID %q, first msgid %q, duplicates %d", res.ExternalID, msgs[0].MsgID, msgs[0].Duplicates)
			}
		})
	}
}

func TestAppMessageInvalidUsers(t *testing.T) {
	tests := []struct {
		name     string
		toUser   string
		wantErr  string
		wantText []string
		wantTo   string
	}{
		{name: "all unknown", toUser: "Ghost|Nobody", wantErr: "permanent", wantText: []string{"Ghost", "Nobody", "visible range"}},
		{name: "some unknown", toUser: "ZhangSan|Ghost", wantErr: "nil", wantTo: "ZhangSan"},
		{name: "case-insensitive", toUser: "zhangsan", wantErr: "nil", wantTo: "zhangsan"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.fake.SetKnownUsers("ZhangSan", "LiSi")
			tg := r.newTarget(t, AppMessageConnector(), appSettings(func(s map[string]string) { s["toUser"] = tc.toUser }))
			_, err := tg.Deliver(context.Background(), workOrder("ticket.created"))
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.wantTo != "" {
				if msgs := r.fake.AppMessages(); len(msgs) != 1 || strings.Join(msgs[0].ToUser, "|") != tc.wantTo {
					t.Errorf("messages %+v, want one to %s", msgs, tc.wantTo)
				}
			}
		})
	}
}

func TestAppMessageErrors(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(f *wecomworkfake.Server)
		wantErr   string
		wantAfter time.Duration
		wantText  string
		timeout   time.Duration // how long the caller waits (0: no limit)
	}{
		{name: "45009 rate limit", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathSendMsg, 1, 45009) },
			wantErr: "retryable", wantAfter: time.Minute},
		{name: "system busy", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathSendMsg, 1, -1) }, wantErr: "retryable"},
		{name: "HTTP 502", fail: func(f *wecomworkfake.Server) { f.FailNextHTTP(wecomworkfake.PathSendMsg, 1, http.StatusBadGateway) }, wantErr: "retryable"},
		{name: "gettoken HTTP 503", fail: func(f *wecomworkfake.Server) {
			f.FailNextHTTP(wecomworkfake.PathGetToken, 1, http.StatusServiceUnavailable)
		}, wantErr: "retryable"},
		{name: "60020 IP not allowed", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathSendMsg, 1, 60020) },
			wantErr: "permanent", wantText: "企业可信IP"},
		{name: "60020 on gettoken", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathGetToken, 1, 60020) },
			wantErr: "permanent", wantText: "203.0.113.7"},
		{name: "invalid agentid", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathSendMsg, 1, 40056) },
			wantErr: "permanent", wantText: "agentId"},
		{name: "unknown errcode is retried with backoff", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathSendMsg, 1, 48002) },
			wantErr: "other", wantText: "errcode 48002"},
		{name: "lost response", fail: func(f *wecomworkfake.Server) { f.DropNext(wecomworkfake.PathSendMsg, 1) }, wantErr: "retryable"},
		{name: "platform times out", fail: func(f *wecomworkfake.Server) { f.HoldNext(wecomworkfake.PathSendMsg, 1, 3*time.Second) },
			wantErr: "retryable", timeout: 200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, AppMessageConnector(), appSettings())
			tc.fail(r.fake)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := tg.Deliver(ctx, workOrder("ticket.created"))
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
			if tc.wantAfter != 0 && retryAfter(err) != tc.wantAfter {
				t.Errorf("After %v, want %v", retryAfter(err), tc.wantAfter)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
			if strings.Contains(err.Error(), appSecret) || strings.Contains(err.Error(), "access_token=") {
				t.Errorf("error leaks a credential: %q", err)
			}
		})
	}
}

// --- approvals ---------------------------------------------------------------

func TestApprovalDeliver(t *testing.T) {
	tests := []struct {
		name         string
		settings     map[string]string
		event        string
		wantFiled    bool
		wantControls map[string]string
	}{
		{name: "ticket.created files an approval", settings: approvalSettings(), event: "ticket.created", wantFiled: true,
			wantControls: map[string]string{
				"Text-ticket":     "T-1024",
				"Textarea-detail": "客户张三：订单 88 未收到货，要求退款。\n\n—— kefuhub 投递编号 / delivery id: RGVsaXZlcnk6NDI=",
			}},
		{name: "delivery id in its own control", settings: approvalSettings(func(s map[string]string) { s["deliveryControlId"] = "Text-delivery" }),
			event: "ticket.created", wantFiled: true, wantControls: map[string]string{
				"Text-ticket":     "T-1024",
				"Textarea-detail": "客户张三：订单 88 未收到货，要求退款。",
				"Text-delivery":   "RGVsaXZlcnk6NDI=",
			}},
		{name: "ticket.updated is not delivered", settings: approvalSettings(), event: "ticket.updated"},
		{name: "ticket.resolved is not delivered", settings: approvalSettings(), event: "ticket.resolved"},
		{name: "ticket.commented is not delivered", settings: approvalSettings(), event: "ticket.commented"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, ApprovalConnector(), tc.settings)
			res, err := tg.Deliver(context.Background(), workOrder(tc.event))
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			filed := r.fake.Approvals()
			if !tc.wantFiled {
				if len(filed) != 0 || res != (connectors.DeliverResult{}) || r.fake.TokenFetches() != 0 || r.fake.Calls(wecomworkfake.PathApplyEvent) != 0 {
					t.Fatalf("event %s: result %+v, approvals %d, token fetches %d: want no call", tc.event, res, len(filed), r.fake.TokenFetches())
				}
				return
			}
			if len(filed) != 1 {
				t.Fatalf("%d approvals, want 1", len(filed))
			}
			a := filed[0]
			if res.ExternalID != a.SpNo || !strings.HasPrefix(a.SpNo, "20261123") {
				t.Errorf("ExternalID %q, sp_no %q", res.ExternalID, a.SpNo)
			}
			if a.CreatorUserID != "WangWu" || a.TemplateID != tc.settings["templateId"] || a.UseTemplateApprover != 1 {
				t.Errorf("approval %+v", a)
			}
			if len(a.Contents) != len(tc.wantControls) {
				t.Errorf("contents %+v, want %v", a.Contents, tc.wantControls)
			}
			for id, want := range tc.wantControls {
				if got, ok := a.Text(id); !ok || got != want {
					t.Errorf("control %s = %q, want %q", id, got, want)
				}
			}
			if len(a.Summary) != 1 || a.Summary[0] != "退款工单 T-1024" {
				t.Errorf("summary %q", a.Summary)
			}
		})
	}
}

// applyevent has no idempotency: a retry after a lost response files a
// second approval, which carries the same delivery id.
func TestApprovalRetryDuplicates(t *testing.T) {
	r := newRig(t)
	tg := r.newTarget(t, ApprovalConnector(), approvalSettings())
	wo := workOrder("ticket.created")
	r.fake.DropNext(wecomworkfake.PathApplyEvent, 1)
	if _, err := tg.Deliver(context.Background(), wo); errKind(err) != "retryable" {
		t.Fatalf("Deliver with the answer lost: %v, want retryable", err)
	}
	res, err := tg.Deliver(context.Background(), wo)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	filed := r.fake.Approvals()
	if len(filed) != 2 {
		t.Fatalf("%d approvals, want 2 (no idempotency)", len(filed))
	}
	if filed[1].SpNo != res.ExternalID || filed[1].DuplicateOf != filed[0].SpNo {
		t.Errorf("second approval %s duplicate of %q, want of %s", filed[1].SpNo, filed[1].DuplicateOf, filed[0].SpNo)
	}
	for _, a := range filed {
		if d, _ := a.Text(ControlDetail); !strings.Contains(d, wo.DeliveryID) {
			t.Errorf("approval %s does not carry the delivery id: %q", a.SpNo, d)
		}
	}
	// A different work order for the same ticket is not a duplicate.
	wo.DeliveryID = "RGVsaXZlcnk6OTk="
	if _, err := tg.Deliver(context.Background(), wo); err != nil {
		t.Fatal(err)
	}
	if filed = r.fake.Approvals(); filed[2].DuplicateOf != "" {
		t.Errorf("another delivery marked a duplicate of %s", filed[2].DuplicateOf)
	}
}

func TestApprovalErrors(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(r *rig)
		wantErr string
	}{
		{name: "expired token refreshed", fail: func(r *rig) { r.fake.ExpireTokens() }, wantErr: "nil"},
		{name: "40014 refreshed", fail: func(r *rig) { r.fake.FailNext(wecomworkfake.PathApplyEvent, 1, 40014) }, wantErr: "nil"},
		{name: "45009", fail: func(r *rig) { r.fake.FailNext(wecomworkfake.PathApplyEvent, 1, 45009) }, wantErr: "retryable"},
		{name: "HTTP 500", fail: func(r *rig) { r.fake.FailNextHTTP(wecomworkfake.PathApplyEvent, 1, 500) }, wantErr: "retryable"},
		{name: "unknown creator", fail: func(r *rig) { r.fake.SetKnownUsers("ZhangSan") }, wantErr: "permanent"},
		{name: "unknown errcode", fail: func(r *rig) { r.fake.FailNext(wecomworkfake.PathApplyEvent, 1, 301025) }, wantErr: "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, ApprovalConnector(), approvalSettings())
			if err := tg.Test(context.Background()); err != nil { // a token in the cache
				t.Fatal(err)
			}
			tc.fail(r)
			_, err := tg.Deliver(context.Background(), workOrder("ticket.created"))
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
		})
	}
}

// --- robot -----------------------------------------------------------------

func TestRobotDeliver(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wo      func(*connectors.WorkOrder)
		want    string
		wantErr string
	}{
		{name: "markdown", key: robotKeyValue, want: "**退款工单 T-1024**\n客户张三：订单 88 未收到货，要求退款。", wantErr: "nil"},
		{name: "webhook address as key", key: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + robotKeyValue,
			want: "**退款工单 T-1024**\n客户张三：订单 88 未收到货，要求退款。", wantErr: "nil"},
		{name: "no title", key: robotKeyValue, wo: func(wo *connectors.WorkOrder) { wo.Title = "" },
			want: "客户张三：订单 88 未收到货，要求退款。", wantErr: "nil"},
		{name: "unknown key", key: "00000000-0000-0000-0000-000000000000", wantErr: "permanent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, RobotConnector(), map[string]string{"key": tc.key})
			wo := workOrder("ticket.assigned")
			if tc.wo != nil {
				tc.wo(&wo)
			}
			res, err := tg.Deliver(context.Background(), wo)
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "93000") || strings.Contains(err.Error(), tc.key) {
					t.Errorf("error %q: want errcode 93000 and no key", err)
				}
				return
			}
			msgs := r.fake.RobotMessages()
			if len(msgs) != 1 || msgs[0].MsgType != "markdown" || msgs[0].Content != tc.want {
				t.Fatalf("robot messages %+v, want markdown %q", msgs, tc.want)
			}
			if res != (connectors.DeliverResult{}) {
				t.Errorf("result %+v, want empty", res)
			}
		})
	}
}

func TestRobotRateLimit(t *testing.T) {
	r := newRig(t)
	tg := r.newTarget(t, RobotConnector(), map[string]string{"key": robotKeyValue})
	for i := range wecomworkfake.RobotPerMinute {
		if _, err := tg.Deliver(context.Background(), workOrder("ticket.updated")); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	_, err := tg.Deliver(context.Background(), workOrder("ticket.updated"))
	if errKind(err) != "retryable" || retryAfter(err) != time.Minute {
		t.Fatalf("message 21: %v, want retryable after 1m", err)
	}
	r.clock.Advance(time.Minute)
	if _, err := tg.Deliver(context.Background(), workOrder("ticket.updated")); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	if n := len(r.fake.RobotMessages()); n != 21 {
		t.Errorf("%d messages posted, want 21", n)
	}
}

func TestRobotErrors(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(f *wecomworkfake.Server)
		wantErr string
	}{
		{name: "HTTP 502", fail: func(f *wecomworkfake.Server) { f.FailNextHTTP(wecomworkfake.PathWebhook, 1, 502) }, wantErr: "retryable"},
		{name: "45009 injected", fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathWebhook, 1, 45009) }, wantErr: "retryable"},
		{name: "lost response", fail: func(f *wecomworkfake.Server) { f.DropNext(wecomworkfake.PathWebhook, 1) }, wantErr: "retryable"},
		{name: "long text is cut to 4096 bytes", fail: func(*wecomworkfake.Server) {}, wantErr: "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tg := r.newTarget(t, RobotConnector(), map[string]string{"key": robotKeyValue})
			tc.fail(r.fake)
			wo := workOrder("ticket.updated")
			wo.Text = strings.Repeat("长", 2000)
			_, err := tg.Deliver(context.Background(), wo)
			if got := errKind(err); got != tc.wantErr {
				t.Fatalf("Deliver: %v (%s), want %s", err, got, tc.wantErr)
			}
			if err == nil {
				if m := r.fake.RobotMessages()[0]; len(m.Content) > 4096 || !utf8.ValidString(m.Content) || !strings.HasSuffix(m.Content, "…") {
					t.Errorf("content %d bytes", len(m.Content))
				}
			}
		})
	}
}

// --- Test() and settings ----------------------------------------------------

func TestTargetTest(t *testing.T) {
	tests := []struct {
		name     string
		conn     connectors.TargetConnector
		settings map[string]string
		fail     func(f *wecomworkfake.Server)
		wantText string // "" for success
		wantCall string // the path that must have been called, if any
	}{
		{name: "app ok", conn: AppMessageConnector(), settings: appSettings(), wantCall: wecomworkfake.PathGetToken},
		{name: "app bad corpId", conn: AppMessageConnector(), settings: appSettings(func(s map[string]string) { s["corpId"] = "wwWrong" }),
			wantText: "corpId"},
		{name: "app bad secret", conn: AppMessageConnector(), settings: appSettings(func(s map[string]string) { s["secret"] = "nope" }),
			wantText: "secret"},
		{name: "app IP not allowed", conn: AppMessageConnector(), settings: appSettings(),
			fail: func(f *wecomworkfake.Server) { f.FailNext(wecomworkfake.PathGetToken, 1, 60020) }, wantText: "企业可信IP"},
		{name: "app WeCom down", conn: AppMessageConnector(), settings: appSettings(),
			fail: func(f *wecomworkfake.Server) { f.FailNextHTTP(wecomworkfake.PathGetToken, 1, 503) }, wantText: "HTTP 503"},
		{name: "approval ok", conn: ApprovalConnector(), settings: approvalSettings(), wantCall: wecomworkfake.PathGetToken},
		{name: "approval bad secret", conn: ApprovalConnector(), settings: approvalSettings(func(s map[string]string) { s["secret"] = appSecret + "x" }),
			wantText: "secret"},
		{name: "robot ok, nothing posted", conn: RobotConnector(), settings: map[string]string{"key": robotKeyValue}},
		{name: "robot unknown but well-formed key passes", conn: RobotConnector(),
			settings: map[string]string{"key": "11111111-2222-3333-4444-555555555555"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if tc.fail != nil {
				tc.fail(r.fake)
			}
			tg := r.newTarget(t, tc.conn, tc.settings)
			err := tg.Test(context.Background())
			if tc.wantText == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Test: %v, want an error mentioning %q", err, tc.wantText)
			}
			if tc.wantCall != "" && r.fake.Calls(tc.wantCall) != 1 {
				t.Errorf("%s called %d times, want 1", tc.wantCall, r.fake.Calls(tc.wantCall))
			}
			if n := r.fake.Calls(wecomworkfake.PathWebhook) + r.fake.Calls(wecomworkfake.PathSendMsg) + r.fake.Calls(wecomworkfake.PathApplyEvent); n != 0 {
				t.Errorf("Test posted %d messages", n)
			}
		})
	}
}

// Test fetches a fresh token each time, and the delivery after it reuses it.
func TestTestRefreshesToken(t *testing.T) {
	r := newRig(t)
	tg := r.newTarget(t, AppMessageConnector(), appSettings())
	for range 2 {
		if err := tg.Test(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tg.Deliver(context.Background(), workOrder("ticket.created")); err != nil {
		t.Fatal(err)
	}
	if n := r.fake.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches, want 2", n)
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name    string
		spec    connectors.TargetSpec
		in      map[string]any
		wantErr string // the FieldError's field, "" for valid
	}{
		{name: "app valid", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": 1000002, "toUser": "ZhangSan|LiSi"}},
		{name: "app @all with detailUrl", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1000002", "toUser": "@all",
			"detailUrl": "https://hub.example.com/tickets/{ref}"}},
		{name: "app missing secret", spec: appSpec, in: map[string]any{"corpId": corpID, "agentId": "1", "toUser": "a"}, wantErr: "secret"},
		{name: "app bad corpId", spec: appSpec, in: map[string]any{"corpId": "ww 1", "secret": "s", "agentId": "1", "toUser": "a"}, wantErr: "corpId"},
		{name: "app bad agentId", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "abc", "toUser": "a"}, wantErr: "agentId"},
		{name: "app toUser with comma", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1", "toUser": "a,b"}, wantErr: "toUser"},
		{name: "app toUser empty member", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1", "toUser": "a||b"}, wantErr: "toUser"},
		{name: "app toUser twice", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1", "toUser": "a|a"}, wantErr: "toUser"},
		{name: "app detailUrl not http", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1", "toUser": "a",
			"detailUrl": "javascript:alert(1)"}, wantErr: "detailUrl"},
		{name: "app unknown setting", spec: appSpec, in: map[string]any{"corpId": corpID, "secret": "s", "agentId": "1", "toUser": "a", "key": "x"}, wantErr: "key"},
		{name: "approval valid", spec: approvalSpec, in: map[string]any{"corpId": corpID, "secret": "s", "templateId": "3TkZjxugodbq", "creatorUserId": "WangWu"}},
		{name: "approval missing template", spec: approvalSpec, in: map[string]any{"corpId": corpID, "secret": "s", "creatorUserId": "WangWu"}, wantErr: "templateId"},
		{name: "approval bad creator", spec: approvalSpec, in: map[string]any{"corpId": corpID, "secret": "s", "templateId": "t", "creatorUserId": "Wang Wu"}, wantErr: "creatorUserId"},
		{name: "approval bad control id", spec: approvalSpec, in: map[string]any{"corpId": corpID, "secret": "s", "templateId": "t", "creatorUserId": "w",
			"deliveryControlId": "a b"}, wantErr: "deliveryControlId"},
		{name: "robot key", spec: robotSpec, in: map[string]any{"key": robotKeyValue}},
		{name: "robot webhook address", spec: robotSpec, in: map[string]any{"key": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + robotKeyValue}},
		{name: "robot bad key", spec: robotSpec, in: map[string]any{"key": "not-a-key"}, wantErr: "key"},
		{name: "robot address without key", spec: robotSpec, in: map[string]any{"key": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, wantErr: "key"},
		{name: "robot missing key", spec: robotSpec, in: map[string]any{}, wantErr: "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.spec.Normalize(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Normalize: %v", err)
				}
				return
			}
			var fe *connectors.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantErr {
				t.Fatalf("Normalize: %v, want a FieldError on %s", err, tc.wantErr)
			}
		})
	}
	if got := appSpec.SecretKeys(); strings.Join(got, ",") != "secret" {
		t.Errorf("app secret keys %v", got)
	}
	if got := approvalSpec.SecretKeys(); strings.Join(got, ",") != "secret" {
		t.Errorf("approval secret keys %v", got)
	}
	if got := robotSpec.SecretKeys(); strings.Join(got, ",") != "key" {
		t.Errorf("robot secret keys %v", got)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name     string
		new      func(connectors.Config) (connectors.Target, error)
		settings map[string]string
	}{
		{"app missing agentId", NewAppMessage, appSettings(func(s map[string]string) { delete(s, "agentId") })},
		{"app agentId zero", NewAppMessage, appSettings(func(s map[string]string) { s["agentId"] = "0" })},
		{"app bad toUser", NewAppMessage, appSettings(func(s map[string]string) { s["toUser"] = "a b" })},
		{"app bad detailUrl", NewAppMessage, appSettings(func(s map[string]string) { s["detailUrl"] = "ftp://x/{ref}" })},
		{"approval missing creator", NewApproval, approvalSettings(func(s map[string]string) { delete(s, "creatorUserId") })},
		{"approval delivery control clashes", NewApproval, approvalSettings(func(s map[string]string) { s["deliveryControlId"] = ControlDetail })},
		{"robot missing key", NewRobot, map[string]string{}},
		{"robot bad key", NewRobot, map[string]string{"key": "abc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.new(connectors.Config{Settings: tc.settings}); err == nil {
				t.Fatal("New accepted the settings")
			}
		})
	}
}

func TestDefaultBaseURL(t *testing.T) {
	for _, kind := range []func(connectors.Config) (connectors.Target, error){NewAppMessage, NewApproval, NewRobot} {
		settings := appSettings()
		for k, v := range approvalSettings() {
			settings[k] = v
		}
		settings["key"] = robotKeyValue
		tg, err := kind(connectors.Config{Settings: settings})
		if err != nil {
			t.Fatal(err)
		}
		var base string
		switch x := tg.(type) {
		case *appTarget:
			base = x.api.client.BaseURL
		case *approvalTarget:
			base = x.api.client.BaseURL
		case *robotTarget:
			base = x.client.BaseURL
		}
		if base != DefaultBaseURL {
			t.Errorf("%T base URL %q, want %q", tg, base, DefaultBaseURL)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "…"},
		{"abcdef", 5, "ab…"},
		{"一二三四", 9, "一二…"},
		{"一二三四", 8, "一…"},
		{"a\xffb", 10, "a\uFFFDb"},
	}
	for _, tc := range tests {
		if got := clipBytes(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("clipBytes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	if got := clipRunes("一二三四五", 3); got != "一二…" {
		t.Errorf("clipRunes = %q", got)
	}
}
