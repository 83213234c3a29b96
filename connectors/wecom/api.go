package wecom

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
// kf.Client: its hosts are hard-coded and redirected only through
// process-global hooks (util.SetURIModifier, util.DefaultHTTPClient), so two
// channels cannot have two base URLs and tests cannot run in parallel; its
// token cache is keyed by corpid alone and never dropped on 40014/42001; and
// kf.SyncMsg turns errcode into a bare error, losing 45009. The paths and
// fields are the same, and the request and response types are silenceper's
// where it has them (kf.SyncMsgOptions, sendmsg.Text, kf.SendMsgSchema).

// DefaultBaseURL is WeCom's API host.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

const (
	pathGetToken = "/cgi-bin/gettoken"
	pathSyncMsg  = "/cgi-bin/kf/sync_msg"
	pathSendMsg  = "/cgi-bin/kf/send_msg"
)

// WeCom error codes the connector acts on.
const (
	codeSystemBusy     = -1
	codeInvalidSecret  = 40001
	codeInvalidCorpID  = 40013
	codeInvalidToken   = 40014
	codeTokenExpired   = 42001
	codeRateLimited    = 45009
	codeConcurrency    = 45033 // 接口并发调用超过限制
	codeOverLimit      = 95001 // 发送客服消息次数限制: 5 replies since the customer's last message
	codeWindowClosed   = 95002 // 发送客服消息时间限制: 48 h since the customer's last message
	codeSessionEnded   = 95013 // 会话已经结束
	codeSessionState   = 95018 // 当前会话状态不允许发送
	codeDuplicateMsgID = 95033 // msgid already used (unverified; see Send)
)

// rateLimitWait is how long to wait after 45009; WeCom does not say.
const rateLimitWait = time.Second

// APIError is an answer with errcode ≠ 0.
type APIError struct {
	Op   string // gettoken, sync_msg, send_msg
	Code int64
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wecom: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// commonError is the errcode/errmsg every answer carries.
type commonError struct {
	ErrCode int64  `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// waited is the error of a caller whose ctx ended while another fetched
// the channel's token.
func waited(ctxErr error) error {
	return &connectors.RetryableError{Err: fmt.Errorf("wecom: gettoken: %w", ctxErr)}
}

// fetchToken calls gettoken; ttl is the token's lifetime less a margin.
func (c *channel) fetchToken(ctx context.Context) (string, time.Duration, error) {
	var out struct {
		commonError
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	resp, err := c.client.R().SetContext(ctx).
		SetQueryParam("corpid", c.corpID).
		SetQueryParam("corpsecret", c.secret).
		Get(pathGetToken)
	if err := decode("gettoken", resp, err, &out); err != nil {
		return "", 0, err
	}
	if out.ErrCode != 0 {
		return "", 0, classify(&APIError{Op: "gettoken", Code: out.ErrCode, Msg: out.ErrMsg})
	}
	if out.AccessToken == "" {
		return "", 0, &connectors.RetryableError{Err: errors.New("wecom: gettoken: answer without access_token")}
	}
	return out.AccessToken, tokencache.Lifetime(time.Duration(out.ExpiresIn) * time.Second), nil
}

// post calls an API that takes access_token, decoding the answer into out
// (which must embed the errcode fields). A 40014 or 42001 drops the cached
// token, and the call is made once more with a fresh one. An errcode ≠ 0
// comes back classified: *connectors.RetryableError around *APIError for
// 45009, -1 and token trouble that outlived the retry, else the *APIError.
func (c *channel) post(ctx context.Context, op, path string, body any, out any) error {
	return c.tokens.Do(ctx, func(tok string) (refused bool, err error) {
		resp, err := c.client.R().SetContext(ctx).
			SetQueryParam("access_token", tok).
			SetHeader("Content-Type", "application/json").
			SetBody(body).
			Post(path)
		var ce commonError
		if err := decode(op, resp, err, &ce); err != nil {
			return false, err
		}
		if ce.ErrCode == codeInvalidToken || ce.ErrCode == codeTokenExpired {
			return true, &connectors.RetryableError{Err: &APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg}}
		}
		if ce.ErrCode != 0 {
			return false, classify(&APIError{Op: op, Code: ce.ErrCode, Msg: ce.ErrMsg})
		}
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			return false, &connectors.RetryableError{Err: fmt.Errorf("wecom: %s: answer is not the expected JSON", op)}
		}
		return false, nil
	})
}

// classify wraps the errcodes worth retrying.
func classify(e *APIError) error {
	switch e.Code {
	case codeRateLimited:
		return &connectors.RetryableError{After: rateLimitWait, Err: e}
	case codeSystemBusy, codeConcurrency:
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
		return &connectors.RetryableError{Err: fmt.Errorf("wecom: %s: %w", op, err)}
	}
	switch code := resp.StatusCode(); {
	case code >= 500 || code == http.StatusTooManyRequests:
		return &connectors.RetryableError{Err: fmt.Errorf("wecom: %s: HTTP %d", op, code)}
	case code != http.StatusOK:
		return fmt.Errorf("wecom: %s: HTTP %d", op, code)
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return &connectors.RetryableError{Err: fmt.Errorf("wecom: %s: answer is not JSON", op)}
	}
	return nil
}
