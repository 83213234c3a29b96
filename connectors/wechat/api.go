package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
)

// The API is called over HTTP here rather than through silenceper's
// officialaccount clients, for the reasons package wecom gives: the hosts
// are hard-coded and redirected only through process-global hooks
// (util.SetURIModifier, util.DefaultHTTPClient), so two channels cannot
// have two base URLs and tests could not run in parallel; its token cache
// is keyed by appid alone, never dropped on 40001/40014/42001, and
// cache.Memory races. The paths and fields are the same, and the request
// type is silenceper's (message.CustomerMessage).

// DefaultBaseURL is the Official Account API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

const (
	pathToken      = "/cgi-bin/token"
	pathCustomSend = "/cgi-bin/message/custom/send"
)

// Official Account error codes the connector acts on (global return codes).
const (
	codeSystemBusy        = -1
	codeInvalidCredential = 40001 // /cgi-bin/token: AppSecret wrong; other APIs: access_token invalid or not the latest
	codeInvalidOpenID     = 40003
	codeInvalidMsgType    = 40008
	codeInvalidAppID      = 40013
	codeInvalidToken      = 40014
	codeInvalidSecret     = 40125
	codeIPNotWhitelisted  = 40164
	codeSecretFrozen      = 40243
	codeTokenExpired      = 42001
	codeRequireSubscribe  = 43004
	codeEmptyContent      = 44004
	codeContentTooLong    = 45002
	codeQuotaExceeded     = 45009 // 接口调用超过限制: the API's daily quota is used up
	codeTooFrequent       = 45011 // API 调用太频繁
	codeWindowClosed      = 45015 // 回复时间超过限制: 48 h since the user's last interaction
	codeOverLimit         = 45047 // 客服接口下行条数超过上限
	codeBadJSON           = 47001
	codeAPIUnauthorized   = 48001 // api 功能未授权 (unverified accounts have no customer-service API)
	codeUserRestricted    = 50002
)

// tooFrequentWait is how long to wait after 45011; WeChat does not say.
const tooFrequentWait = time.Second

// beijing is the zone WeChat's daily quotas reset in (no DST).
var beijing = time.FixedZone("CST", 8*60*60)

// quotaWait is how long to wait after 45009: until the quota resets at
// midnight Beijing time, but at most an hour, so that a quota an admin
// resets by hand (公众号后台 → 接口权限 → 清零, or clear_quota) is used soon.
func quotaWait(now time.Time) time.Duration {
	t := now.In(beijing)
	reset := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, beijing)
	return min(reset.Sub(now), time.Hour)
}

// APIError is an answer with errcode ≠ 0.
type APIError struct {
	Op   string // token, custom/send
	Code int64
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// commonError is the errcode/errmsg of an answer (absent on success of
// /cgi-bin/token).
type commonError struct {
	ErrCode int64  `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// waited is the error of a caller whose ctx ended while another fetched
// the channel's token.
func waited(ctxErr error) error {
	return &connectors.RetryableError{Err: fmt.Errorf("wechat: token: %w", ctxErr)}
}

// fetchToken calls /cgi-bin/token; ttl is the token's lifetime less a
// margin. Errcodes come back as *APIError with Op "token" (classified: a
// 45009 or -1 is retryable).
func (c *channel) fetchToken(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		commonError
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	resp, err := c.client.R().SetContext(ctx).
		SetQueryParam("grant_type", "client_credential").
		SetQueryParam("appid", c.appID).
		SetQueryParam("secret", c.secret).
		Get(pathToken)
	if err := decode("token", resp, err, &out); err != nil {
		return "", 0, err
	}
	if out.ErrCode != 0 {
		return "", 0, c.classify(&APIError{Op: "token", Code: out.ErrCode, Msg: out.ErrMsg})
	}
	if out.AccessToken == "" {
		return "", 0, &connectors.RetryableError{Err: errors.New("wechat: token: answer without access_token")}
	}
	return out.AccessToken, tokencache.Lifetime(time.Duration(out.ExpiresIn) * time.Second), nil
}

// post calls an API that takes access_token and answers {errcode, errmsg}.
// A 40001, 40014 or 42001 drops the cached token, and the call is made once
// more with a fresh one. An errcode ≠ 0 comes back classified:
// *connectors.RetryableError around *APIError for 45009, 45011, -1 and
// token trouble that outlived the retry, else the *APIError.
func (c *channel) post(ctx context.Context, op, path string, body any) error {
	return c.tokens.Do(ctx, func(tok string) (refused bool, err error) {
		resp, err := c.client.R().SetContext(ctx).
			SetQueryParam("access_token", tok).
			SetHeader("Content-Type", "application/json; charset=utf-8").
			SetBody(body).
			Post(path)
		var ce commonError
		if err := decode(op, resp, err, &ce); err != nil {
			return false, err
		}
		switch ce.ErrCode {
		case 0:
			return false, nil
		case codeInvalidCredential, codeInvalidToken, codeTokenExpired:
			return true, &connectors.RetryableError{Err: &APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg}}
		}
		return false, c.classify(&APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg})
	})
}

// classify wraps the errcodes worth retrying.
func (c *channel) classify(e *APIError) error {
	switch e.Code {
	case codeQuotaExceeded:
		return &connectors.RetryableError{After: quotaWait(c.now()), Err: e}
	case codeTooFrequent:
		return &connectors.RetryableError{After: tooFrequentWait, Err: e}
	case codeSystemBusy:
		return &connectors.RetryableError{Err: e}
	}
	return e
}

// decode checks the transport and HTTP status and decodes the JSON body.
// Network trouble and 5xx are retryable. Errors never carry the request
// URL: its query holds the access token or the secret.
func decode(op string, resp *resty.Response, err error, out any) error {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &connectors.RetryableError{Err: fmt.Errorf("wechat: %s: %w", op, err)}
	}
	switch code := resp.StatusCode(); {
	case code >= 500 || code == http.StatusTooManyRequests:
		return &connectors.RetryableError{Err: fmt.Errorf("wechat: %s: HTTP %d", op, code)}
	case code != http.StatusOK:
		return fmt.Errorf("wechat: %s: HTTP %d", op, code)
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return &connectors.RetryableError{Err: fmt.Errorf("wechat: %s: answer is not JSON", op)}
	}
	return nil
}
