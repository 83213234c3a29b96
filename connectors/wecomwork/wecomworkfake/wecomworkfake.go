// Package wecomworkfake is a stand-in for the WeCom (企业微信) APIs that
// kefuhub's work-order targets call, in the spirit of net/http/httptest.
// It speaks the wire format of PLATFORMS.md ("WeCom"):
//
//	GET  /cgi-bin/gettoken?corpid=&corpsecret=  → {errcode, errmsg, access_token, expires_in}
//	POST /cgi-bin/message/send?access_token=    {touser, msgtype, agentid, textcard|text|markdown,
//	                                             enable_duplicate_check, duplicate_check_interval}
//	                                            → {errcode, errmsg, invaliduser, msgid}
//	POST /cgi-bin/oa/applyevent?access_token=   {creator_userid, template_id, use_template_approver,
//	                                             apply_data:{contents}, summary_list} → {errcode, errmsg, sp_no}
//	POST /cgi-bin/webhook/send?key=             {msgtype:"text"|"markdown", ...} → {errcode, errmsg}
//
// It enforces what the platform enforces: access tokens (41001, 40014,
// 42001), known members (invaliduser; 81013 when nobody is left), the
// duplicate check of message/send (same content within the interval is
// not sent again; the fake answers the first message's msgid — WeCom does
// not document its answer), robot keys (93000) and the robot's 20 messages
// a minute (45009). textcard title and description are cut at 128 and 512
// bytes, as WeCom documents, without regard to UTF-8.
//
// applyevent has no duplicate check on the platform, and none here: every
// call files an approval. Approvals whose template, creator and contents
// equal an earlier one's are marked DuplicateOf it, so tests can show what
// a retry does. Templates and agentids are not checked.
//
// Switches make it fail as the platform does: FailNext (an errcode),
// FailNextHTTP (a status), DropNext (act, then lose the answer),
// ExpireTokens. The clock is settable (SetClock): no test needs to sleep.
package wecomworkfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/fakehttp"
)

// API paths.
const (
	PathGetToken   = "/cgi-bin/gettoken"
	PathSendMsg    = "/cgi-bin/message/send"
	PathApplyEvent = "/cgi-bin/oa/applyevent"
	PathWebhook    = "/cgi-bin/webhook/send"
)

// Error codes the fake answers with (WeCom's global codes).
const (
	ErrSystemBusy     = -1
	ErrInvalidSecret  = 40001
	ErrInvalidUserID  = 40003
	ErrInvalidMsgType = 40008
	ErrInvalidCorpID  = 40013
	ErrInvalidToken   = 40014
	ErrInvalidParam   = 40058
	ErrMissingToken   = 41001
	ErrMissingCorpID  = 41002
	ErrMissingSecret  = 41004
	ErrTokenExpired   = 42001
	ErrEmptyContent   = 44004
	ErrRateLimited    = 45009
	ErrBadJSON        = 47001
	ErrIPNotAllowed   = 60020
	ErrAllInvalid     = 81013
	ErrRobotBadKey    = 93000
)

// Limits the platform applies.
const (
	TokenTTL                 = 7200 * time.Second
	DefaultDuplicateInterval = 1800 * time.Second
	MaxDuplicateInterval     = 4 * time.Hour
	MaxCardTitle             = 128
	MaxCardDescription       = 512
	MaxMarkdown              = 4096
	RobotPerMinute           = 20
)

// errMsgs are the errmsg texts for codes a test may inject.
var errMsgs = map[int]string{
	ErrSystemBusy:    "system busy",
	ErrInvalidSecret: "invalid credential",
	ErrInvalidCorpID: "invalid corpid",
	ErrInvalidToken:  "invalid access_token",
	ErrTokenExpired:  "access_token expired",
	ErrRateLimited:   "api freq out of limit",
	ErrIPNotAllowed:  "not allow to access from your ip, from ip: 203.0.113.7",
	ErrAllInvalid:    "user & party & tag all invalid",
	ErrRobotBadKey:   "invalid webhook url",
}

// TextCard is a textcard message body.
type TextCard struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	BtnTxt      string `json:"btntxt,omitempty"`
}

// AppMessage is a message message/send delivered.
type AppMessage struct {
	MsgID   string
	AgentID int64
	// ToUser is who got it (invalid members left out); InvalidUser who
	// was named and unknown.
	ToUser      []string
	InvalidUser []string
	MsgType     string
	TextCard    *TextCard // msgtype textcard
	Content     string    // msgtype text or markdown
	At          time.Time
	// Duplicates counts later requests the duplicate check dropped.
	Duplicates int
}

// Control is one apply_data control, as filed.
type Control struct {
	Control string
	ID      string
	Text    string // value.text
}

// Approval is an approval applyevent filed.
type Approval struct {
	SpNo                string
	CreatorUserID       string
	TemplateID          string
	UseTemplateApprover int
	Contents            []Control
	Summary             []string
	At                  time.Time
	// DuplicateOf is the sp_no of an earlier approval with the same
	// template, creator and contents: what a retry files.
	DuplicateOf string
}

// Text returns the text of the control id, and whether there is one.
func (a Approval) Text(id string) (string, bool) {
	for _, c := range a.Contents {
		if c.ID == id {
			return c.Text, true
		}
	}
	return "", false
}

// RobotMessage is a message a robot posted to its group.
type RobotMessage struct {
	Key     string
	MsgType string
	Content string
	At      time.Time
}

type faultKind int

const (
	faultErrcode faultKind = iota
	faultHTTP
	faultDrop
	faultHold
)

type fault struct {
	kind faultKind
	code int
	hold time.Duration // faultHold: how long the request is held
}

type sentKey struct {
	at  time.Time
	idx int
}

// Server is a fake WeCom for one corp.
type Server struct {
	*httptest.Server
	corpID string

	mu           sync.Mutex
	now          func() time.Time
	secrets      map[string]bool
	robotKeys    map[string]bool
	knownUsers   map[string]bool // lowercased; nil: everyone exists
	tokens       map[string]time.Time
	tokenFetches int
	calls        map[string]int
	faults       fakehttp.Faults[fault]
	messages     []AppMessage
	dupes        map[string]sentKey
	approvals    []Approval
	spSeq        int
	robot        []RobotMessage
	robotTimes   map[string][]time.Time
}

// New starts a fake WeCom for the corp corpID with one app whose secret is
// secret (AddSecret adds more).
func New(corpID, secret string) *Server {
	s := &Server{
		corpID:     corpID,
		now:        time.Now,
		secrets:    map[string]bool{secret: true},
		robotKeys:  map[string]bool{},
		tokens:     map[string]time.Time{},
		calls:      map[string]int{},
		dupes:      map[string]sentKey{},
		robotTimes: map[string][]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathGetToken, s.route(PathGetToken, s.handleGetToken))
	mux.HandleFunc("POST "+PathSendMsg, s.route(PathSendMsg, s.handleSendMsg))
	mux.HandleFunc("POST "+PathApplyEvent, s.route(PathApplyEvent, s.handleApplyEvent))
	mux.HandleFunc("POST "+PathWebhook, s.route(PathWebhook, s.handleWebhook))
	s.Server = httptest.NewServer(mux)
	return s
}

// AddSecret registers another app's secret (the 审批 app's, say).
func (s *Server) AddSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[secret] = true
}

// AddRobotKey registers a group robot's key.
func (s *Server) AddRobotKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.robotKeys[key] = true
}

// SetClock replaces the fake's clock (token expiry, the duplicate check
// interval, the robot's rate limit, sp_no dates).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// --- switches -----------------------------------------------------------

// SetKnownUsers makes users the corp's members (UserIDs compare without
// case); message/send reports others in invaliduser. Until it is called,
// every UserID exists.
func (s *Server) SetKnownUsers(users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knownUsers = map[string]bool{}
	for _, u := range users {
		s.knownUsers[strings.ToLower(u)] = true
	}
}

// ExpireTokens makes every access_token issued so far expired: the next
// call with one gets 42001.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for t := range s.tokens {
		s.tokens[t] = now
	}
}

// FailNext makes the next n calls to path ("" for any) answer HTTP 200
// with errcode, before doing anything.
func (s *Server) FailNext(path string, n, errcode int) { s.addFaults(path, n, faultErrcode, errcode) }

// FailNextHTTP makes the next n calls to path ("" for any) answer the
// HTTP status, before doing anything.
func (s *Server) FailNextHTTP(path string, n, status int) { s.addFaults(path, n, faultHTTP, status) }

// DropNext makes the next n calls to path ("" for any) take effect and
// then close the connection without an answer (a lost response).
func (s *Server) DropNext(path string, n int) { s.addFaults(path, n, faultDrop, 0) }

// HoldNext makes the next n calls to path ("" for any) wait for d, or
// until the caller gives up, without doing anything, and then answer HTTP
// 504: a platform that times out.
func (s *Server) HoldNext(path string, n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(path, n, fault{kind: faultHold, hold: d})
}

func (s *Server) addFaults(path string, n int, kind faultKind, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(path, n, fault{kind: kind, code: code})
}

// --- inspection ---------------------------------------------------------

// AppMessages returns the messages message/send delivered, in order
// (dropped duplicates are counted in Duplicates, not listed).
func (s *Server) AppMessages() []AppMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AppMessage, len(s.messages))
	for i, m := range s.messages {
		out[i] = m
		out[i].ToUser = append([]string(nil), m.ToUser...)
		out[i].InvalidUser = append([]string(nil), m.InvalidUser...)
		if m.TextCard != nil {
			c := *m.TextCard
			out[i].TextCard = &c
		}
	}
	return out
}

// Approvals returns the approvals filed, in order, duplicates included.
func (s *Server) Approvals() []Approval {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Approval, len(s.approvals))
	for i, a := range s.approvals {
		out[i] = a
		out[i].Contents = append([]Control(nil), a.Contents...)
		out[i].Summary = append([]string(nil), a.Summary...)
	}
	return out
}

// RobotMessages returns the messages robots posted, in order.
func (s *Server) RobotMessages() []RobotMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RobotMessage(nil), s.robot...)
}

// TokenFetches returns how many access tokens gettoken issued.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFetches
}

// Calls returns how many requests reached path (failed ones included).
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// --- the API --------------------------------------------------------------

// route counts calls and applies pending faults.
func (s *Server) route(path string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[path]++
		f, faulty := s.faults.Take(path)
		s.mu.Unlock()
		if !faulty {
			h(w, r)
			return
		}
		switch f.kind {
		case faultErrcode:
			writeErr(w, f.code, errMsgs[f.code])
		case faultHTTP:
			http.Error(w, "fake failure", f.code)
		case faultHold:
			fakehttp.Hold(w, r, f.hold)
		case faultDrop:
			fakehttp.DropResponse(w, r, h)
		}
	}
}

type errBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeErr answers an error the way WeCom does: HTTP 200 with errcode.
func writeErr(w http.ResponseWriter, code int, msg string) {
	if msg == "" {
		msg = "fake failure"
	}
	writeJSON(w, errBody{ErrCode: code, ErrMsg: fmt.Sprintf("%s, hint: [%s], more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		msg, randomID(10), code)})
}

func (s *Server) handleGetToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	corpID, secret := q.Get("corpid"), q.Get("corpsecret")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case corpID == "":
		writeErr(w, ErrMissingCorpID, "corpid missing")
	case secret == "":
		writeErr(w, ErrMissingSecret, "secret missing")
	case corpID != s.corpID:
		writeErr(w, ErrInvalidCorpID, errMsgs[ErrInvalidCorpID])
	case !s.secrets[secret]:
		writeErr(w, ErrInvalidSecret, errMsgs[ErrInvalidSecret])
	default:
		tok := randomID(64)
		s.tokens[tok] = s.now().Add(TokenTTL)
		s.tokenFetches++
		writeJSON(w, struct {
			errBody
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}{errBody{0, "ok"}, tok, int(TokenTTL / time.Second)})
	}
}

// checkAccessToken answers the token error, if any; s.mu is held.
func (s *Server) checkAccessToken(w http.ResponseWriter, r *http.Request) bool {
	tok := r.URL.Query().Get("access_token")
	exp, ok := s.tokens[tok]
	switch {
	case tok == "":
		writeErr(w, ErrMissingToken, "access_token missing")
	case !ok:
		writeErr(w, ErrInvalidToken, errMsgs[ErrInvalidToken])
	case !s.now().Before(exp):
		writeErr(w, ErrTokenExpired, errMsgs[ErrTokenExpired])
	default:
		return true
	}
	return false
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, v) != nil {
		writeErr(w, ErrBadJSON, "data format error")
		return false
	}
	return true
}

type sendRequest struct {
	ToUser   string    `json:"touser"`
	ToParty  string    `json:"toparty"`
	ToTag    string    `json:"totag"`
	MsgType  string    `json:"msgtype"`
	AgentID  int64     `json:"agentid"`
	TextCard *TextCard `json:"textcard"`
	Text     *struct {
		Content string `json:"content"`
	} `json:"text"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown"`
	EnableDuplicateCheck   int `json:"enable_duplicate_check"`
	DuplicateCheckInterval int `json:"duplicate_check_interval"`
}

func (s *Server) handleSendMsg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkAccessToken(w, r) {
		return
	}
	var req sendRequest
	if !readJSON(w, r, &req) {
		return
	}
	msg := AppMessage{AgentID: req.AgentID, MsgType: req.MsgType, At: s.now()}
	switch req.MsgType {
	case "textcard":
		if req.TextCard == nil || req.TextCard.Title == "" || req.TextCard.Description == "" || req.TextCard.URL == "" {
			writeErr(w, ErrEmptyContent, "textcard needs title, description and url")
			return
		}
		card := *req.TextCard
		card.Title = cut(card.Title, MaxCardTitle)
		card.Description = cut(card.Description, MaxCardDescription)
		msg.TextCard = &card
	case "text":
		if req.Text == nil || req.Text.Content == "" {
			writeErr(w, ErrEmptyContent, "empty content")
			return
		}
		msg.Content = req.Text.Content
	case "markdown":
		if req.Markdown == nil || req.Markdown.Content == "" {
			writeErr(w, ErrEmptyContent, "empty content")
			return
		}
		msg.Content = req.Markdown.Content
	default:
		writeErr(w, ErrInvalidMsgType, "invalid message type")
		return
	}
	if req.AgentID <= 0 {
		writeErr(w, ErrInvalidParam, "agentid missing")
		return
	}
	interval := DefaultDuplicateInterval
	if req.DuplicateCheckInterval != 0 {
		interval = time.Duration(req.DuplicateCheckInterval) * time.Second
		if interval < 0 || interval > MaxDuplicateInterval {
			writeErr(w, ErrInvalidParam, "duplicate_check_interval out of range")
			return
		}
	}
	if req.ToUser == "" && req.ToParty == "" && req.ToTag == "" {
		writeErr(w, ErrInvalidParam, "touser, toparty and totag are empty")
		return
	}
	if req.ToUser == "@all" {
		msg.ToUser = []string{"@all"}
	} else if req.ToUser != "" {
		for _, u := range strings.Split(req.ToUser, "|") {
			if s.knownUsers != nil && !s.knownUsers[strings.ToLower(u)] {
				msg.InvalidUser = append(msg.InvalidUser, u)
			} else {
				msg.ToUser = append(msg.ToUser, u)
			}
		}
	}
	invalid := strings.Join(msg.InvalidUser, "|")
	if len(msg.ToUser) == 0 && req.ToParty == "" && req.ToTag == "" {
		writeJSON(w, struct {
			errBody
			InvalidUser string `json:"invaliduser"`
		}{errBody{ErrAllInvalid, errMsgs[ErrAllInvalid]}, invalid})
		return
	}
	answer := func(msgID string) {
		writeJSON(w, struct {
			errBody
			InvalidUser string `json:"invaliduser"`
			MsgID       string `json:"msgid"`
		}{errBody{0, "ok"}, invalid, msgID})
	}
	// The duplicate check: same app, recipients and content.
	var dupKey string
	if req.EnableDuplicateCheck == 1 {
		content, _ := json.Marshal(struct {
			T, P, G, M string
			Card       *TextCard
			C          string
		}{req.ToUser, req.ToParty, req.ToTag, req.MsgType, msg.TextCard, msg.Content})
		dupKey = fmt.Sprintf("%d\x00%s", req.AgentID, content)
		if prev, ok := s.dupes[dupKey]; ok && s.now().Sub(prev.at) < interval {
			s.messages[prev.idx].Duplicates++
			answer(s.messages[prev.idx].MsgID)
			return
		}
	}
	msg.MsgID = randomID(40)
	s.messages = append(s.messages, msg)
	if dupKey != "" {
		s.dupes[dupKey] = sentKey{at: msg.At, idx: len(s.messages) - 1}
	}
	answer(msg.MsgID)
}

type applyRequest struct {
	CreatorUserID       string `json:"creator_userid"`
	TemplateID          string `json:"template_id"`
	UseTemplateApprover int    `json:"use_template_approver"`
	ApplyData           struct {
		Contents []struct {
			Control string `json:"control"`
			ID      string `json:"id"`
			Value   struct {
				Text string `json:"text"`
			} `json:"value"`
		} `json:"contents"`
	} `json:"apply_data"`
	SummaryList []struct {
		SummaryInfo []struct {
			Text string `json:"text"`
			Lang string `json:"lang"`
		} `json:"summary_info"`
	} `json:"summary_list"`
}

func (s *Server) handleApplyEvent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkAccessToken(w, r) {
		return
	}
	var req applyRequest
	if !readJSON(w, r, &req) {
		return
	}
	switch {
	case req.CreatorUserID == "" || (s.knownUsers != nil && !s.knownUsers[strings.ToLower(req.CreatorUserID)]):
		writeErr(w, ErrInvalidUserID, "invalid creator_userid")
		return
	case req.TemplateID == "":
		writeErr(w, ErrInvalidParam, "template_id missing")
		return
	case len(req.ApplyData.Contents) == 0:
		writeErr(w, ErrInvalidParam, "apply_data missing")
		return
	}
	a := Approval{CreatorUserID: req.CreatorUserID, TemplateID: req.TemplateID,
		UseTemplateApprover: req.UseTemplateApprover, At: s.now()}
	for _, c := range req.ApplyData.Contents {
		a.Contents = append(a.Contents, Control{Control: c.Control, ID: c.ID, Text: c.Value.Text})
	}
	for _, l := range req.SummaryList {
		for _, i := range l.SummaryInfo {
			a.Summary = append(a.Summary, i.Text)
		}
	}
	for _, prev := range s.approvals {
		if prev.DuplicateOf == "" && prev.TemplateID == a.TemplateID && prev.CreatorUserID == a.CreatorUserID &&
			equalControls(prev.Contents, a.Contents) {
			a.DuplicateOf = prev.SpNo
			break
		}
	}
	s.spSeq++
	a.SpNo = fmt.Sprintf("%s%04d", a.At.Format("20060102"), s.spSeq)
	s.approvals = append(s.approvals, a)
	writeJSON(w, struct {
		errBody
		SpNo string `json:"sp_no"`
	}{errBody{0, "ok"}, a.SpNo})
}

func equalControls(a, b []Control) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.robotKeys[key] {
		writeErr(w, ErrRobotBadKey, errMsgs[ErrRobotBadKey])
		return
	}
	var req struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	m := RobotMessage{Key: key, MsgType: req.MsgType, At: s.now()}
	switch {
	case req.MsgType == "text" && req.Text != nil:
		m.Content = req.Text.Content
	case req.MsgType == "markdown" && req.Markdown != nil:
		m.Content = req.Markdown.Content
	default:
		writeErr(w, ErrInvalidMsgType, "invalid message type")
		return
	}
	if m.Content == "" {
		writeErr(w, ErrEmptyContent, "empty content")
		return
	}
	if len(m.Content) > MaxMarkdown {
		writeErr(w, ErrInvalidParam, fmt.Sprintf("content exceed max length %d", MaxMarkdown))
		return
	}
	// 20 messages a minute per robot, a sliding window.
	recent := s.robotTimes[key][:0]
	for _, t := range s.robotTimes[key] {
		if m.At.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	if len(recent) >= RobotPerMinute {
		s.robotTimes[key] = recent
		writeErr(w, ErrRateLimited, errMsgs[ErrRateLimited])
		return
	}
	s.robotTimes[key] = append(recent, m.At)
	s.robot = append(s.robot, m)
	writeJSON(w, errBody{0, "ok"})
}

// cut cuts s at n bytes, as the platform truncates (UTF-8 be damned).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// --- callbacks -----------------------------------------------------------

type cdata struct {
	Text string `xml:",cdata"`
}

type approvalCallback struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata    `xml:"ToUserName"`
	FromUserName cdata    `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      cdata    `xml:"MsgType"`
	Event        cdata    `xml:"Event"`
	AgentID      int64    `xml:"AgentID"`
	ApprovalInfo struct {
		SpNo       string `xml:"SpNo"`
		SpName     cdata  `xml:"SpName"`
		SpStatus   int    `xml:"SpStatus"`
		TemplateID cdata  `xml:"TemplateId"`
		ApplyTime  int64  `xml:"ApplyTime"`
		Applyer    struct {
			UserID cdata `xml:"UserId"`
			Party  cdata `xml:"Party"`
		} `xml:"Applyer"`
		SpRecord         []spRecord `xml:"SpRecord"`
		Comments         []remark   `xml:"Comments"`
		StatuChangeEvent int        `xml:"StatuChangeEvent,omitempty"`
	} `xml:"ApprovalInfo"`
}

type remark struct {
	CommentUserInfo struct {
		UserID cdata `xml:"UserId"`
	} `xml:"CommentUserInfo"`
	CommentTime    int64 `xml:"CommentTime"`
	CommentContent cdata `xml:"CommentContent"`
	CommentID      cdata `xml:"CommentId"`
}

type spRecord struct {
	SpStatus     int `xml:"SpStatus"`
	ApproverAttr int `xml:"ApproverAttr"`
	Details      struct {
		Approver struct {
			UserID cdata `xml:"UserId"`
		} `xml:"Approver"`
		Speech   cdata `xml:"Speech"`
		SpStatus int   `xml:"SpStatus"`
		SpTime   int64 `xml:"SpTime"`
	} `xml:"Details"`
}

// Approvers of the two-node flow ApprovalChangeXML describes.
const (
	FirstApprover  = "leader01"
	SecondApprover = "manager01"
	// FirstSpeech is what FirstApprover wrote when the first node passed.
	FirstSpeech = "初审通过"
)

// ApprovalChangeXML returns the plaintext XML of the sys_approval_change
// callback WeCom sends when the approval spNo reaches status (SpStatus),
// with comment where WeCom would put it. The flow has two nodes,
// FirstApprover then SecondApprover:
//
//	2, 6, 7, 10  both nodes approved; the first earlier with FirstSpeech,
//	             the second now with comment
//	3            the first node rejected now with comment; the second untouched
//	1, 4         nobody acted (submitted, withdrawn); a non-empty comment
//	             comes as a remark by the applicant (StatuChangeEvent 10)
//
// Template, applicant and apply time are the filed approval's when spNo is
// one; SpName is "工单".
func (s *Server) ApprovalChangeXML(spNo string, status int, comment string) []byte {
	s.mu.Lock()
	now := s.now()
	corp := s.corpID
	var filed *Approval
	for i := range s.approvals {
		if s.approvals[i].SpNo == spNo {
			filed = &s.approvals[i]
			break
		}
	}
	cb := approvalCallback{ToUserName: cdata{corp}, FromUserName: cdata{"sys"}, CreateTime: now.Unix(),
		MsgType: cdata{"event"}, Event: cdata{"sys_approval_change"}, AgentID: 3010040}
	info := &cb.ApprovalInfo
	info.SpNo, info.SpName, info.SpStatus = spNo, cdata{"工单"}, status
	info.TemplateID, info.Applyer.UserID, info.ApplyTime = cdata{"template"}, cdata{"applicant"}, now.Add(-time.Hour).Unix()
	if filed != nil {
		info.TemplateID, info.Applyer.UserID, info.ApplyTime = cdata{filed.TemplateID}, cdata{filed.CreatorUserID}, filed.At.Unix()
	}
	s.mu.Unlock()
	info.Applyer.Party = cdata{"1"}

	node := func(approver string, st int, at time.Time, speech string) spRecord {
		var r spRecord
		r.SpStatus, r.ApproverAttr = st, 1
		r.Details.Approver.UserID, r.Details.SpStatus, r.Details.Speech = cdata{approver}, st, cdata{speech}
		if !at.IsZero() {
			r.Details.SpTime = at.Unix()
		}
		return r
	}
	const pending, approved, rejected = 1, 2, 3
	switch status {
	case 2, 6, 7, 10:
		info.SpRecord = []spRecord{node(FirstApprover, approved, now.Add(-30*time.Minute), FirstSpeech), node(SecondApprover, approved, now, comment)}
		info.StatuChangeEvent = map[int]int{2: 2, 6: 8}[status]
	case 3:
		info.SpRecord = []spRecord{node(FirstApprover, rejected, now, comment), node(SecondApprover, pending, time.Time{}, "")}
		info.StatuChangeEvent = 3
	default:
		info.SpRecord = []spRecord{node(FirstApprover, pending, time.Time{}, ""), node(SecondApprover, pending, time.Time{}, "")}
		info.StatuChangeEvent = map[int]int{1: 1, 4: 6}[status]
		if comment != "" {
			info.StatuChangeEvent = 10
			r := remark{CommentTime: now.Unix(), CommentContent: cdata{comment}, CommentID: cdata{randomID(19)}}
			r.CommentUserInfo.UserID = info.Applyer.UserID
			info.Comments = []remark{r}
		}
	}
	out, err := xml.MarshalIndent(cb, "", "  ")
	if err != nil {
		panic("wecomworkfake: ApprovalChangeXML: " + err.Error())
	}
	return out
}
