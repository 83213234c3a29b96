// Package dingtalk delivers work orders to DingTalk (钉钉), as four target
// kinds:
//
//	DINGTALK_ROBOT        a custom group robot posts the work order to a group (markdown)
//	DINGTALK_WORK_NOTICE  the app sends a work notification to staff (asyncsend_v2)
//	DINGTALK_TODO         the app creates a to-do for staff, one per ticket
//	DINGTALK_APPROVAL     the app starts an approval instance, one per new ticket
//
// DingTalk has two API hosts. The old one, oapi.dingtalk.com, takes
// ?access_token= (from GET /gettoken) and answers errors with HTTP 200 and
// an errcode; the robot and work notices live there. The new one,
// api.dingtalk.com, takes the x-acs-dingtalk-access-token header (from POST
// /v1.0/oauth2/accessToken) and answers errors with an HTTP status and
// {code, message}; to-dos and approvals live there. Config.BaseURL
// overrides the old host (the hub passes KEFUHUB_DINGTALK_OAPI_BASE);
// Config.Settings[SettingAPIBase] overrides the new one (the hub is to pass
// KEFUHUB_DINGTALK_API_BASE there; admins cannot set it, Normalize refuses
// unknown keys).
//
// Retries. The dispatcher retries a delivery with the same DeliveryID
// after an error, including after a lost response, so what a retry does
// depends on what DingTalk deduplicates:
//
//   - robot: msgUuid = DeliveryID; DingTalk drops a repeated msgUuid, so a
//     retry posts once.
//   - to-do: sourceId is the ticket (see todoSourceID); a retry, or a
//     second ticket.created, finds the to-do already there (what DingTalk
//     answers then is *unverified*: the fake answers the existing to-do).
//   - work notice and approval: DingTalk deduplicates nothing, so a retry
//     after a lost response notifies twice / starts a second approval. The
//     hub cannot tell a lost response from a refused request; it retries
//     rather than risk losing the work order.
//
// Wire formats are in /work/shared/PLATFORMS.md; package dingtalkfake is
// the platform for tests.
package dingtalk

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
)

// DingTalk's public hosts.
const (
	DefaultOAPIBase = "https://oapi.dingtalk.com"
	DefaultAPIBase  = "https://api.dingtalk.com"
)

// SettingAPIBase is the Config.Settings key that overrides the new API
// host (api.dingtalk.com). It is not a field of any spec: the hub sets it
// from KEFUHUB_DINGTALK_API_BASE, tests from their fake.
const SettingAPIBase = "_apiBase"

const (
	pathGetToken        = "/gettoken"
	pathAccessToken     = "/v1.0/oauth2/accessToken"
	pathRobotSend       = "/robot/send"
	pathAsyncSend       = "/topapi/message/corpconversation/asyncsend_v2"
	pathTodoTasks       = "/v1.0/todo/users/%s/tasks"
	pathProcessInstance = "/v1.0/workflow/processInstances"
)

// EventTicketCreated is the event that makes to-dos and approvals.
const EventTicketCreated = "ticket.created"

// APIError is DingTalk refusing a call: an errcode ≠ 0 from the old host
// (HTTP 200), or an HTTP error with a code from the new one.
type APIError struct {
	Op string // gettoken, robot/send, asyncsend_v2, accessToken, todo, processInstances
	// ErrCode is the old host's errcode.
	ErrCode int64
	// Status and Code are the new host's HTTP status and code.
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("dingtalk: %s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("dingtalk: %s: errcode %d: %s", e.Op, e.ErrCode, e.Msg)
}

// Old-host errcodes the connectors act on.
const (
	codeSystemBusy     = -1
	codeInvalidToken   = 40014  // 不合法的access_token
	codeInvalidApp     = 40089  // 不合法的corpId或corpSecret: bad appkey/appsecret
	codeTokenExpired   = 42001  // access_token超时
	codeRobotNotFound  = 300001 // token is not exist (also "param error")
	codeRobotSecurity  = 310000 // sign not match, invalid timestamp, keywords, IP allow-list
	codeRobotRateLimit = 410100 // more than 20 messages a minute
)

// codeInvalidAuthentication comes from the new host with HTTP 400 for an
// unknown or expired token.
const codeInvalidAuthentication = "InvalidAuthentication"

const (
	// robotBlockedFor is how long DingTalk blocks a robot after 410100.
	robotBlockedFor = 10 * time.Minute
	// throttledRetryAfter is the wait after a QPS refusal; DingTalk does
	// not say one.
	throttledRetryAfter = time.Second
)

// base is what every target kind shares.
type base struct {
	targetID  string
	oapi, api string
	client    *resty.Client
	now       func() time.Time
}

func newBase(cfg connectors.Config) base {
	b := base{targetID: cfg.ChannelID, now: cfg.Now,
		oapi: strings.TrimRight(cfg.BaseURL, "/"), api: strings.TrimRight(cfg.Settings[SettingAPIBase], "/")}
	if b.oapi == "" {
		b.oapi = DefaultOAPIBase
	}
	if b.api == "" {
		b.api = DefaultAPIBase
	}
	if b.now == nil {
		b.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	b.client = resty.NewWithClient(hc)
	return b
}

// transportError wraps network trouble as retryable, without the request
// URL: its query may hold a token, a sign or the app secret.
func transportError(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &connectors.RetryableError{Err: fmt.Errorf("dingtalk: %s: %w", op, err)}
}

// --- settings -------------------------------------------------------------

var (
	appKeyPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	agentIDPattern = regexp.MustCompile(`^[0-9]{1,19}$`)
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9_.@$-]{1,64}$`)
)

func matches(re *regexp.Regexp, what string) func(string) error {
	return func(s string) error {
		if !re.MatchString(s) {
			return errors.New("must be " + what)
		}
		return nil
	}
}

// maxRecipients bounds the comma lists: asyncsend_v2 takes at most 100
// userids a call, and a to-do's executors are people who act on it.
const maxRecipients = 100

// idList validates a comma-separated list of DingTalk ids.
func idList(what string) func(string) error {
	return func(s string) error {
		ids := splitIDs(s)
		if len(ids) == 0 {
			return errors.New("must list at least one " + what)
		}
		if len(ids) > maxRecipients {
			return fmt.Errorf("must list at most %d %ss", maxRecipients, what)
		}
		for _, id := range ids {
			if !idPattern.MatchString(id) {
				return fmt.Errorf("%q is not a %s (letters, digits and _.@$-, comma-separated)", id, what)
			}
		}
		return nil
	}
}

// splitIDs splits a comma list (ASCII or full-width commas), trimming and
// dropping empty items and repeats.
func splitIDs(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' }) {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

var appKeyField = connectors.Field{Name: "appKey", Label: "AppKey (Client ID) of the internal app", Required: true,
	Validate: matches(appKeyPattern, "the app's AppKey (letters and digits, e.g. dingxxxxxxxxxxxxxxxx)")}

var appSecretField = connectors.Field{Name: "appSecret", Label: "AppSecret (Client Secret) of the internal app",
	Secret: true, Required: true}

func boolSetting(s string) error {
	if s != "true" && s != "false" {
		return errors.New(`must be "true" or "false"`)
	}
	return nil
}

func httpURLTemplate(s string) error {
	u, err := url.Parse(strings.ReplaceAll(s, "{ticket}", "T-1"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL, with {ticket} where the ticket reference goes")
	}
	return nil
}

// markdown picks the title and text to show: the rendered message, with
// the ticket reference when a part is missing.
func markdown(wo connectors.WorkOrder) (title, text string, err error) {
	title, text = strings.TrimSpace(wo.Title), strings.TrimSpace(wo.Text)
	if title == "" {
		title = wo.TicketRef
	}
	if text == "" {
		text = title
	}
	if title == "" {
		if first, _, _ := strings.Cut(text, "\n"); first != "" {
			title = clip(strings.TrimLeft(first, "# "), 64)
		}
	}
	if title == "" || text == "" {
		return "", "", &connectors.PermanentError{Reason: "the work order has no title or text to send to DingTalk"}
	}
	return title, text, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
