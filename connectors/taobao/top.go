package taobao

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
)

// Signing methods of the TOP gateway (sign_method).
const (
	SignMD5        = "md5"
	SignHMAC       = "hmac" // HMAC-MD5
	SignHMACSHA256 = "hmac-sha256"
)

// timeLayout is TOP's timestamp format; times are Beijing time (GMT+8).
const timeLayout = "2006-01-02 15:04:05"

var gmt8 = time.FixedZone("GMT+8", 8*60*60)

// Sign computes a TOP request signature: every parameter except "sign"
// whose value is not empty (the first value of each name), sorted by name,
// concatenated as name1value1name2value2..., then
//
//	md5:         MD5(secret + s + secret)
//	hmac:        HMAC-MD5(key = secret, s)
//	hmac-sha256: HMAC-SHA256(key = secret, s)
//
// in uppercase hex. An unknown method yields "".
func Sign(params url.Values, secret, method string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k == "sign" || params.Get(k) == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var h hash.Hash
	switch method {
	case SignMD5:
		h = md5.New()
		h.Write([]byte(secret))
	case SignHMAC:
		h = hmac.New(md5.New, []byte(secret))
	case SignHMACSHA256:
		h = hmac.New(sha256.New, []byte(secret))
	default:
		return ""
	}
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte(params.Get(k)))
	}
	if method == SignMD5 {
		h.Write([]byte(secret))
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// APIError is an error_response of the gateway that is neither a reason to
// retry nor a revoked authorisation (those become connectors.RetryableError
// and connectors.PermanentError).
type APIError struct {
	Method  string
	Code    int
	Msg     string
	SubCode string
	SubMsg  string
}

// hints explain the codes an admin can fix in the channel's settings.
var hints = map[int]string{
	25: "check appSecret and signMethod",
	28: "appKey is missing",
	29: "check appKey",
	31: "the server clock is off by more than 10 minutes",
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "taobao: %s: error %d %s", e.Method, e.Code, e.Msg)
	if e.SubCode != "" || e.SubMsg != "" {
		fmt.Fprintf(&b, " (%s", e.SubCode)
		if e.SubMsg != "" {
			if e.SubCode != "" {
				b.WriteString(": ")
			}
			b.WriteString(e.SubMsg)
		}
		b.WriteString(")")
	}
	if h := hints[e.Code]; h != "" {
		b.WriteString(": " + h)
	}
	return b.String()
}

// defaultRetryAfter is the wait suggested when the gateway names none.
const defaultRetryAfter = time.Second

// banRe finds the wait in a call-limit sub_msg such as "This ban will last
// for 71 more seconds" (or "剩余 71 秒").
var banRe = regexp.MustCompile(`(\d{1,6})\s*(?:more\s+seconds?|秒)`)

// classify turns an error_response into the error kinds the dispatcher
// understands:
//
//   - code 7 (call limit), code 10 (service unavailable) and any isp.*
//     sub_code (the platform's own failure): RetryableError, After parsed
//     from sub_msg when it says how long the ban lasts, else 1 s;
//   - 26/27 (missing, invalid or expired session): PermanentError, the shop
//     must authorise the app again;
//   - 11/12 (app or user lacks the permission): PermanentError;
//   - anything else: *APIError with the code.
func classify(e *APIError) error {
	switch {
	case e.Code == 7 || e.Code == 10 || strings.HasPrefix(e.SubCode, "isp."):
		after := defaultRetryAfter
		if m := banRe.FindStringSubmatch(e.SubMsg); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
				after = min(time.Duration(n)*time.Second, time.Hour)
			}
		}
		return &connectors.RetryableError{After: after, Err: e}
	case e.Code == 26 || e.Code == 27:
		return &connectors.PermanentError{Reason: "taobao: the shop's session key is missing, invalid or expired (" +
			e.short() + "): authorise the app in the shop again and update sessionKey"}
	case e.Code == 11 || e.Code == 12:
		return &connectors.PermanentError{Reason: "taobao: permission denied (" + e.short() +
			"): grant the app this API's permission (11: the app, 12: the shop's authorisation) and authorise again"}
	default:
		return e
	}
}

func (e *APIError) short() string {
	s := fmt.Sprintf("%s error %d %s", e.Method, e.Code, e.Msg)
	if e.SubCode != "" {
		s += " " + e.SubCode
	}
	return s
}

// flexString decodes a JSON string, number or boolean as its text, so that
// ids above 2^53 keep every digit. null decodes as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case 'n':
		*f = ""
	case 't', 'f':
		*f = flexString(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexString(n.String())
	}
	return nil
}

// errorBody is the gateway's error_response.
type errorBody struct {
	Code    flexString `json:"code"`
	Msg     string     `json:"msg"`
	SubCode string     `json:"sub_code"`
	SubMsg  string     `json:"sub_msg"`
}

// responseKey is where a method's result sits: "taobao." dropped, dots
// turned into underscores, "_response" appended.
func responseKey(method string) string {
	return strings.ReplaceAll(strings.TrimPrefix(method, "taobao."), ".", "_") + "_response"
}

// unwrap finds a method's result in a gateway answer, or turns its
// error_response into a classified error.
func unwrap(method string, body []byte) (json.RawMessage, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("taobao: %s: the gateway's answer is not a JSON object", method)
	}
	if raw, ok := env["error_response"]; ok {
		var eb errorBody
		if err := json.Unmarshal(raw, &eb); err != nil {
			return nil, fmt.Errorf("taobao: %s: unreadable error_response", method)
		}
		code, _ := strconv.Atoi(string(eb.Code))
		return nil, classify(&APIError{Method: method, Code: code, Msg: eb.Msg, SubCode: eb.SubCode, SubMsg: eb.SubMsg})
	}
	key := responseKey(method)
	raw, ok := env[key]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("taobao: %s: the gateway's answer has no %s object", method, key)
	}
	return raw, nil
}

// maxResponse bounds what is read of a gateway answer.
const maxResponse = 8 << 20

// do POSTs a signed call and returns the answer's body. Transport failures,
// 429 and 5xx are retryable; the body is not inspected here.
func (c *Channel) do(ctx context.Context, method string, params map[string]string) ([]byte, error) {
	form := url.Values{}
	for k, v := range params {
		if v != "" {
			form.Set(k, v)
		}
	}
	form.Set("method", method)
	form.Set("app_key", c.appKey)
	form.Set("session", c.session)
	form.Set("timestamp", c.now().In(gmt8).Format(timeLayout))
	form.Set("v", "2.0")
	form.Set("sign_method", c.signMethod)
	form.Set("format", "json")
	form.Set("sign", Sign(form, c.secret, c.signMethod))
	resp, err := c.client.R().SetContext(ctx).SetFormDataFromValues(form).Post(c.gateway)
	if err != nil {
		return nil, &connectors.RetryableError{After: defaultRetryAfter, Err: fmt.Errorf("taobao: %s: %w", method, err)}
	}
	switch code := resp.StatusCode(); {
	case code == 429 || code >= 500:
		return nil, &connectors.RetryableError{After: defaultRetryAfter, Err: fmt.Errorf("taobao: %s: gateway answered HTTP %d", method, code)}
	case code != 200:
		return nil, fmt.Errorf("taobao: %s: gateway answered HTTP %d", method, code)
	}
	return resp.Body(), nil
}

// call makes a call and decodes its result into out (when not nil).
func (c *Channel) call(ctx context.Context, method string, params map[string]string, out any) error {
	body, err := c.do(ctx, method, params)
	if err != nil {
		return err
	}
	raw, err := unwrap(method, body)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("taobao: %s: unexpected result shape", method)
		}
	}
	return nil
}
