// Package dingtalkfake is a stand-in for DingTalk's server APIs, in the
// spirit of net/http/httptest. One server plays both hosts (the old
// oapi.dingtalk.com and the new api.dingtalk.com) and speaks their wire
// formats as /work/shared/PLATFORMS.md describes them:
//
//	GET  /gettoken?appkey=&appsecret=                        → {errcode, errmsg, access_token, expires_in}
//	POST /v1.0/oauth2/accessToken  {appKey, appSecret}       → {accessToken, expireIn}
//	POST /robot/send?access_token=&timestamp=&sign=         {msgtype, markdown:{title, text}, msgUuid} → {errcode, errmsg}
//	POST /topapi/message/corpconversation/asyncsend_v2?access_token=
//	     {agent_id, userid_list, msg} (form or JSON)         → {errcode, errmsg, task_id, request_id}
//	POST /v1.0/todo/users/{unionId}/tasks?operatorId=       {subject, description, executorIds, sourceId, ...} → {id, ...}
//	POST /v1.0/workflow/processInstances                    {originatorUserId, processCode, formComponentValues} → {instanceId}
//
// The old host answers errors with HTTP 200 and an errcode (40014 unknown
// token, 42001 expired token); the new one takes the token in the
// x-acs-dingtalk-access-token header and answers errors with an HTTP
// status and {code, requestid, message} (HTTP 400 InvalidAuthentication
// for an unknown or expired token).
//
// It enforces what the platform enforces: the robot's sign (HMAC-SHA256,
// timestamp within an hour), its 20-messages-a-minute limit (410100, then
// 10 minutes blocked) and msgUuid deduplication, token validity, and the
// to-do's sourceId. Switches make it fail the way the platform does
// (ExpireTokens, FailNext, FailNextHTTP, DropNext, RateLimit).
//
// Where the platform's behaviour is not documented the fake makes a choice,
// marked *unverified* below: what a repeated msgUuid and a repeated to-do
// sourceId answer, and the codes for refused credentials and bad
// parameters.
package dingtalkfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/fakehttp"
)

// API paths. PathTodoTasks is a pattern: FailNext and DropNext take it as
// is, whatever the unionId.
const (
	PathGetToken        = "/gettoken"
	PathAccessToken     = "/v1.0/oauth2/accessToken"
	PathRobotSend       = "/robot/send"
	PathAsyncSend       = "/topapi/message/corpconversation/asyncsend_v2"
	PathTodoTasks       = "/v1.0/todo/users/{unionId}/tasks"
	PathTodoTask        = "/v1.0/todo/users/{unionId}/tasks/{taskId}"
	PathProcessInstance = "/v1.0/workflow/processInstances"
)

// Errcodes of the old host (HTTP 200).
const (
	ErrSystemBusy       = -1
	ErrInvalidToken     = 40014  // 不合法的access_token
	ErrInvalidParam     = 40035  // 不合法的参数
	ErrInvalidAgentID   = 40056  // 不合法的agentid
	ErrInvalidApp       = 40089  // 不合法的corpId或corpSecret (gettoken with a bad appkey/appsecret)
	ErrTokenExpired     = 42001  // access_token超时
	ErrRobotParam       = 300001 // robot: token is not exist / param error
	ErrRobotSecurity    = 310000 // robot: sign not match, invalid timestamp, keywords not in content, ip not in whitelist
	ErrRobotRateLimited = 410100 // robot: send too fast, exceed 20 times per minute
)

// Codes of the new host's error answers (with an HTTP status).
const (
	// CodeInvalidAuthentication comes with HTTP 400 for an unknown or
	// expired x-acs-dingtalk-access-token.
	CodeInvalidAuthentication = "InvalidAuthentication"
	// CodeInvalidCredentials comes with HTTP 400 from accessToken for a bad
	// appKey or appSecret. *Unverified*: the platform's code is not
	// documented where we looked; connectors must not depend on it.
	CodeInvalidCredentials = "invalidClientIdOrSecret"
	// CodeInvalidParameter comes with HTTP 400 for a malformed request.
	// *Unverified* in the same way.
	CodeInvalidParameter = "invalidParameter"
	// CodeForbidden and CodeTaskNotFound come with HTTP 403 and 404 from
	// the to-do detail API. *Unverified* in the same way.
	CodeForbidden    = "forbidden.accessDenied"
	CodeTaskNotFound = "todo.task.notFound"
)

// Limits the platform applies.
const (
	TokenTTL         = 7200 * time.Second
	RobotPerMinute   = 20
	RobotBlock       = 10 * time.Minute
	RobotClockSkew   = time.Hour
	requestBodyLimit = 1 << 20
)

// App is an internal app (企业内部应用).
type App struct {
	AppKey, AppSecret string
	// AgentID is the app's agent id, which work notices must name.
	AgentID int64
	// ProcessCodes are the approval templates the app may start; empty
	// accepts any processCode starting with "PROC-".
	ProcessCodes []string
}

// Robot is a custom group robot with 加签 (signing) turned on.
type Robot struct {
	AccessToken, Secret string
}

// RobotMessage is a message a robot posted to its group.
type RobotMessage struct {
	AccessToken string
	MsgUUID     string
	MsgType     string
	Title, Text string
	At          time.Time
	// Received counts the requests that carried this message (msgUuid
	// repeats included).
	Received int
}

// WorkNotice is a work notification asyncsend_v2 accepted.
type WorkNotice struct {
	TaskID      int64
	AgentID     int64
	UserIDs     []string
	MsgType     string
	Title, Text string
	// Encoding is "form" or "json": how the request body came.
	Encoding string
	At       time.Time
}

// Todo is a to-do task.
type Todo struct {
	ID              string
	OperatorUnionID string // the {unionId} of the path
	OperatorID      string // the operatorId query parameter
	Subject         string
	Description     string
	ExecutorIDs     []string
	SourceID        string
	DueTime         int64 // ms
	DetailURL       *DetailURL
	CreatedTime     int64 // ms
	// Received counts the create requests that named this to-do (sourceId
	// repeats included).
	Received int
	// Done and FinishTime (ms) are set by CompleteTodo, as when an
	// executor ticks the to-do off in DingTalk.
	Done       bool
	FinishTime int64
}

// DetailURL is a to-do's link.
type DetailURL struct {
	AppURL string `json:"appUrl,omitempty"`
	PCURL  string `json:"pcUrl,omitempty"`
}

// FormValue is one approval form component value.
type FormValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Approval is an approval instance started.
type Approval struct {
	InstanceID       string
	ProcessCode      string
	OriginatorUserID string
	Form             []FormValue
	At               time.Time
}

type faultKind int

const (
	faultErrcode faultKind = iota
	faultHTTP
	faultDrop
	faultTimeout
)

type fault struct {
	kind   faultKind
	status int
	code   string
	errno  int
}

type token struct {
	appKey  string
	expires time.Time
}

type robotState struct {
	Robot
	sent         []time.Time // accepted messages in the last minute
	blockedUntil time.Time
	byUUID       map[string]int // msgUuid → index in Server.robotMsgs
}

// Server is a fake DingTalk.
type Server struct {
	*httptest.Server

	mu           sync.Mutex
	now          func() time.Time
	apps         map[string]App
	robots       map[string]*robotState
	oldTokens    map[string]token
	newTokens    map[string]token
	tokenFetches int
	calls        map[string]int
	faults       fakehttp.Faults[fault]
	perMinute    int
	robotMsgs    []RobotMessage
	notices      []WorkNotice
	todos        []*Todo
	todoBySource map[[2]string]*Todo // {operator unionId, sourceId}
	approvals    []Approval
	seq          int64
	chaos        *chaos
}

// chaos fails a share of the calls to some paths at random.
type chaos struct {
	rng                     *mrand.Rand
	paths                   []string
	fail, timeout, drop     float64
	timeoutFor              time.Duration
	failed, timedOut, dropd int
}

// SetChaos makes the server misbehave on a share of the calls to paths (all
// API paths when none are given; token paths are never affected): fail
// answers HTTP 503 without applying, timeout holds the request for
// timeoutFor (longer than the caller waits) without applying, drop applies
// and then closes the connection without an answer.
func (s *Server) SetChaos(seed uint64, fail, timeout, drop float64, timeoutFor time.Duration, paths ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = &chaos{rng: mrand.New(mrand.NewPCG(seed, seed)), paths: paths, fail: fail, timeout: timeout, drop: drop, timeoutFor: timeoutFor}
}

// ChaosCounts reports how many calls chaos failed, timed out and dropped.
func (s *Server) ChaosCounts() (failed, timedOut, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chaos == nil {
		return 0, 0, 0
	}
	return s.chaos.failed, s.chaos.timedOut, s.chaos.dropd
}

// chaosFault draws the fate of a call to path; the caller holds s.mu.
func (s *Server) chaosFault(path string) (fault, bool) {
	c := s.chaos
	if c == nil || path == PathGetToken || path == PathAccessToken || (len(c.paths) > 0 && !slices.Contains(c.paths, path)) {
		return fault{}, false
	}
	switch x := c.rng.Float64(); {
	case x < c.fail:
		c.failed++
		return fault{kind: faultHTTP, status: http.StatusServiceUnavailable, code: "ServiceUnavailable"}, true
	case x < c.fail+c.timeout:
		c.timedOut++
		return fault{kind: faultTimeout}, true
	case x < c.fail+c.timeout+c.drop:
		c.dropd++
		return fault{kind: faultDrop}, true
	}
	return fault{}, false
}

// New starts a fake DingTalk with one app and one robot (either may be
// the zero value; AddApp and AddRobot add more).
func New(app App, robot Robot) *Server {
	s := &Server{
		now:          time.Now,
		apps:         map[string]App{},
		robots:       map[string]*robotState{},
		oldTokens:    map[string]token{},
		newTokens:    map[string]token{},
		calls:        map[string]int{},
		perMinute:    RobotPerMinute,
		todoBySource: map[[2]string]*Todo{},
		seq:          1000,
	}
	if app.AppKey != "" {
		s.AddApp(app)
	}
	if robot.AccessToken != "" {
		s.AddRobot(robot)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathGetToken, s.route(PathGetToken, s.handleGetToken))
	mux.HandleFunc("POST "+PathAccessToken, s.route(PathAccessToken, s.handleAccessToken))
	mux.HandleFunc("POST "+PathRobotSend, s.route(PathRobotSend, s.handleRobotSend))
	mux.HandleFunc("POST "+PathAsyncSend, s.route(PathAsyncSend, s.handleAsyncSend))
	mux.HandleFunc("POST "+PathTodoTasks, s.route(PathTodoTasks, s.handleTodo))
	mux.HandleFunc("GET "+PathTodoTask, s.route(PathTodoTask, s.handleGetTodo))
	mux.HandleFunc("POST "+PathProcessInstance, s.route(PathProcessInstance, s.handleProcessInstance))
	s.Server = httptest.NewServer(mux)
	return s
}

// AddApp registers another internal app.
func (s *Server) AddApp(app App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[app.AppKey] = app
}

// AddRobot registers another custom robot.
func (s *Server) AddRobot(r Robot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.robots[r.AccessToken] = &robotState{Robot: r, byUUID: map[string]int{}}
}

// SetClock replaces the fake's clock (token expiry, the robot's timestamp
// window and rate limit).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// --- switches -------------------------------------------------------------

// ExpireTokens makes every token issued so far expired: the old host then
// answers 42001 (HTTP 200), the new one HTTP 400 InvalidAuthentication.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, t := range s.oldTokens {
		t.expires = now
		s.oldTokens[k] = t
	}
	for k, t := range s.newTokens {
		t.expires = now
		s.newTokens[k] = t
	}
}

// FailNext makes the next n calls to path ("" for any) answer HTTP 200
// with errcode, the old host's way, before doing anything.
func (s *Server) FailNext(path string, n, errcode int) {
	s.addFaults(path, n, fault{kind: faultErrcode, errno: errcode})
}

// FailNextHTTP makes the next n calls to path ("" for any) answer the
// HTTP status with {code, requestid, message}, the new host's way, before
// doing anything. An empty code is CodeInvalidParameter for 4xx and
// "ServiceUnavailable" otherwise.
func (s *Server) FailNextHTTP(path string, n, status int, code string) {
	if code == "" {
		code = "ServiceUnavailable"
		if status >= 400 && status < 500 {
			code = CodeInvalidParameter
		}
	}
	s.addFaults(path, n, fault{kind: faultHTTP, status: status, code: code})
}

// DropNext makes the next n calls to path ("" for any) take effect and
// then close the connection without an answer (a lost response).
func (s *Server) DropNext(path string, n int) { s.addFaults(path, n, fault{kind: faultDrop}) }

func (s *Server) addFaults(path string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(path, n, f)
}

// RateLimit sets how many messages a robot may post a minute before it is
// blocked for 10 minutes (410100): 20 by default, as on the platform; 0
// turns the limit off.
func (s *Server) RateLimit(perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perMinute = perMinute
}

// --- inspection -----------------------------------------------------------

// RobotMessages returns what the robots posted, in order (one entry per
// msgUuid).
func (s *Server) RobotMessages() []RobotMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RobotMessage(nil), s.robotMsgs...)
}

// WorkNotices returns the work notices accepted, in order.
func (s *Server) WorkNotices() []WorkNotice {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WorkNotice, len(s.notices))
	for i, n := range s.notices {
		n.UserIDs = append([]string(nil), n.UserIDs...)
		out[i] = n
	}
	return out
}

// Todos returns the to-dos, in creation order.
func (s *Server) Todos() []Todo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Todo, len(s.todos))
	for i, t := range s.todos {
		out[i] = *t
		out[i].ExecutorIDs = append([]string(nil), t.ExecutorIDs...)
	}
	return out
}

// Approvals returns the approval instances started, in order.
func (s *Server) Approvals() []Approval {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Approval, len(s.approvals))
	for i, a := range s.approvals {
		a.Form = append([]FormValue(nil), a.Form...)
		out[i] = a
	}
	return out
}

// TokenFetches returns how many tokens were issued, old and new.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFetches
}

// Calls returns how many requests reached path (a Path constant), failed
// ones included.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// Sign is the robot's sign for a timestamp (ms), before URL encoding:
// base64(HMAC-SHA256(key=secret, timestamp + "\n" + secret)). It is
// written from PLATFORMS.md, not shared with the connector, so the two
// check each other.
func Sign(secret, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// --- plumbing -------------------------------------------------------------

// route counts calls and applies pending faults.
func (s *Server) route(path string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[path]++
		f, faulty := s.faults.Take(path)
		if !faulty {
			f, faulty = s.chaosFault(path)
		}
		var holdFor time.Duration
		if s.chaos != nil {
			holdFor = s.chaos.timeoutFor
		}
		s.mu.Unlock()
		if !faulty {
			h(w, r)
			return
		}
		switch f.kind {
		case faultErrcode:
			writeErrcode(w, f.errno, "fake failure")
		case faultHTTP:
			writeAPIError(w, f.status, f.code, "fake failure")
		case faultTimeout:
			fakehttp.Hold(w, r, holdFor)
		case faultDrop:
			fakehttp.DropResponse(w, r, h)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errcodeBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// writeErrcode answers the old host's way: HTTP 200 with errcode.
func writeErrcode(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusOK, errcodeBody{code, msg})
}

// writeAPIError answers the new host's way.
func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "requestid": requestID(), "message": msg})
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// --- tokens ---------------------------------------------------------------

func (s *Server) issue(tokens map[string]token, appKey string) string {
	t := randomHex(32)
	tokens[t] = token{appKey: appKey, expires: s.now().Add(TokenTTL)}
	s.tokenFetches++
	return t
}

func (s *Server) handleGetToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.apps[q.Get("appkey")]
	if !ok || q.Get("appsecret") != app.AppSecret {
		writeErrcode(w, ErrInvalidApp, "不合法的corpId或corpSecret")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok",
		"access_token": s.issue(s.oldTokens, app.AppKey), "expires_in": int(TokenTTL / time.Second)})
}

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		// The platform takes JSON only (a form gets "body is mandatory").
		writeAPIError(w, http.StatusBadRequest, "MissingBody", "body is mandatory for this action.")
		return
	}
	var req struct {
		AppKey    string `json:"appKey"`
		AppSecret string `json:"appSecret"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, requestBodyLimit)).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.apps[req.AppKey]
	if !ok || req.AppSecret != app.AppSecret {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidCredentials, "appKey或appSecret不正确")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accessToken": s.issue(s.newTokens, app.AppKey),
		"expireIn": int(TokenTTL / time.Second)})
}

// oldApp checks ?access_token=; s.mu is held.
func (s *Server) oldApp(w http.ResponseWriter, r *http.Request) (App, bool) {
	t, ok := s.oldTokens[r.URL.Query().Get("access_token")]
	switch {
	case !ok:
		writeErrcode(w, ErrInvalidToken, "不合法的access_token")
	case !s.now().Before(t.expires):
		writeErrcode(w, ErrTokenExpired, "access_token超时")
	default:
		return s.apps[t.appKey], true
	}
	return App{}, false
}

// newApp checks the x-acs-dingtalk-access-token header; s.mu is held.
func (s *Server) newApp(w http.ResponseWriter, r *http.Request) (App, bool) {
	t, ok := s.newTokens[r.Header.Get("x-acs-dingtalk-access-token")]
	if !ok || !s.now().Before(t.expires) {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidAuthentication, "不合法的access_token")
		return App{}, false
	}
	return s.apps[t.appKey], true
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// --- robot ----------------------------------------------------------------

func (s *Server) handleRobotSend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var req struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
		MsgUUID string `json:"msgUuid"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, requestBodyLimit))
	s.mu.Lock()
	defer s.mu.Unlock()
	robot, ok := s.robots[q.Get("access_token")]
	if !ok {
		writeErrcode(w, ErrRobotParam, "description:robot 不存在；solution:请确认 token 是否正确；")
		return
	}
	now := s.now()
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil || now.Sub(time.UnixMilli(ts)).Abs() > RobotClockSkew {
		writeErrcode(w, ErrRobotSecurity, "invalid timestamp")
		return
	}
	// Query() has undone the URL encoding; the sign compared is base64.
	if !hmac.Equal([]byte(q.Get("sign")), []byte(Sign(robot.Secret, q.Get("timestamp")))) {
		writeErrcode(w, ErrRobotSecurity, "sign not match")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrcode(w, ErrRobotParam, "param error")
		return
	}
	var title, text string
	switch {
	case req.MsgType == "markdown" && req.Markdown != nil && req.Markdown.Title != "" && req.Markdown.Text != "":
		title, text = req.Markdown.Title, req.Markdown.Text
	case req.MsgType == "text" && req.Text != nil && req.Text.Content != "":
		text = req.Text.Content
	default:
		writeErrcode(w, ErrRobotParam, "param error")
		return
	}
	// *Unverified*: a repeated msgUuid is answered like the first time and
	// not posted again; the platform documents msgUuid for deduplication
	// but not its answer or window (the fake remembers forever).
	if i, dup := robot.byUUID[req.MsgUUID]; dup && req.MsgUUID != "" {
		s.robotMsgs[i].Received++
		writeErrcode(w, 0, "ok")
		return
	}
	if now.Before(robot.blockedUntil) {
		writeErrcode(w, ErrRobotRateLimited, "send too fast, exceed 20 times per minute")
		return
	}
	recent := robot.sent[:0]
	for _, t := range robot.sent {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	robot.sent = recent
	if s.perMinute > 0 && len(robot.sent) >= s.perMinute {
		robot.blockedUntil = now.Add(RobotBlock)
		writeErrcode(w, ErrRobotRateLimited, "send too fast, exceed 20 times per minute")
		return
	}
	robot.sent = append(robot.sent, now)
	if req.MsgUUID != "" {
		robot.byUUID[req.MsgUUID] = len(s.robotMsgs)
	}
	s.robotMsgs = append(s.robotMsgs, RobotMessage{AccessToken: robot.AccessToken, MsgUUID: req.MsgUUID,
		MsgType: req.MsgType, Title: title, Text: text, At: now, Received: 1})
	writeErrcode(w, 0, "ok")
}

// --- work notices ---------------------------------------------------------

type noticeMsg struct {
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Markdown *struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

func (s *Server) handleAsyncSend(w http.ResponseWriter, r *http.Request) {
	var (
		agentID, userIDs, encoding string
		msg                        noticeMsg
		msgErr                     error
	)
	r.Body = http.MaxBytesReader(w, r.Body, requestBodyLimit)
	if isJSON(r) {
		encoding = "json"
		var req struct {
			AgentID    json.Number     `json:"agent_id"`
			UserIDList string          `json:"userid_list"`
			Msg        json.RawMessage `json:"msg"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErrcode(w, ErrInvalidParam, "不合法的参数: body is not JSON")
			return
		}
		agentID, userIDs = req.AgentID.String(), req.UserIDList
		msgErr = json.Unmarshal(req.Msg, &msg)
	} else {
		encoding = "form"
		if err := r.ParseForm(); err != nil {
			writeErrcode(w, ErrInvalidParam, "不合法的参数: form")
			return
		}
		agentID, userIDs = r.PostForm.Get("agent_id"), r.PostForm.Get("userid_list")
		msgErr = json.Unmarshal([]byte(r.PostForm.Get("msg")), &msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.oldApp(w, r)
	if !ok {
		return
	}
	agent, err := strconv.ParseInt(agentID, 10, 64)
	if err != nil || agent != app.AgentID {
		writeErrcode(w, ErrInvalidAgentID, "不合法的agentid")
		return
	}
	var users []string
	for _, u := range strings.Split(userIDs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		writeErrcode(w, ErrInvalidParam, "不合法的参数: userid_list")
		return
	}
	n := WorkNotice{AgentID: agent, UserIDs: users, MsgType: msg.MsgType, Encoding: encoding, At: s.now()}
	switch {
	case msgErr != nil:
		writeErrcode(w, ErrInvalidParam, "不合法的参数: msg")
		return
	case msg.MsgType == "markdown" && msg.Markdown != nil && msg.Markdown.Title != "" && msg.Markdown.Text != "":
		n.Title, n.Text = msg.Markdown.Title, msg.Markdown.Text
	case msg.MsgType == "text" && msg.Text != nil && msg.Text.Content != "":
		n.Text = msg.Text.Content
	default:
		writeErrcode(w, ErrInvalidParam, "不合法的参数: msg")
		return
	}
	s.seq++
	n.TaskID = 256271667000 + s.seq
	s.notices = append(s.notices, n)
	writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "task_id": n.TaskID, "request_id": randomHex(12)})
}

// --- to-dos ---------------------------------------------------------------

type todoJSON struct {
	ID             string     `json:"id"`
	Subject        string     `json:"subject"`
	Description    string     `json:"description,omitempty"`
	DueTime        int64      `json:"dueTime,omitempty"`
	Done           bool       `json:"done"`
	ExecutorIDs    []string   `json:"executorIds"`
	ParticipantIDs []string   `json:"participantIds"`
	DetailURL      *DetailURL `json:"detailUrl,omitempty"`
	SourceID       string     `json:"sourceId,omitempty"`
	CreatedTime    int64      `json:"createdTime"`
	ModifiedTime   int64      `json:"modifiedTime"`
	CreatorID      string     `json:"creatorId"`
	ModifierID     string     `json:"modifierId"`
	FinishTime     int64      `json:"finishTime,omitempty"`
	RequestID      string     `json:"requestId"`
}

// CompleteTodo marks a to-do done, as its executor would in DingTalk; it
// reports whether the to-do exists.
func (s *Server) CompleteTodo(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.todos {
		if t.ID == id {
			t.Done, t.FinishTime = true, s.now().UnixMilli()
			return true
		}
	}
	return false
}

// handleGetTodo answers GET /v1.0/todo/users/{unionId}/tasks/{taskId}
// (查询待办详情) with the to-do, for its creator or an executor.
func (s *Server) handleGetTodo(w http.ResponseWriter, r *http.Request) {
	unionID, taskID := r.PathValue("unionId"), r.PathValue("taskId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.newApp(w, r); !ok {
		return
	}
	for _, t := range s.todos {
		if t.ID != taskID {
			continue
		}
		if t.OperatorUnionID != unionID && !slices.Contains(t.ExecutorIDs, unionID) {
			writeAPIError(w, http.StatusForbidden, CodeForbidden, "the user may not see this to-do")
			return
		}
		writeJSON(w, http.StatusOK, s.todoAnswer(t))
		return
	}
	writeAPIError(w, http.StatusNotFound, CodeTaskNotFound, "to-do not found")
}

func (s *Server) handleTodo(w http.ResponseWriter, r *http.Request) {
	unionID, operatorID := r.PathValue("unionId"), r.URL.Query().Get("operatorId")
	var req struct {
		Subject     string     `json:"subject"`
		Description string     `json:"description"`
		DueTime     int64      `json:"dueTime"`
		ExecutorIDs []string   `json:"executorIds"`
		CreatorID   string     `json:"creatorId"`
		SourceID    string     `json:"sourceId"`
		DetailURL   *DetailURL `json:"detailUrl"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.newApp(w, r); !ok {
		return
	}
	if !isJSON(r) || json.NewDecoder(io.LimitReader(r.Body, requestBodyLimit)).Decode(&req) != nil {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "body is not JSON")
		return
	}
	if req.Subject == "" {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "subject is required")
		return
	}
	// *Unverified*: DingTalk calls sourceId the business system's id of
	// the to-do but does not document what a second create with the same
	// one does. The fake answers with the existing to-do, unchanged, so
	// that a retry never makes two.
	if req.SourceID != "" {
		if t, dup := s.todoBySource[[2]string{unionID, req.SourceID}]; dup {
			t.Received++
			writeJSON(w, http.StatusOK, s.todoAnswer(t))
			return
		}
	}
	now := s.now().UnixMilli()
	s.seq++
	t := &Todo{ID: "task" + strconv.FormatInt(s.seq, 10) + randomHex(8), OperatorUnionID: unionID, OperatorID: operatorID,
		Subject: req.Subject, Description: req.Description, ExecutorIDs: req.ExecutorIDs, SourceID: req.SourceID,
		DueTime: req.DueTime, DetailURL: req.DetailURL, CreatedTime: now, Received: 1}
	s.todos = append(s.todos, t)
	if t.SourceID != "" {
		s.todoBySource[[2]string{unionID, t.SourceID}] = t
	}
	writeJSON(w, http.StatusOK, s.todoAnswer(t))
}

func (s *Server) todoAnswer(t *Todo) todoJSON {
	return todoJSON{ID: t.ID, Subject: t.Subject, Description: t.Description, DueTime: t.DueTime,
		ExecutorIDs: t.ExecutorIDs, ParticipantIDs: []string{}, DetailURL: t.DetailURL, SourceID: t.SourceID,
		CreatedTime: t.CreatedTime, ModifiedTime: t.CreatedTime, CreatorID: t.OperatorUnionID,
		ModifierID: t.OperatorUnionID, Done: t.Done, FinishTime: t.FinishTime, RequestID: requestID()}
}

// --- approvals ------------------------------------------------------------

func (s *Server) handleProcessInstance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OriginatorUserID    string      `json:"originatorUserId"`
		ProcessCode         string      `json:"processCode"`
		FormComponentValues []FormValue `json:"formComponentValues"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.newApp(w, r)
	if !ok {
		return
	}
	if !isJSON(r) || json.NewDecoder(io.LimitReader(r.Body, requestBodyLimit)).Decode(&req) != nil {
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "body is not JSON")
		return
	}
	known := strings.HasPrefix(req.ProcessCode, "PROC-")
	if len(app.ProcessCodes) > 0 {
		known = false
		for _, c := range app.ProcessCodes {
			known = known || c == req.ProcessCode
		}
	}
	switch {
	case req.OriginatorUserID == "":
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "originatorUserId is required")
		return
	case !known:
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "processCode is not a template of the app")
		return
	case len(req.FormComponentValues) == 0:
		writeAPIError(w, http.StatusBadRequest, CodeInvalidParameter, "formComponentValues is required")
		return
	}
	a := Approval{InstanceID: randomHex(8) + "-" + randomHex(4) + "-" + randomHex(4) + "-" + randomHex(12),
		ProcessCode: req.ProcessCode, OriginatorUserID: req.OriginatorUserID, Form: req.FormComponentValues, At: s.now()}
	s.approvals = append(s.approvals, a)
	writeJSON(w, http.StatusOK, map[string]string{"instanceId": a.InstanceID})
}
