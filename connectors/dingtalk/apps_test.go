package dingtalk

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
	"github.com/kefuhub/kefuhub/models"
)

// --- happy paths ----------------------------------------------------------

func TestWorkNoticeDeliver(t *testing.T) {
	r := newRig(t)
	wo := workOrder("ticket.assigned", "RGVsaXZlcnk6Mg")
	res, err := r.deliver(t, models.TargetDingTalkWorkNotice, wo)
	if err != nil {
		t.Fatal(err)
	}
	notices := r.fake.WorkNotices()
	if len(notices) != 1 {
		t.Fatalf("%d notices, want 1", len(notices))
	}
	n := notices[0]
	if res.ExternalID != strconv.FormatInt(n.TaskID, 10) {
		t.Errorf("external id %q, task_id %d", res.ExternalID, n.TaskID)
	}
	if n.AgentID != agentID || strings.Join(n.UserIDs, ",") != "manager4220,zhangsan" ||
		n.MsgType != "markdown" || n.Title != wo.Title || n.Text != wo.Text || n.Encoding != "form" {
		t.Errorf("notice %+v", n)
	}
	// A target built for the next delivery reuses the token.
	if _, err := r.deliver(t, models.TargetDingTalkWorkNotice, workOrder("ticket.resolved", "RGVsaXZlcnk6Mw")); err != nil {
		t.Fatal(err)
	}
	if n := r.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

func TestTodoDeliver(t *testing.T) {
	r := newRig(t)
	res, err := r.deliver(t, models.TargetDingTalkTodo, workOrder("ticket.created", "RGVsaXZlcnk6NA"))
	if err != nil {
		t.Fatal(err)
	}
	todos := r.fake.Todos()
	if len(todos) != 1 {
		t.Fatalf("%d to-dos, want 1", len(todos))
	}
	td := todos[0]
	wantDue := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMilli()
	if res.ExternalID != td.ID || res.URL != "https://kefu.example/tickets/T-1024" {
		t.Errorf("result %+v, to-do %s", res, td.ID)
	}
	if td.OperatorUnionID != operator || td.OperatorID != operator || td.Subject != "新工单 T-1024：包裹丢失" ||
		!strings.HasPrefix(td.Description, "### 包裹丢失") || strings.Join(td.ExecutorIDs, ",") != executorA+","+executorB ||
		td.SourceID != targetID+":T-1024" || td.DueTime != wantDue ||
		td.DetailURL == nil || td.DetailURL.PCURL != res.URL || td.DetailURL.AppURL != res.URL {
		t.Errorf("to-do %+v", td)
	}

	t.Run("later events of the ticket make no call", func(t *testing.T) {
		before := r.fake.Calls(dingtalkfake.PathTodoTasks)
		for _, ev := range []string{"ticket.assigned", "ticket.updated", "ticket.resolved"} {
			res, err := r.deliver(t, models.TargetDingTalkTodo, workOrder(ev, "d-"+ev))
			if err != nil || res != (connectors.DeliverResult{}) {
				t.Errorf("%s: %+v, %v; want nothing", ev, res, err)
			}
		}
		if n := r.fake.Calls(dingtalkfake.PathTodoTasks); n != before {
			t.Errorf("%d to-do calls for later events", n-before)
		}
	})
	t.Run("a second ticket.created delivery names the same to-do", func(t *testing.T) {
		res2, err := r.deliver(t, models.TargetDingTalkTodo, workOrder("ticket.created", "RGVsaXZlcnk6OQ"))
		if err != nil {
			t.Fatal(err)
		}
		if res2.ExternalID != td.ID || len(r.fake.Todos()) != 1 {
			t.Errorf("got %s and %d to-dos, want %s and 1", res2.ExternalID, len(r.fake.Todos()), td.ID)
		}
	})
	t.Run("another target's to-do for the same ticket is its own", func(t *testing.T) {
		cfg := r.config(models.TargetDingTalkTodo, nil)
		cfg.ChannelID = "VGFyZ2V0Ojc"
		tg, err := r.conns[models.TargetDingTalkTodo].New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res3, err := tg.Deliver(context.Background(), workOrder("ticket.created", "RGVsaXZlcnk6MTA"))
		if err != nil {
			t.Fatal(err)
		}
		if res3.ExternalID == td.ID || len(r.fake.Todos()) != 2 {
			t.Errorf("got %s and %d to-dos, want a new one", res3.ExternalID, len(r.fake.Todos()))
		}
	})
}

func TestTodoWithoutOptionalParts(t *testing.T) {
	r := newRig(t)
	tg := r.target(t, models.TargetDingTalkTodo, func(s map[string]string) { delete(s, "detailUrl") })
	wo := workOrder("ticket.created", "RGVsaXZlcnk6NQ")
	wo.Document, wo.TicketRef = []byte(`{"ticket":{"dueAt":null}}`), ""
	res, err := tg.Deliver(context.Background(), wo)
	if err != nil {
		t.Fatal(err)
	}
	td := r.fake.Todos()[0]
	if res.URL != "" || td.DetailURL != nil || td.DueTime != 0 || td.SourceID != targetID+":RGVsaXZlcnk6NQ" {
		t.Errorf("to-do %+v, result %+v", td, res)
	}
}

func TestApprovalDeliver(t *testing.T) {
	r := newRig(t)
	wo := workOrder("ticket.created", "RGVsaXZlcnk6Ng")
	res, err := r.deliver(t, models.TargetDingTalkApproval, wo)
	if err != nil {
		t.Fatal(err)
	}
	aps := r.fake.Approvals()
	if len(aps) != 1 {
		t.Fatalf("%d approvals, want 1", len(aps))
	}
	a := aps[0]
	if res.ExternalID != a.InstanceID || a.ProcessCode != processCode || a.OriginatorUserID != "manager4220" {
		t.Errorf("approval %+v, result %+v", a, res)
	}
	want := []dingtalkfake.FormValue{{Name: "工单", Value: "T-1024"}, {Name: "标题", Value: wo.Title}, {Name: "详情", Value: wo.Text}}
	if len(a.Form) != len(want) {
		t.Fatalf("form %+v", a.Form)
	}
	for i := range want {
		if a.Form[i] != want[i] {
			t.Errorf("form[%d] = %+v, want %+v", i, a.Form[i], want[i])
		}
	}
	res, err = r.deliver(t, models.TargetDingTalkApproval, workOrder("ticket.assigned", "RGVsaXZlcnk6Nw"))
	if err != nil || res != (connectors.DeliverResult{}) || len(r.fake.Approvals()) != 1 {
		t.Errorf("ticket.assigned: %+v, %v, %d approvals; want nothing", res, err, len(r.fake.Approvals()))
	}
}

// --- tokens ---------------------------------------------------------------

func TestTokenRefresh(t *testing.T) {
	tests := []struct {
		name        string
		kind        models.TargetKind
		path        string
		setup       func(r *rig)
		wantErr     bool
		wantFetches int
		wantCalls   int
	}{
		{"old token expired (42001)", models.TargetDingTalkWorkNotice, dingtalkfake.PathAsyncSend,
			func(r *rig) { r.fake.ExpireTokens() }, false, 2, 3},
		{"old token invalid (40014)", models.TargetDingTalkWorkNotice, dingtalkfake.PathAsyncSend,
			func(r *rig) { r.fake.FailNext(dingtalkfake.PathAsyncSend, 1, dingtalkfake.ErrInvalidToken) }, false, 2, 3},
		{"old token trouble twice: retry once only", models.TargetDingTalkWorkNotice, dingtalkfake.PathAsyncSend,
			func(r *rig) { r.fake.FailNext(dingtalkfake.PathAsyncSend, 2, dingtalkfake.ErrTokenExpired) }, true, 2, 3},
		{"old token reached its cached expiry", models.TargetDingTalkWorkNotice, dingtalkfake.PathAsyncSend,
			func(r *rig) { r.clock.Advance(2 * time.Hour) }, false, 2, 2},
		{"new token expired (400 InvalidAuthentication): to-do", models.TargetDingTalkTodo, dingtalkfake.PathTodoTasks,
			func(r *rig) { r.fake.ExpireTokens() }, false, 2, 3},
		{"new token expired (400 InvalidAuthentication): approval", models.TargetDingTalkApproval, dingtalkfake.PathProcessInstance,
			func(r *rig) { r.fake.ExpireTokens() }, false, 2, 3},
		{"new token trouble twice: retry once only", models.TargetDingTalkTodo, dingtalkfake.PathTodoTasks,
			func(r *rig) {
				r.fake.FailNextHTTP(dingtalkfake.PathTodoTasks, 2, http.StatusBadRequest, dingtalkfake.CodeInvalidAuthentication)
			}, true, 2, 3},
		{"new token reached its cached expiry", models.TargetDingTalkApproval, dingtalkfake.PathProcessInstance,
			func(r *rig) { r.clock.Advance(2 * time.Hour) }, false, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			// Two tickets, so that to-dos are two.
			first, second := workOrder("ticket.created", "d1"), workOrder("ticket.created", "d2")
			second.TicketRef = "T-1025"
			if _, err := r.deliver(t, tt.kind, first); err != nil {
				t.Fatal(err)
			}
			tt.setup(r)
			_, err := r.deliver(t, tt.kind, second)
			if tt.wantErr {
				asRetryable(t, err)
			} else if err != nil {
				t.Fatalf("second delivery: %v", err)
			}
			if n := r.fake.TokenFetches(); n != tt.wantFetches {
				t.Errorf("%d token fetches, want %d", n, tt.wantFetches)
			}
			if n := r.fake.Calls(tt.path); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name      string
		kind      models.TargetKind
		setup     func(r *rig)
		edit      func(map[string]string)
		permanent bool
		wantAfter time.Duration
	}{
		{"gettoken: bad appSecret (40089)", models.TargetDingTalkWorkNotice, nil,
			func(s map[string]string) { s["appSecret"] = "wrong" }, true, 0},
		{"gettoken: system busy", models.TargetDingTalkWorkNotice,
			func(r *rig) { r.fake.FailNext(dingtalkfake.PathGetToken, 1, dingtalkfake.ErrSystemBusy) }, nil, false, 0},
		{"gettoken: HTTP 503", models.TargetDingTalkWorkNotice,
			func(r *rig) { r.fake.FailNextHTTP(dingtalkfake.PathGetToken, 1, http.StatusServiceUnavailable, "") }, nil, false, 0},
		{"accessToken: bad appSecret (HTTP 400)", models.TargetDingTalkTodo, nil,
			func(s map[string]string) { s["appSecret"] = "wrong" }, true, 0},
		{"accessToken: unknown appKey", models.TargetDingTalkApproval, nil,
			func(s map[string]string) { s["appKey"] = "dingunknown" }, true, 0},
		{"accessToken: HTTP 500", models.TargetDingTalkTodo,
			func(r *rig) { r.fake.FailNextHTTP(dingtalkfake.PathAccessToken, 1, http.StatusInternalServerError, "") }, nil, false, 0},
		{"accessToken: throttled", models.TargetDingTalkTodo,
			func(r *rig) {
				r.fake.FailNextHTTP(dingtalkfake.PathAccessToken, 1, http.StatusForbidden, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
			}, nil, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.target(t, tt.kind, tt.edit).Deliver(context.Background(), workOrder("ticket.created", "d1"))
			if tt.permanent {
				if pe := asPermanent(t, err); !strings.Contains(pe.Reason, "appKey/appSecret") {
					t.Errorf("reason %q", pe.Reason)
				}
				return
			}
			if re := asRetryable(t, err); re.After != tt.wantAfter {
				t.Errorf("After %v, want %v", re.After, tt.wantAfter)
			}
		})
	}
}

// --- errors of the calls --------------------------------------------------

func TestCallErrors(t *testing.T) {
	tests := []struct {
		name  string
		kind  models.TargetKind
		setup func(r *rig)
		edit  func(map[string]string)
		check func(t *testing.T, err error)
	}{
		{"to-do: bad request is permanent", models.TargetDingTalkTodo,
			func(r *rig) { r.fake.FailNextHTTP(dingtalkfake.PathTodoTasks, 1, http.StatusBadRequest, "") }, nil,
			func(t *testing.T, err error) { asPermanent(t, err) }},
		{"to-do: no permission (403) is permanent", models.TargetDingTalkTodo,
			func(r *rig) {
				r.fake.FailNextHTTP(dingtalkfake.PathTodoTasks, 1, http.StatusForbidden, "Forbidden.AccessDenied.AccessTokenPermissionDenied")
			}, nil,
			func(t *testing.T, err error) { asPermanent(t, err) }},
		{"to-do: 429 waits a second", models.TargetDingTalkTodo,
			func(r *rig) {
				r.fake.FailNextHTTP(dingtalkfake.PathTodoTasks, 1, http.StatusTooManyRequests, "Throttling.Api")
			}, nil,
			func(t *testing.T, err error) {
				if re := asRetryable(t, err); re.After != time.Second {
					t.Errorf("After %v", re.After)
				}
			}},
		{"approval: 503 is retryable", models.TargetDingTalkApproval,
			func(r *rig) {
				r.fake.FailNextHTTP(dingtalkfake.PathProcessInstance, 1, http.StatusServiceUnavailable, "")
			}, nil,
			func(t *testing.T, err error) { asRetryable(t, err) }},
		{"approval: unknown processCode is permanent", models.TargetDingTalkApproval, nil,
			func(s map[string]string) { s["processCode"] = "NOPE-1" },
			func(t *testing.T, err error) {
				if pe := asPermanent(t, err); !strings.Contains(pe.Reason, "processCode") {
					t.Errorf("reason %q", pe.Reason)
				}
			}},
		{"work notice: system busy is retryable", models.TargetDingTalkWorkNotice,
			func(r *rig) { r.fake.FailNext(dingtalkfake.PathAsyncSend, 1, dingtalkfake.ErrSystemBusy) }, nil,
			func(t *testing.T, err error) { asRetryable(t, err) }},
		{"work notice: other errcodes come back as APIError", models.TargetDingTalkWorkNotice, nil,
			func(s map[string]string) { s["agentId"] = "1" },
			func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.ErrCode != dingtalkfake.ErrInvalidAgentID || connectors.IsPermanent(err) {
					t.Errorf("error %v (%T), want the APIError 40056", err, err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.target(t, tt.kind, tt.edit).Deliver(context.Background(), workOrder("ticket.created", "d1"))
			tt.check(t, err)
		})
	}
}

// --- lost responses -------------------------------------------------------

// A lost answer after DingTalk applied the call is retried by the
// dispatcher with the same work order. The robot (msgUuid) and the to-do
// (sourceId) end with one item; work notices and approvals have no
// idempotency key, and end with two: documented, not prevented.
func TestLostResponseThenRetry(t *testing.T) {
	tests := []struct {
		kind  models.TargetKind
		path  string
		count func(r *rig) int
		want  int
	}{
		{models.TargetDingTalkRobot, dingtalkfake.PathRobotSend, func(r *rig) int { return len(r.fake.RobotMessages()) }, 1},
		{models.TargetDingTalkTodo, dingtalkfake.PathTodoTasks, func(r *rig) int { return len(r.fake.Todos()) }, 1},
		{models.TargetDingTalkWorkNotice, dingtalkfake.PathAsyncSend, func(r *rig) int { return len(r.fake.WorkNotices()) }, 2},
		{models.TargetDingTalkApproval, dingtalkfake.PathProcessInstance, func(r *rig) int { return len(r.fake.Approvals()) }, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			r := newRig(t)
			r.fake.DropNext(tt.path, 1)
			wo := workOrder("ticket.created", "RGVsaXZlcnk6OA")
			_, err := r.deliver(t, tt.kind, wo)
			asRetryable(t, err) // the answer was lost; the dispatcher retries
			if n := tt.count(r); n != 1 {
				t.Fatalf("%d items after the lost answer, want 1 (DingTalk applied it)", n)
			}
			res, err := r.deliver(t, tt.kind, wo)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if n := tt.count(r); n != tt.want {
				t.Errorf("%d items after the retry, want %d", n, tt.want)
			}
			switch tt.kind {
			case models.TargetDingTalkRobot:
				if m := r.fake.RobotMessages()[0]; m.Received != 2 {
					t.Errorf("robot message received %d times, want 2", m.Received)
				}
			case models.TargetDingTalkTodo:
				if td := r.fake.Todos()[0]; res.ExternalID != td.ID || td.Received != 2 {
					t.Errorf("retry got %s, to-do %s received %d times", res.ExternalID, td.ID, td.Received)
				}
			}
		})
	}
}

// --- Test() ---------------------------------------------------------------

func TestAppTest(t *testing.T) {
	tests := []struct {
		name    string
		kind    models.TargetKind
		edit    func(map[string]string)
		wantErr string
	}{
		{"work notice ok", models.TargetDingTalkWorkNotice, nil, ""},
		{"work notice bad appSecret", models.TargetDingTalkWorkNotice, func(s map[string]string) { s["appSecret"] = "wrong" }, "40089"},
		{"to-do ok", models.TargetDingTalkTodo, nil, ""},
		{"to-do bad appSecret", models.TargetDingTalkTodo, func(s map[string]string) { s["appSecret"] = "wrong" }, "appKey/appSecret"},
		{"approval ok", models.TargetDingTalkApproval, nil, ""},
		{"approval bad appKey", models.TargetDingTalkApproval, func(s map[string]string) { s["appKey"] = "dingother" }, "appKey/appSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			err := r.target(t, tt.kind, tt.edit).Test(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				if n := r.fake.TokenFetches(); n != 1 {
					t.Errorf("%d token fetches, want 1", n)
				}
				// Nothing was sent or created.
				if len(r.fake.WorkNotices())+len(r.fake.Todos())+len(r.fake.Approvals()) != 0 {
					t.Error("Test delivered something")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "dingtalk: ") {
				t.Fatalf("Test = %v, want a dingtalk error with %s", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// --- concurrency ----------------------------------------------------------

// Targets built per delivery and used at once fetch the token once per
// connector and target.
func TestConcurrentDeliveries(t *testing.T) {
	r := newRig(t)
	r.fake.RateLimit(0)
	kinds := []models.TargetKind{models.TargetDingTalkWorkNotice, models.TargetDingTalkTodo, models.TargetDingTalkRobot}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 20 {
		for _, kind := range kinds {
			wg.Go(func() {
				wo := workOrder("ticket.created", "d"+strconv.Itoa(i))
				wo.TicketRef = "T-" + strconv.Itoa(2000+i)
				tg, err := r.conns[kind].New(r.config(kind, nil))
				if err == nil {
					_, err = tg.Deliver(context.Background(), wo)
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := r.fake.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches, want 2 (one old, one new)", n)
	}
	if a, b, c := len(r.fake.WorkNotices()), len(r.fake.Todos()), len(r.fake.RobotMessages()); a != 20 || b != 20 || c != 20 {
		t.Errorf("%d notices, %d to-dos, %d robot messages; want 20 each", a, b, c)
	}
}

// memTokens is a token store shared by two connector values, as the
// database is by two replicas.
type memTokens struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memTokens) LoadToken(_ context.Context, key string) (string, time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.m[key]
	return tok, time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC), ok, nil
}

func (s *memTokens) SaveToken(_ context.Context, key, token string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = token
	return nil
}

func (s *memTokens) DeleteToken(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == token {
		delete(s.m, key)
	}
	return nil
}

// TestTokensSharedThroughStore: two replicas (two connector values) with a
// shared store fetch one token between them; after DingTalk expires it, the
// replica that fetched the new one shares it, and the other uses it after
// its own old token is refused instead of fetching a third.
func TestTokensSharedThroughStore(t *testing.T) {
	r := newRig(t)
	store := &memTokens{m: map[string]string{}}
	replicas := []connectors.TargetConnector{WorkNoticeConnector(), WorkNoticeConnector()}
	deliver := func(i int, delivery string) {
		t.Helper()
		cfg := r.config(models.TargetDingTalkWorkNotice, nil)
		cfg.Tokens = store
		tg, err := replicas[i].New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Deliver(context.Background(), workOrder("ticket.created", delivery)); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	deliver(0, "d1")
	deliver(1, "d2")
	if n := r.fake.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches by two replicas, want 1", n)
	}
	r.fake.ExpireTokens()
	deliver(1, "d3")
	deliver(0, "d4")
	if n := r.fake.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches after expiry, want 2", n)
	}
	if n := len(r.fake.WorkNotices()); n != 4 {
		t.Errorf("%d work notices, want 4", n)
	}
}

func TestTodoDone(t *testing.T) {
	r := newRig(t)
	watch := func(s map[string]string) { s["resolveWhenDone"] = "true" }
	tg := r.target(t, models.TargetDingTalkTodo, watch).(connectors.DoneWatcher)
	if !tg.WatchDone() {
		t.Fatal("resolveWhenDone=true: WatchDone is false")
	}
	if r.target(t, models.TargetDingTalkTodo, nil).(connectors.DoneWatcher).WatchDone() {
		t.Error("without resolveWhenDone: WatchDone is true")
	}
	res, err := r.deliver(t, models.TargetDingTalkTodo, workOrder("ticket.created", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if done, err := tg.Done(ctx, res.ExternalID); err != nil || done {
		t.Fatalf("fresh to-do: done=%v, %v", done, err)
	}
	r.fake.CompleteTodo(res.ExternalID)
	r.fake.ExpireTokens()
	if done, err := tg.Done(ctx, res.ExternalID); err != nil || !done {
		t.Fatalf("completed to-do, expired token: done=%v, %v", done, err)
	}
	if _, err := tg.Done(ctx, "no-such-task"); err == nil {
		t.Error("unknown to-do: no error")
	}
	r.fake.FailNextHTTP(dingtalkfake.PathTodoTask, 1, http.StatusServiceUnavailable, "ServiceUnavailable")
	if _, err := tg.Done(ctx, res.ExternalID); err == nil {
		t.Error("503: no error")
	} else {
		asRetryable(t, err)
	}
}
