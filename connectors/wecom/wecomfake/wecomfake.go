// Package wecomfake is a stand-in for WeCom's 微信客服 (kf) API, in the
// spirit of net/http/httptest. It speaks the real wire format (paths,
// fields, error codes: see PLATFORMS.md) so the connector code that passes
// against it is the code that talks to qyapi.weixin.qq.com:
//
//	GET  /cgi-bin/gettoken?corpid=&corpsecret=   → {errcode, errmsg, access_token, expires_in}
//	POST /cgi-bin/kf/sync_msg?access_token=      {cursor, token, limit, voice_format, open_kfid}
//	POST /cgi-bin/kf/send_msg?access_token=      {touser, open_kfid, msgid, msgtype:"text", text:{content}}
//
// It plays the platform's side of a conversation too: customers write
// (CustomerSays queues a message for sync_msg), and Notify POSTs the signed,
// encrypted kf_msg_or_event callback to kefuhub; VerifyURL performs the
// admin console's URL check. It enforces what the platform enforces: token
// validity (40014, 42001), the callback Token for sync_msg (95007), msgid
// uniqueness, and the 48 h / 5 messages reply rule. Switches make it fail
// the way the platform does (FailNext, FailNextHTTP, DropNext,
// ExpireTokens).
package wecomfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/fakehttp"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// API paths.
const (
	PathGetToken = "/cgi-bin/gettoken"
	PathSyncMsg  = "/cgi-bin/kf/sync_msg"
	PathSendMsg  = "/cgi-bin/kf/send_msg"
)

// Error codes the fake answers with. All but ErrDuplicateMsgID are
// WeCom's documented global codes.
const (
	ErrSystemBusy      = -1
	ErrInvalidSecret   = 40001 // gettoken: corpsecret wrong
	ErrInvalidMsgType  = 40008
	ErrInvalidCorpID   = 40013 // gettoken: corpid wrong
	ErrInvalidToken    = 40014 // access_token unknown
	ErrInvalidParam    = 40058
	ErrMissingToken    = 41001
	ErrMissingCorpID   = 41002
	ErrMissingSecret   = 41004
	ErrTokenExpired    = 42001
	ErrEmptyContent    = 44004
	ErrContentTooLong  = 45002
	ErrRateLimited     = 45009
	ErrBadJSON         = 47001
	ErrOverLimit       = 95001 // 发送客服消息次数限制: 5 replies since the customer's last message
	ErrWindowClosed    = 95002 // 发送客服消息时间限制: 48 h since the customer's last message
	ErrInvalidMsgToken = 95007 // sync_msg: the callback Token is unknown or older than 10 minutes
	// ErrDuplicateMsgID answers a send_msg whose msgid was already used.
	// *Unverified*: WeCom documents that msgid must be unique but not the
	// code it answers; 95033 is what at least one public integration treats
	// as "already sent". The connector maps exactly this code to success.
	ErrDuplicateMsgID = 95033
)

// Limits the platform applies.
const (
	TokenTTL        = 7200 * time.Second
	MsgTokenTTL     = 10 * time.Minute
	ReplyWindow     = 48 * time.Hour
	RepliesPerTurn  = 5
	MaxContentBytes = 2048
	MaxSyncLimit    = 1000
)

// Origins of sync_msg messages.
const (
	OriginCustomer = 3
	OriginEvent    = 4
	OriginServicer = 5
)

// Message is one sync_msg msg_list entry, as the platform sends it. For
// event messages open_kfid and external_userid are inside Event only.
type Message struct {
	MsgID          string `json:"msgid"`
	OpenKfID       string `json:"open_kfid,omitempty"`
	ExternalUserID string `json:"external_userid,omitempty"`
	ServicerUserID string `json:"servicer_userid,omitempty"`
	SendTime       int64  `json:"send_time"`
	Origin         int    `json:"origin"`
	MsgType        string `json:"msgtype"`
	Text           *Text  `json:"text,omitempty"`
	Image          *Media `json:"image,omitempty"`
	Voice          *Media `json:"voice,omitempty"`
	Video          *Media `json:"video,omitempty"`
	File           *Media `json:"file,omitempty"`
	Event          *Event `json:"event,omitempty"`
}

// Text is a text message body.
type Text struct {
	Content string `json:"content"`
	MenuID  string `json:"menu_id,omitempty"`
}

// Media is an image, voice, video or file message body.
type Media struct {
	MediaID string `json:"media_id"`
}

// Event is an origin-4 event (enter_session, msg_send_fail,
// session_status_change, ...).
type Event struct {
	EventType      string `json:"event_type"`
	OpenKfID       string `json:"open_kfid,omitempty"`
	ExternalUserID string `json:"external_userid,omitempty"`
	Scene          string `json:"scene,omitempty"`
	SceneParam     string `json:"scene_param,omitempty"`
	WelcomeCode    string `json:"welcome_code,omitempty"`
	FailMsgID      string `json:"fail_msgid,omitempty"`
	FailType       int    `json:"fail_type,omitempty"`
	ServicerUserID string `json:"servicer_userid,omitempty"`
	ChangeType     int    `json:"change_type,omitempty"`
}

// Sent is a message send_msg accepted.
type Sent struct {
	MsgID    string
	ToUser   string
	OpenKfID string
	MsgType  string
	Content  string
	At       time.Time
}

type faultKind int

const (
	faultErrcode faultKind = iota
	faultHTTP
	faultDrop
)

type fault struct {
	kind faultKind
	code int
}

type windowKey struct{ openKfID, user string }

type window struct {
	last time.Time // the customer's last message
	sent int       // replies since
}

// Server is a fake WeCom API for one corp.
type Server struct {
	*httptest.Server
	corpID, secret string

	// CallbackClient sends Notify and VerifyURL requests to kefuhub.
	CallbackClient *http.Client

	mu           sync.Mutex
	now          func() time.Time
	tokens       map[string]time.Time // access_token → expiry
	tokenFetches int
	msgTokens    map[string]time.Time // callback Token → expiry
	log          []Message
	windows      map[windowKey]*window
	msgIDs       map[string]bool
	sent         []Sent
	calls        map[string]int
	faults       fakehttp.Faults[fault]
	pageSize     int
	emptyPages   int
	allowNoToken bool
}

// New starts a fake WeCom for the corp corpID whose 微信客服 secret is
// secret.
func New(corpID, secret string) *Server {
	s := &Server{
		corpID: corpID, secret: secret,
		CallbackClient: &http.Client{Timeout: 10 * time.Second},
		now:            time.Now,
		tokens:         map[string]time.Time{},
		msgTokens:      map[string]time.Time{},
		windows:        map[windowKey]*window{},
		msgIDs:         map[string]bool{},
		calls:          map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathGetToken, s.route(PathGetToken, s.handleGetToken))
	mux.HandleFunc("POST "+PathSyncMsg, s.route(PathSyncMsg, s.handleSyncMsg))
	mux.HandleFunc("POST "+PathSendMsg, s.route(PathSendMsg, s.handleSendMsg))
	s.Server = httptest.NewServer(mux)
	return s
}

// SetClock replaces the fake's clock (token and Token expiry, send_time,
// the 48 h window).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// --- switches -----------------------------------------------------------

// FailNext makes the next n calls to path ("" for any) answer HTTP 200
// with errcode, before doing anything.
func (s *Server) FailNext(path string, n, errcode int) { s.addFaults(path, n, faultErrcode, errcode) }

// FailNextHTTP makes the next n calls to path ("" for any) answer the
// HTTP status, before doing anything.
func (s *Server) FailNextHTTP(path string, n, status int) { s.addFaults(path, n, faultHTTP, status) }

// DropNext makes the next n calls to path ("" for any) take effect and
// then close the connection without an answer (a lost response).
func (s *Server) DropNext(path string, n int) { s.addFaults(path, n, faultDrop, 0) }

func (s *Server) addFaults(path string, n int, kind faultKind, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(path, n, fault{kind: kind, code: code})
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

// SetPageSize caps sync_msg pages below the requested limit (0: no cap),
// so that tests page with few messages.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// EmptyPages makes the next n sync_msg calls answer has_more=1 with an
// empty msg_list, which the platform documents may happen.
func (s *Server) EmptyPages(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emptyPages = n
}

// AllowSyncWithoutToken lets sync_msg be called without a callback Token.
// The platform allows it at a strict rate limit; by default the fake
// requires the Token so that tests prove it is passed on.
func (s *Server) AllowSyncWithoutToken(allow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowNoToken = allow
}

// --- inspection ---------------------------------------------------------

// Sent returns the messages send_msg accepted, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Calls returns how many requests reached path (failed ones included).
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TokenFetches returns how many access tokens gettoken issued.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFetches
}

// --- the platform's customers -------------------------------------------

// Queue appends a message to sync_msg's log, filling MsgID and SendTime if
// empty, and returns it. A customer message (origin 3) opens the reply
// window: 48 h and 5 replies from now.
func (s *Server) Queue(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.MsgID == "" {
		m.MsgID = randomID(24)
	}
	if m.SendTime == 0 {
		m.SendTime = s.now().Unix()
	}
	if m.Origin == OriginCustomer {
		s.windows[windowKey{m.OpenKfID, m.ExternalUserID}] = &window{last: s.now()}
	}
	s.log = append(s.log, m)
	return m
}

// CustomerSays queues a text message from a customer.
func (s *Server) CustomerSays(openKfID, externalUserID, text string) Message {
	return s.Queue(Message{OpenKfID: openKfID, ExternalUserID: externalUserID, Origin: OriginCustomer,
		MsgType: "text", Text: &Text{Content: text}})
}

// CustomerSends queues a media message (msgType image, voice, video or
// file) from a customer.
func (s *Server) CustomerSends(openKfID, externalUserID, msgType, mediaID string) Message {
	m := Message{OpenKfID: openKfID, ExternalUserID: externalUserID, Origin: OriginCustomer, MsgType: msgType}
	media := &Media{MediaID: mediaID}
	switch msgType {
	case "image":
		m.Image = media
	case "voice":
		m.Voice = media
	case "video":
		m.Video = media
	case "file":
		m.File = media
	default:
		panic("wecomfake: CustomerSends: unknown media type " + msgType)
	}
	return s.Queue(m)
}

// CustomerEnters queues the enter_session event of a customer opening the
// kf account's chat (origin 4).
func (s *Server) CustomerEnters(openKfID, externalUserID, scene, sceneParam string) Message {
	return s.Queue(Message{Origin: OriginEvent, MsgType: "event", Event: &Event{EventType: "enter_session",
		OpenKfID: openKfID, ExternalUserID: externalUserID, Scene: scene, SceneParam: sceneParam,
		WelcomeCode: randomID(16)}})
}

// ServicerSays queues a message a servicer wrote in the WeCom client
// (origin 5).
func (s *Server) ServicerSays(openKfID, externalUserID, servicerUserID, text string) Message {
	return s.Queue(Message{OpenKfID: openKfID, ExternalUserID: externalUserID, ServicerUserID: servicerUserID,
		Origin: OriginServicer, MsgType: "text", Text: &Text{Content: text}})
}

// IssueMsgToken registers a fresh callback Token (valid 10 minutes) that
// sync_msg accepts, and returns it. Notify uses it.
func (s *Server) IssueMsgToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := "ENC" + randomID(40)
	s.msgTokens[t] = s.now().Add(MsgTokenTTL)
	return t
}

// CallbackResult is kefuhub's answer to a callback.
type CallbackResult struct {
	Status int
	Body   string
	// Token is the callback Token the fake sent (and sync_msg now accepts).
	Token string
}

// Notify POSTs the kf_msg_or_event callback for openKfID to webhookURL,
// encrypted with aesKey for receiveid corpID and signed with token, with a
// fresh Token that sync_msg then requires.
func (s *Server) Notify(ctx context.Context, webhookURL, token, aesKey, corpID, openKfID string) (*CallbackResult, error) {
	kfToken := s.IssueMsgToken()
	now := s.clock()
	cb, err := EncryptCallback(token, aesKey, corpID, now, KfEventXML(corpID, kfToken, openKfID, now))
	if err != nil {
		return nil, err
	}
	status, body, err := s.PostCallback(ctx, webhookURL, cb)
	if err != nil {
		return nil, err
	}
	return &CallbackResult{Status: status, Body: body, Token: kfToken}, nil
}

// PostCallback POSTs a signed callback to webhookURL and returns kefuhub's
// answer.
func (s *Server) PostCallback(ctx context.Context, webhookURL string, cb *SignedCallback) (int, string, error) {
	u, err := withQuery(webhookURL, cb.Query)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(cb.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/xml")
	return s.do(req)
}

// URLCheck is the outcome of a URL verification.
type URLCheck struct {
	Status int
	// Echoed is what kefuhub answered; Want is the plaintext echostr it
	// had to decrypt. The check passes when Status is 200 and they match.
	Echoed, Want string
}

// OK reports whether the URL check passed.
func (c *URLCheck) OK() bool { return c.Status == http.StatusOK && c.Echoed == c.Want }

// VerifyURL performs the admin console's URL check against webhookURL:
// GET ?msg_signature&timestamp&nonce&echostr with a random echostr
// encrypted for corpID, and returns what kefuhub echoed.
func (s *Server) VerifyURL(ctx context.Context, webhookURL, token, aesKey, corpID string) (*URLCheck, error) {
	want := wxcrypto.Nonce() + randomID(8)
	q, err := URLCheckQuery(token, aesKey, corpID, s.clock(), want)
	if err != nil {
		return nil, err
	}
	u, err := withQuery(webhookURL, q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	status, body, err := s.do(req)
	if err != nil {
		return nil, err
	}
	return &URLCheck{Status: status, Echoed: body, Want: want}, nil
}

func (s *Server) do(req *http.Request) (int, string, error) {
	resp, err := s.CallbackClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(body), nil
}

func withQuery(raw string, q url.Values) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	return u.String(), nil
}

func (s *Server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
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
			writeErr(w, f.code, "fake failure")
		case faultHTTP:
			http.Error(w, "fake failure", f.code)
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
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers an error the way WeCom does: HTTP 200 with errcode.
func writeErr(w http.ResponseWriter, code int, msg string) {
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
		writeErr(w, ErrInvalidCorpID, "invalid corpid")
	case secret != s.secret:
		writeErr(w, ErrInvalidSecret, "invalid credential")
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
		writeErr(w, ErrInvalidToken, "invalid access_token")
	case !s.now().Before(exp):
		writeErr(w, ErrTokenExpired, "access_token expired")
	default:
		return true
	}
	return false
}

func (s *Server) handleSyncMsg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkAccessToken(w, r) {
		return
	}
	var req struct {
		Cursor      string `json:"cursor"`
		Token       string `json:"token"`
		Limit       int    `json:"limit"`
		VoiceFormat int    `json:"voice_format"`
		OpenKfID    string `json:"open_kfid"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeErr(w, ErrBadJSON, "data format error")
		return
	}
	if req.Token == "" && !s.allowNoToken {
		writeErr(w, ErrInvalidMsgToken, "invalid msg token: token required")
		return
	}
	if req.Token != "" {
		if exp, ok := s.msgTokens[req.Token]; !ok || !s.now().Before(exp) {
			writeErr(w, ErrInvalidMsgToken, "invalid msg token")
			return
		}
	}
	if req.Limit < 0 || req.Limit > MaxSyncLimit {
		writeErr(w, ErrInvalidParam, "invalid limit")
		return
	}
	limit := req.Limit
	if limit == 0 {
		limit = MaxSyncLimit
	}
	if s.pageSize > 0 {
		limit = min(limit, s.pageSize)
	}
	pos, ok := decodeCursor(req.Cursor)
	if !ok || pos > len(s.log) {
		writeErr(w, ErrInvalidParam, "invalid cursor")
		return
	}
	list := []Message{}
	if s.emptyPages > 0 {
		s.emptyPages--
		writeJSON(w, syncResponse{errBody{0, "ok"}, encodeCursor(pos), 1, list})
		return
	}
	match := func(m Message) bool {
		if req.OpenKfID == "" {
			return true
		}
		if m.Event != nil {
			return m.Event.OpenKfID == req.OpenKfID
		}
		return m.OpenKfID == req.OpenKfID
	}
	i := pos
	for ; i < len(s.log) && len(list) < limit; i++ {
		if match(s.log[i]) {
			list = append(list, s.log[i])
		}
	}
	more := 0
	for _, m := range s.log[i:] {
		if match(m) {
			more = 1
			break
		}
	}
	writeJSON(w, syncResponse{errBody{0, "ok"}, encodeCursor(i), more, list})
}

type syncResponse struct {
	errBody
	NextCursor string    `json:"next_cursor"`
	HasMore    int       `json:"has_more"`
	MsgList    []Message `json:"msg_list"`
}

// Cursors are opaque to clients, as the platform's are.
func encodeCursor(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("fkc:" + strconv.Itoa(pos)))
}

func decodeCursor(c string) (int, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !bytes.HasPrefix(b, []byte("fkc:")) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[4:]))
	return n, err == nil && n >= 0
}

var msgIDPattern = regexp.MustCompile(`^[0-9a-zA-Z_-]{1,32}$`)

func (s *Server) handleSendMsg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkAccessToken(w, r) {
		return
	}
	var req struct {
		ToUser   string `json:"touser"`
		OpenKfID string `json:"open_kfid"`
		MsgID    string `json:"msgid"`
		MsgType  string `json:"msgtype"`
		Text     *Text  `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeErr(w, ErrBadJSON, "data format error")
		return
	}
	switch {
	case req.ToUser == "" || req.OpenKfID == "":
		writeErr(w, ErrInvalidParam, "touser and open_kfid are required")
		return
	case req.MsgID != "" && !msgIDPattern.MatchString(req.MsgID):
		writeErr(w, ErrInvalidParam, "invalid msgid")
		return
	case req.MsgType != "text":
		writeErr(w, ErrInvalidMsgType, "invalid msgtype (the fake sends text only)")
		return
	case req.Text == nil || req.Text.Content == "":
		writeErr(w, ErrEmptyContent, "empty content")
		return
	case len(req.Text.Content) > MaxContentBytes:
		writeErr(w, ErrContentTooLong, "content size out of limit")
		return
	case req.MsgID != "" && s.msgIDs[req.MsgID]:
		writeErr(w, ErrDuplicateMsgID, "duplicate msgid")
		return
	}
	now := s.now()
	win := s.windows[windowKey{req.OpenKfID, req.ToUser}]
	switch {
	case win == nil || !now.Before(win.last.Add(ReplyWindow)):
		writeErr(w, ErrWindowClosed, "send msg time limit: the customer has not written in 48 hours")
		return
	case win.sent >= RepliesPerTurn:
		writeErr(w, ErrOverLimit, "send msg count limit: 5 messages since the customer's last one")
		return
	}
	win.sent++
	if req.MsgID == "" {
		req.MsgID = randomID(32)
	}
	s.msgIDs[req.MsgID] = true
	s.sent = append(s.sent, Sent{MsgID: req.MsgID, ToUser: req.ToUser, OpenKfID: req.OpenKfID,
		MsgType: req.MsgType, Content: req.Text.Content, At: now})
	writeJSON(w, struct {
		errBody
		MsgID string `json:"msgid"`
	}{errBody{0, "ok"}, req.MsgID})
}

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
