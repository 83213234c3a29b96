package wecomwork

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
)

// The API is called over HTTP here rather than through silenceper's
// work/message and work/robot: its hosts are hard-coded (redirected only
// through process-global hooks), its token cache is never dropped on
// 40014/42001, and robot.Send returns a nil error when errcode ≠ 0.

// DefaultBaseURL is WeCom's API host; connectors.Config.BaseURL overrides it.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

const (
	pathGetToken   = "/cgi-bin/gettoken"
	pathSendMsg    = "/cgi-bin/message/send"
	pathApplyEvent = "/cgi-bin/oa/applyevent"
	pathWebhook    = "/cgi-bin/webhook/send"
)

// WeCom error codes the connectors act on.
const (
	codeSystemBusy     = -1
	codeInvalidSecret  = 40001
	codeInvalidUserID  = 40003
	codeInvalidCorpID  = 40013
	codeInvalidToken   = 40014
	codeInvalidAgentID = 40056
	codeTokenExpired   = 42001
	codeRateLimited    = 45009
	codeConcurrency    = 45033 // 接口并发调用超过限制
	codeIPNotAllowed   = 60020 // not allow to access from your ip
	codeNoPrivilege    = 60011 // recipients outside the app's visible range
	codeAllInvalid     = 81013 // user & party & tag all invalid
	codeRobotBadKey    = 93000 // invalid webhook url (robot key)
)

// rateLimitWait is how long to wait after 45009: WeCom's limits are per
// minute (a robot takes 20 messages a minute), and it does not say more.
const rateLimitWait = time.Minute

// APIError is an answer with errcode ≠ 0 that none of the rules below
// turns into a PermanentError or RetryableError; the dispatcher retries it
// with backoff until it gives up.
type APIError struct {
	Op   string // gettoken, message/send, oa/applyevent, webhook/send
	Code int64
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wecomwork: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// commonError is the errcode/errmsg every answer carries.
type commonError struct {
	ErrCode int64  `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// classify maps an errcode to what the dispatcher should do: retry soon
// (45009, 45033, -1), never (credentials, IP allow-list, agent,
// recipients, robot key: an admin has to act), or retry with backoff
// (anything else, as *APIError).
func classify(e *APIError) error {
	switch e.Code {
	case codeRateLimited:
		return &connectors.RetryableError{After: rateLimitWait, Err: e}
	case codeSystemBusy, codeConcurrency:
		return &connectors.RetryableError{Err: e}
	case codeInvalidSecret:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refused the secret (errcode %d: %s): copy the app's Secret "+
			"from the WeCom admin console, 应用管理 → the app → Secret", e.Code, e.Msg)}
	case codeInvalidCorpID:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refused the corpId (errcode %d: %s): copy the 企业ID "+
			"from the WeCom admin console, 我的企业 → 企业信息", e.Code, e.Msg)}
	case codeIPNotAllowed:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refuses calls from kefuhub's IP address (errcode %d: %s): "+
			"in the WeCom admin console open 应用管理 → the app → 企业可信IP (trusted IPs) and add the address WeCom names "+
			"in the message (kefuhub's outbound IP), then try again", e.Code, e.Msg)}
	case codeInvalidAgentID:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom refused the agentId (errcode %d: %s): it must be the "+
			"AgentId of the app whose Secret is configured (应用管理 → the app)", e.Code, e.Msg)}
	case codeInvalidUserID:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom does not know the member (errcode %d: %s): check the "+
			"UserID (通讯录 → the member → 账号)", e.Code, e.Msg)}
	case codeNoPrivilege:
		return &connectors.PermanentError{Reason: fmt.Sprintf("the app may not reach these members (errcode %d: %s): add them "+
			"to the app's visible range (应用管理 → the app → 可见范围)", e.Code, e.Msg)}
	case codeRobotBadKey:
		return &connectors.PermanentError{Reason: fmt.Sprintf("WeCom does not know the robot key (errcode %d: %s): copy the "+
			"webhook address again from the group chat's 群机器人 settings", e.Code, e.Msg)}
	}
	return e
}

// --- access tokens ------------------------------------------------------

// Tokens live in a cache that belongs to a connector value (the hub builds
// a target per delivery) and, when the hub passes cfg.Tokens, in the
// database, so replicas share one token per corp and secret. The key is the
// one the WECOM_APP bot uses, so a bot and a target of the same app share it.
type tokenCache = tokencache.Cache

func newTokenCache() *tokenCache { return tokencache.New() }

// --- HTTP ---------------------------------------------------------------

func newClient(cfg connectors.Config) (*resty.Client, string) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return resty.NewWithClient(hc).SetBaseURL(base), base
}

// api calls the APIs that take an access_token, for one corp and secret.
type api struct {
	client         *resty.Client
	corpID, secret string
	now            func() time.Time
	tokens         *tokencache.Source
}

func newAPI(cfg connectors.Config, corpID, secret string, tokens *tokenCache) *api {
	a := &api{corpID: corpID, secret: secret, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	var base string
	a.client, base = newClient(cfg)
	a.tokens = &tokencache.Source{Cache: tokens, Store: cfg.Tokens, Key: tokencache.Key(base, corpID, secret),
		Now: a.now, Fetch: a.fetchToken,
		Waited: func(ctxErr error) error {
			return &connectors.RetryableError{Err: fmt.Errorf("wecomwork: gettoken: %w", ctxErr)}
		}}
	return a
}

// accessToken returns a valid token, fetching one if none is cached.
func (a *api) accessToken(ctx context.Context) (string, error) { return a.tokens.Token(ctx) }

// fetchToken calls gettoken; ttl is the token's lifetime less a margin.
func (a *api) fetchToken(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		commonError
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	resp, err := a.client.R().SetContext(ctx).
		SetQueryParam("corpid", a.corpID).
		SetQueryParam("corpsecret", a.secret).
		Get(pathGetToken)
	if err := decode("gettoken", resp, err, &out); err != nil {
		return "", 0, err
	}
	if out.ErrCode != 0 {
		return "", 0, classify(&APIError{Op: "gettoken", Code: out.ErrCode, Msg: out.ErrMsg})
	}
	if out.AccessToken == "" {
		return "", 0, &connectors.RetryableError{Err: errors.New("wecomwork: gettoken: answer without access_token")}
	}
	return out.AccessToken, tokencache.Lifetime(time.Duration(out.ExpiresIn) * time.Second), nil
}

// testToken fetches a fresh token (the cached one proves nothing about
// settings just changed) and keeps it.
func (a *api) testToken(ctx context.Context) error {
	tok, ttl, err := a.fetchToken(ctx)
	if err != nil {
		return err
	}
	a.tokens.Keep(tok, ttl)
	return nil
}

// post calls an API that takes access_token, decoding the answer into out
// (which must embed commonError) whatever its errcode. A 40014 or 42001
// drops the cached token and the call is made once more with a fresh one.
// An errcode ≠ 0 comes back classified (see classify; token trouble that
// outlived the retry is retryable).
func (a *api) post(ctx context.Context, op, path string, body any, out any) error {
	payload, err := marshal(body)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		tok, err := a.accessToken(ctx)
		if err != nil {
			return err
		}
		resp, err := a.client.R().SetContext(ctx).
			SetQueryParam("access_token", tok).
			SetHeader("Content-Type", "application/json").
			SetBody(payload).
			Post(path)
		var ce commonError
		if err := decode(op, resp, err, &ce); err != nil {
			return err
		}
		if ce.ErrCode == codeInvalidToken || ce.ErrCode == codeTokenExpired {
			a.tokens.Drop(ctx, tok)
			if attempt == 0 {
				continue
			}
			return &connectors.RetryableError{Err: &APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg}}
		}
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return &connectors.RetryableError{Err: fmt.Errorf("wecomwork: %s: answer is not the expected JSON", op)}
		}
		if ce.ErrCode != 0 {
			return classify(&APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg})
		}
		return nil
	}
}

// marshal encodes a request body without HTML escaping (WeCom shows what
// it gets; "<" stays "<"), deterministically, so that a retried request
// is byte-for-byte the first one.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("wecomwork: encode request: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// decode checks the transport and HTTP status and decodes the JSON body.
// Network trouble and 5xx are retryable. Errors never carry the request
// URL: its query holds the access token, the secret or the robot key.
func decode(op string, resp *resty.Response, err error, out any) error {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &connectors.RetryableError{Err: fmt.Errorf("wecomwork: %s: %w", op, err)}
	}
	switch code := resp.StatusCode(); {
	case code >= 500 || code == http.StatusTooManyRequests:
		return &connectors.RetryableError{Err: fmt.Errorf("wecomwork: %s: HTTP %d", op, code)}
	case code != http.StatusOK:
		return fmt.Errorf("wecomwork: %s: HTTP %d", op, code)
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return &connectors.RetryableError{Err: fmt.Errorf("wecomwork: %s: answer is not JSON", op)}
	}
	return nil
}
