package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
)

// Tokens. The hub builds a target per delivery, so tokens live in a cache
// that belongs to a connector value (XxxConnector()), shared by the targets
// it builds, and, when the hub passes cfg.Tokens, in the database, so the
// replicas share them. One entry per host and credentials: a changed
// appSecret or host is a new entry. One caller at a time fetches a token.

type tokenCache = tokencache.Cache

func newTokenCache() *tokenCache { return tokencache.New() }

// tokenKind says which host's token an app uses.
type tokenKind int

const (
	oldToken tokenKind = iota // oapi.dingtalk.com/gettoken, ?access_token=
	newToken                  // api.dingtalk.com/v1.0/oauth2/accessToken, x-acs-dingtalk-access-token
)

// app is an internal app's credentials and token.
type app struct {
	base
	appKey, appSecret string
	kind              tokenKind
	tokens            *tokencache.Source
}

func newApp(cfg connectors.Config, kind tokenKind, tokens *tokenCache) (app, error) {
	a := app{base: newBase(cfg), appKey: cfg.Settings["appKey"], appSecret: cfg.Settings["appSecret"], kind: kind}
	if a.appKey == "" || a.appSecret == "" {
		return app{}, errors.New("dingtalk: appKey and appSecret are required")
	}
	host := a.oapi
	if kind == newToken {
		host = a.api
	}
	fetch := a.fetchOld
	if kind == newToken {
		fetch = a.fetchNew
	}
	a.tokens = &tokencache.Source{Cache: tokens, Store: cfg.Tokens, Now: a.now,
		Key: tokencache.Key("dingtalk", fmt.Sprint(kind), host, a.appKey, a.appSecret),
		Fetch: func(ctx context.Context) (string, time.Duration, error) {
			tok, life, err := fetch(ctx)
			return tok, tokencache.Lifetime(life), err
		},
		Waited: func(ctxErr error) error {
			return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: token: %w", ctxErr)}
		}}
	return a, nil
}

// accessToken returns a valid token, fetching one if none is cached.
func (a *app) accessToken(ctx context.Context) (string, error) { return a.tokens.Token(ctx) }

// dropToken forgets a token DingTalk refused.
func (a *app) dropToken(ctx context.Context, tok string) { a.tokens.Drop(ctx, tok) }

// credentialsRefused is the error for an app DingTalk does not know.
func credentialsRefused(e *APIError) error {
	return &connectors.PermanentError{Reason: "DingTalk refused the appKey/appSecret: check them in the app's 凭证与基础信息 page (" + e.Error() + ")"}
}

// fetchOld calls GET /gettoken?appkey=&appsecret=.
func (a *app) fetchOld(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		ErrCode     int64  `json:"errcode"`
		ErrMsg      string `json:"errmsg"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	resp, err := a.client.R().SetContext(ctx).
		SetQueryParam("appkey", a.appKey).
		SetQueryParam("appsecret", a.appSecret).
		Get(a.oapi + pathGetToken)
	if err := decodeOld("gettoken", resp, err, &out); err != nil {
		return "", 0, err
	}
	switch {
	case out.ErrCode == codeInvalidApp:
		return "", 0, credentialsRefused(&APIError{Op: "gettoken", ErrCode: out.ErrCode, Msg: out.ErrMsg})
	case out.ErrCode != 0:
		return "", 0, classifyOld(&APIError{Op: "gettoken", ErrCode: out.ErrCode, Msg: out.ErrMsg})
	case out.AccessToken == "":
		return "", 0, &connectors.RetryableError{Err: errors.New("dingtalk: gettoken: answer without access_token")}
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// fetchNew calls POST /v1.0/oauth2/accessToken {appKey, appSecret}.
func (a *app) fetchNew(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		AccessToken string `json:"accessToken"`
		ExpireIn    int64  `json:"expireIn"`
	}
	resp, err := a.client.R().SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetBody(map[string]string{"appKey": a.appKey, "appSecret": a.appSecret}).
		Post(a.api + pathAccessToken)
	if err != nil {
		return "", 0, transportError("accessToken", err)
	}
	if resp.StatusCode() != http.StatusOK {
		e := newAPIError("accessToken", resp)
		if re := retryableNew(e); re != nil {
			return "", 0, re
		}
		return "", 0, credentialsRefused(e)
	}
	if err := json.Unmarshal(resp.Body(), &out); err != nil || out.AccessToken == "" {
		return "", 0, &connectors.RetryableError{Err: errors.New("dingtalk: accessToken: answer without accessToken")}
	}
	return out.AccessToken, time.Duration(out.ExpireIn) * time.Second, nil
}

// --- the old host ---------------------------------------------------------

// decodeOld checks the transport and the HTTP status and decodes the JSON
// body. Network trouble and 5xx are retryable.
func decodeOld(op string, resp *resty.Response, err error, out any) error {
	if err != nil {
		return transportError(op, err)
	}
	switch code := resp.StatusCode(); {
	case code >= 500 || code == http.StatusTooManyRequests:
		return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: %s: HTTP %d", op, code)}
	case code != http.StatusOK:
		return fmt.Errorf("dingtalk: %s: HTTP %d", op, code)
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: %s: answer is not JSON", op)}
	}
	return nil
}

// classifyOld wraps the errcodes worth retrying soon. Others come back as
// the *APIError: the dispatcher retries them with backoff until it gives
// up, which suits codes we do not know (some are quotas that pass).
func classifyOld(e *APIError) error {
	switch e.ErrCode {
	case codeSystemBusy:
		return &connectors.RetryableError{Err: e}
	case codeInvalidApp:
		return credentialsRefused(e)
	}
	return e
}

// postOld calls an old-host API that takes ?access_token=, with a form
// body, decoding the answer into out. A 40014 or 42001 drops the cached
// token and the call is made once more with a fresh one.
func (a *app) postOld(ctx context.Context, op, path string, form map[string]string, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := a.accessToken(ctx)
		if err != nil {
			return err
		}
		resp, err := a.client.R().SetContext(ctx).
			SetQueryParam("access_token", tok).
			SetFormData(form).
			Post(a.oapi + path)
		var ce struct {
			ErrCode int64  `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if err := decodeOld(op, resp, err, &ce); err != nil {
			return err
		}
		if ce.ErrCode == codeInvalidToken || ce.ErrCode == codeTokenExpired {
			a.dropToken(ctx, tok)
			if attempt == 0 {
				continue
			}
			return &connectors.RetryableError{Err: &APIError{Op: op, ErrCode: ce.ErrCode, Msg: ce.ErrMsg}}
		}
		if ce.ErrCode != 0 {
			return classifyOld(&APIError{Op: op, ErrCode: ce.ErrCode, Msg: ce.ErrMsg})
		}
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: %s: answer is not the expected JSON", op)}
		}
		return nil
	}
}

// --- the new host ---------------------------------------------------------

func newAPIError(op string, resp *resty.Response) *APIError {
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(resp.Body(), &body)
	if body.Message == "" {
		body.Message = http.StatusText(resp.StatusCode())
	}
	return &APIError{Op: op, Status: resp.StatusCode(), Code: body.Code, Msg: clip(body.Message, 300)}
}

// retryableNew says whether a new-host error is worth retrying: 5xx,
// 429, and the QPS and throttling codes (Forbidden.AccessDenied.QpsLimit…,
// Throttling…).
func retryableNew(e *APIError) error {
	switch {
	case e.Status >= 500:
		return &connectors.RetryableError{Err: e}
	case e.Status == http.StatusTooManyRequests || strings.Contains(e.Code, "QpsLimit") || strings.HasPrefix(e.Code, "Throttling"):
		return &connectors.RetryableError{After: throttledRetryAfter, Err: e}
	}
	return nil
}

// postNew calls a new-host API with the x-acs-dingtalk-access-token
// header and a JSON body, decoding the answer into out. HTTP 400
// InvalidAuthentication drops the cached token and the call is made once
// more with a fresh one. Other 4xx are permanent: the request or the app's
// permissions are wrong.
func (a *app) postNew(ctx context.Context, op, path string, query map[string]string, body, out any) error {
	return a.callNew(ctx, http.MethodPost, op, path, query, body, out)
}

// getNew is postNew for a GET without a body.
func (a *app) getNew(ctx context.Context, op, path string, query map[string]string, out any) error {
	return a.callNew(ctx, http.MethodGet, op, path, query, nil, out)
}

func (a *app) callNew(ctx context.Context, method, op, path string, query map[string]string, body, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := a.accessToken(ctx)
		if err != nil {
			return err
		}
		req := a.client.R().SetContext(ctx).
			SetHeader("x-acs-dingtalk-access-token", tok).
			SetQueryParams(query)
		if body != nil {
			req.SetHeader("Content-Type", "application/json").SetBody(body)
		}
		resp, err := req.Execute(method, a.api+path)
		if err != nil {
			return transportError(op, err)
		}
		if resp.StatusCode() >= 200 && resp.StatusCode() < 300 {
			if err := json.Unmarshal(resp.Body(), out); err != nil {
				return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: %s: answer is not the expected JSON", op)}
			}
			return nil
		}
		e := newAPIError(op, resp)
		if e.Status == http.StatusBadRequest && e.Code == codeInvalidAuthentication {
			a.dropToken(ctx, tok)
			if attempt == 0 {
				continue
			}
			return &connectors.RetryableError{Err: e}
		}
		if re := retryableNew(e); re != nil {
			return re
		}
		return &connectors.PermanentError{Reason: fmt.Sprintf("DingTalk refused the %s request (HTTP %d %s): %s", op, e.Status, e.Code, e.Msg)}
	}
}
