package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/app"
	"github.com/kefuhub/kefuhub/connectors/dingtalk"
	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
	"github.com/kefuhub/kefuhub/connectors/dingtalkbot"
	"github.com/kefuhub/kefuhub/connectors/dingtalkbot/dingtalkbotfake"
	"github.com/kefuhub/kefuhub/connectors/email"
	"github.com/kefuhub/kefuhub/connectors/oa"
	"github.com/kefuhub/kefuhub/connectors/taobao"
	"github.com/kefuhub/kefuhub/connectors/taobao/taobaofake"
	"github.com/kefuhub/kefuhub/connectors/wechat"
	"github.com/kefuhub/kefuhub/connectors/wechat/wechatfake"
	"github.com/kefuhub/kefuhub/connectors/wecom"
	"github.com/kefuhub/kefuhub/connectors/wecom/wecomfake"
	"github.com/kefuhub/kefuhub/connectors/wecomapp"
	"github.com/kefuhub/kefuhub/connectors/wecomwork"
	"github.com/kefuhub/kefuhub/connectors/wecomwork/wecomworkfake"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// env is a running kefuhub (real HTTP server, real database) with two
// tenants, A and B, each with an admin token.
type env struct {
	t      *testing.T
	store  *store.Store
	hub    *hub.Hub
	server *httptest.Server
	// Admin tokens of tenants A and B.
	adminA, adminB string
	tenantA        *models.Tenant
	tenantB        *models.Tenant
	// Fake platforms.
	taobao       *taobaofake.Server
	wecom        *wecomfake.Server
	wechat       *wechatfake.Server
	dingtalk     *dingtalkbotfake.Server
	dingtalkWork *dingtalkfake.Server
	wecomWork    *wecomworkfake.Server
}

// Credentials the fake platforms accept.
const (
	taobaoAppKey        = "12345678"
	taobaoSecret        = "taobao-app-secret"
	taobaoSession       = "taobao-session-key"
	wecomCorpID         = "ww0123456789abcdef"
	wecomSecret         = "wecom-kf-secret"
	wechatAppID         = "wx0123456789abcdef"
	wechatSecret        = "0123456789abcdef0123456789abcdef"
	dingtalkAppKey      = "dingbotappkey"
	dingtalkAppSecret   = "dingtalk-bot-app-secret"
	dingtalkRobotSecret = "SECdingtalkrobotsecret0123456789"
)

// forEachEngine runs fn against a fresh kefuhub on SQLite and on MariaDB.
func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			fn(t, newEnv(t, eng.URL(t)))
		})
	}
}

func newEnv(t *testing.T, url string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := secret.NewKey()
	raw, _ := secret.ParseKey(key)
	box, _ := secret.NewBox(raw)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{t: t, store: st}
	e.server = httptest.NewUnstartedServer(nil)
	// Fake platforms, reached through the same base-URL settings as in
	// production.
	e.taobao = taobaofake.New(taobaoAppKey, taobaoSecret, taobaoSession)
	t.Cleanup(e.taobao.Close)
	e.wecom = wecomfake.New(wecomCorpID, wecomSecret)
	t.Cleanup(e.wecom.Close)
	e.wechat = wechatfake.New(wechatAppID, wechatSecret)
	t.Cleanup(e.wechat.Close)
	e.dingtalk = dingtalkbotfake.New(dingtalkAppKey, dingtalkAppSecret)
	t.Cleanup(e.dingtalk.Close)
	e.dingtalkWork = dingtalkfake.New(dingtalkfake.App{AppKey: dingtalkAppKey, AppSecret: dingtalkAppSecret, AgentID: 2001,
		ProcessCodes: []string{"PROC-TICKET"}}, dingtalkfake.Robot{AccessToken: "robot-token-0123456789", Secret: dingtalkRobotSecret})
	t.Cleanup(e.dingtalkWork.Close)
	e.wecomWork = wecomworkfake.New(wecomCorpID, wecomSecret)
	t.Cleanup(e.wecomWork.Close)
	h, err := hub.New(hub.Config{Store: st, Box: box, Logger: log,
		Connectors: connectors.NewRegistry(app.Connector(), taobao.Connector(), wecom.Connector(), email.Connector(), wechat.Connector(),
			dingtalkbot.Connector(), wecomapp.Connector()).
			WithTargets(oa.Connector(), dingtalk.RobotConnector(), dingtalk.WorkNoticeConnector(), dingtalk.TodoConnector(), dingtalk.ApprovalConnector(),
				wecomwork.AppMessageConnector(), wecomwork.ApprovalConnector(), wecomwork.RobotConnector()),
		TargetBaseURLs: map[models.TargetKind]string{
			models.TargetDingTalkRobot: e.dingtalkWork.URL, models.TargetDingTalkWorkNotice: e.dingtalkWork.URL,
			models.TargetDingTalkTodo: e.dingtalkWork.URL, models.TargetDingTalkApproval: e.dingtalkWork.URL,
			models.TargetWeComAppMessage: e.wecomWork.URL, models.TargetWeComApproval: e.wecomWork.URL, models.TargetWeComRobot: e.wecomWork.URL,
		},
		TargetAPIBases: map[models.TargetKind]string{models.TargetDingTalkTodo: e.dingtalkWork.URL, models.TargetDingTalkApproval: e.dingtalkWork.URL},
		BaseURLs: map[models.ChannelKind]string{
			models.ChannelTaobao:      e.taobao.GatewayURL(),
			models.ChannelWeComKF:     e.wecom.URL,
			models.ChannelWeChatOA:    e.wechat.URL,
			models.ChannelDingTalkBot: e.dingtalk.URL,
			models.ChannelWeComApp:    e.wecomWork.URL,
		},
		PublicURL: "http://" + e.server.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	e.hub = h
	// Fast retries, so that tests of failing platforms finish quickly.
	h.StartDispatcher(hub.DispatchConfig{BaseBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Poll: 50 * time.Millisecond, MaxAttempts: 4})
	e.tenantA, e.adminA, err = h.CreateTenant(ctx, "租户甲", "tenant-a", "admin@a.test", "")
	if err != nil {
		t.Fatal(err)
	}
	e.tenantB, e.adminB, err = h.CreateTenant(ctx, "租户乙", "tenant-b", "admin@b.test", "")
	if err != nil {
		t.Fatal(err)
	}
	e.server.Config.Handler = api.New(h, api.Options{Logger: log})
	e.server.Start()
	t.Cleanup(func() {
		e.server.CloseClientConnections()
		h.Close()
		e.server.Close()
		_ = st.Close()
	})
	return e
}

// gqlResponse is a decoded GraphQL response.
type gqlResponse struct {
	Status int
	Data   map[string]any
	Errors []gqlError
	Raw    []byte
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the first error's extensions.code, or "".
func (r gqlResponse) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a GraphQL operation with the given token ("" for none).
func (e *env) do(token, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) gqlResponse {
	e.t.Helper()
	resp, err := e.server.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response is not JSON (status %d): %s", resp.StatusCode, raw)
	}
	return gqlResponse{Status: resp.StatusCode, Data: out.Data, Errors: out.Errors, Raw: raw}
}

// must posts an operation and fails the test on any GraphQL error or
// userError in the first mutation payload.
func (e *env) must(token, query string, vars map[string]any) map[string]any {
	e.t.Helper()
	r := e.do(token, query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("unexpected errors: %s", r.Raw)
	}
	for _, v := range r.Data {
		if m, ok := v.(map[string]any); ok {
			if ue, ok := m["userErrors"].([]any); ok && len(ue) > 0 {
				e.t.Fatalf("unexpected userErrors: %s", r.Raw)
			}
		}
	}
	return r.Data
}

// get walks a decoded JSON value by keys and indexes: get(d, "a", 0, "b").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

// Fixtures: small helpers that create objects through the API and return
// their global IDs.

func (e *env) createCustomer(token, name string) string {
	e.t.Helper()
	d := e.must(token, `mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"name": name}})
	return str(d, "createCustomer", "customer", "id")
}

func (e *env) createChannel(token string, kind, name string, settings map[string]any) string {
	e.t.Helper()
	d := e.must(token, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"kind": kind, "name": name, "settings": settings}})
	return str(d, "createChannel", "channel", "id")
}

func (e *env) startConversation(token, customerID, channelID string) string {
	e.t.Helper()
	d := e.must(token, `mutation($in: StartConversationInput!) { startConversation(input: $in) { conversation { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"customerId": customerID, "channelId": channelID, "subject": "物流查询"}})
	return str(d, "startConversation", "conversation", "id")
}

func (e *env) createTicket(token, title string, extra map[string]any) string {
	e.t.Helper()
	in := map[string]any{"title": title}
	for k, v := range extra {
		in[k] = v
	}
	d := e.must(token, `mutation($in: CreateTicketInput!) { createTicket(input: $in) { ticket { id } userErrors { message } } }`,
		map[string]any{"in": in})
	return str(d, "createTicket", "ticket", "id")
}

// createUser creates a staff user with role in the admin's tenant and
// returns its ID and an API token acting as it.
func (e *env) createUser(adminToken, name, email, role string) (id, token string) {
	e.t.Helper()
	d := e.must(adminToken, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"name": name, "email": email, "role": role}})
	id = str(d, "createUser", "user", "id")
	d = e.must(adminToken, `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { token apiToken { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"name": "test", "userId": id}})
	return id, str(d, "createApiToken", "token")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func ptr[T any](v T) *T { return &v }

func omit[T any](v T) graphql.Omittable[T] { return graphql.OmittableOf(v) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
