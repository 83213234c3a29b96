// Package wechatfake is a stand-in for the WeChat Official Account (公众号)
// API, in the spirit of net/http/httptest. It speaks the real wire format
// (paths, fields, error codes: see PLATFORMS.md) so the connector code
// that passes against it is the code that talks to api.weixin.qq.com:
//
//	GET  /cgi-bin/token?grant_type=client_credential&appid=&secret=  → {access_token, expires_in} | {errcode, errmsg}
//	POST /cgi-bin/message/custom/send?access_token=  {touser, msgtype:"text", text:{content}} → {errcode, errmsg}
//
// It plays the platform's side of a conversation too: users write
// (UserSays, UserSends, UserEvent return the push XML and open the 48 h
// window), Push POSTs a push signed (plain mode) or encrypted and signed
// (safe mode) to kefuhub, and VerifyURL performs the 服务器配置 URL check.
// It enforces what the platform enforces: credentials (40013, 40125,
// 40164 with an IP whitelist), token validity (40001, 42001; a new token
// retires the older ones after 5 minutes), openids (40003), the 48 h
// window (45015, also after unsubscribe) and optionally a reply count
// (45047). Switches make it fail the way the platform does (FailNext,
// FailNextHTTP, DropNext, ExpireTokens).
package wechatfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/fakehttp"
	"github.com/kefuhub/kefuhub/connectors/wxcrypto"
)

// API paths.
const (
	PathToken      = "/cgi-bin/token"
	PathCustomSend = "/cgi-bin/message/custom/send"
)

// Error codes the fake answers with (the platform's global return codes).
const (
	ErrSystemBusy        = -1
	ErrInvalidCredential = 40001 // access_token unknown or retired ("invalid credential, access_token is invalid or not latest")
	ErrInvalidGrantType  = 40002
	ErrInvalidOpenID     = 40003
	ErrInvalidMsgType    = 40008
	ErrInvalidAppID      = 40013
	ErrInvalidToken      = 40014
	ErrInvalidSecret     = 40125 // token: wrong appsecret ("invalid appsecret")
	ErrIPNotWhitelisted  = 40164
	ErrMissingToken      = 41001
	ErrMissingAppID      = 41002
	ErrMissingSecret     = 41004
	ErrTokenExpired      = 42001
	ErrEmptyContent      = 44004
	ErrContentTooLong    = 45002
	ErrQuotaExceeded     = 45009
	ErrWindowClosed      = 45015 // "response out of time limit or subscription is canceled"
	ErrOverLimit         = 45047 // "out of response count limit"
	ErrBadJSON           = 47001
)

// Limits the platform applies.
const (
	TokenTTL = 7200 * time.Second
	// TokenOverlap is how long older tokens stay valid after a new one is
	// issued.
	TokenOverlap = 5 * time.Minute
	ReplyWindow  = 48 * time.Hour
	// MaxContentBytes is the fake's cap on a text message. *Unverified*:
	// WeChat documents none for customer-service text.
	MaxContentBytes = 2048
)

// Sent is a message custom/send accepted.
type Sent struct {
	ToUser  string
	MsgType string
	Content string
	At      time.Time
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

type user struct {
	last         time.Time // last interaction
	replies      int       // customer-service messages since
	unsubscribed bool
}

// Server is a fake Official Account API for one account.
type Server struct {
	*httptest.Server
	// AppID is the account's; OriginalID (gh_...) is the ToUserName of
	// its pushes.
	AppID, OriginalID string
	secret            string

	// CallbackClient sends Push and VerifyURL requests to kefuhub.
	CallbackClient *http.Client

	mu           sync.Mutex
	now          func() time.Time
	tokens       map[string]time.Time // access_token → expiry
	tokenFetches int
	users        map[string]*user // by openid
	msgID        uint64
	sent         []Sent
	calls        map[string]int
	faults       fakehttp.Faults[fault]
	replyLimit   int
	whitelist    []string
}

// New starts a fake Official Account whose AppID is appID and AppSecret
// appSecret.
func New(appID, appSecret string) *Server {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Server{
		AppID: appID, OriginalID: "gh_" + hex.EncodeToString(b[:6]), secret: appSecret,
		CallbackClient: &http.Client{Timeout: 10 * time.Second},
		now:            time.Now,
		tokens:         map[string]time.Time{},
		users:          map[string]*user{},
		// MsgIds are 64-bit numbers around 2.4e16 on the platform.
		msgID: 24_000_000_000_000_000 + binary.BigEndian.Uint64(b[:])%1_000_000_000_000_000,
		calls: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathToken, s.route(PathToken, s.handleToken))
	mux.HandleFunc("POST "+PathCustomSend, s.route(PathCustomSend, s.handleCustomSend))
	s.Server = httptest.NewServer(mux)
	return s
}

// SetClock replaces the fake's clock (token expiry, CreateTime, the 48 h
// window).
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

// SetReplyLimit makes custom/send answer 45047 after n messages to a user
// since their last interaction; 0 (the default) is no limit.
func (s *Server) SetReplyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyLimit = n
}

// SetIPWhitelist makes /cgi-bin/token answer 40164 to clients whose IP is
// not one of ips (the account's IP白名单); none turns the check off.
func (s *Server) SetIPWhitelist(ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.whitelist = append([]string(nil), ips...)
}

// --- inspection ---------------------------------------------------------

// Sent returns the messages custom/send accepted, in order.
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

// TokenFetches returns how many access tokens /cgi-bin/token issued.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFetches
}

// LastInteraction returns when openID last interacted with the account
// (what opens the 48 h window).
func (s *Server) LastInteraction(openID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return time.Time{}, false
	}
	return u.last, true
}

// --- the platform's users ------------------------------------------------

// UserSays records that openID wrote text to the account now and returns
// the plaintext push XML the platform sends for it.
func (s *Server) UserSays(openID, text string) []byte {
	return s.UserMessage(openID, "text", map[string]string{"Content": text})
}

// UserSends records a media message (msgType image, voice, video or
// shortvideo) and returns its push XML. Images carry a PicUrl, voices
// Format amr, videos a ThumbMediaId.
func (s *Server) UserSends(openID, msgType, mediaID string) []byte {
	f := map[string]string{"MediaId": mediaID}
	switch msgType {
	case "image":
		f["PicUrl"] = "http://mmbiz.qpic.cn/mmbiz_jpg/" + randomID(24) + "/0"
	case "voice":
		f["Format"] = "amr"
	case "video", "shortvideo":
		f["ThumbMediaId"] = "thumb_" + randomID(16)
	default:
		panic("wechatfake: UserSends: unknown media type " + msgType)
	}
	return s.UserMessage(openID, msgType, f)
}

// UserEvent records an event of openID (subscribe, unsubscribe, SCAN,
// CLICK, VIEW, LOCATION...) and returns its push XML; eventKey may be
// empty. Every event but unsubscribe opens the 48 h window; unsubscribe
// closes it.
func (s *Server) UserEvent(openID, event, eventKey string) []byte {
	f := map[string]string{"Event": event}
	if eventKey != "" {
		f["EventKey"] = eventKey
	}
	return s.UserMessage(openID, "event", f)
}

// UserMessage records any push of openID and returns its XML: ToUserName,
// FromUserName, CreateTime (the fake's now), MsgType, the fields given in
// name order, and a fresh MsgId unless msgType is "event". Values are
// CDATA; CreateTime and MsgId are bare numbers, as the platform sends them.
func (s *Server) UserMessage(openID, msgType string, fields map[string]string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := s.users[openID]
	if u == nil {
		u = &user{}
		s.users[openID] = u
	}
	if msgType == "event" && fields["Event"] == "unsubscribe" {
		u.unsubscribed = true
	} else {
		u.last, u.replies, u.unsubscribed = now, 0, false
	}
	var b strings.Builder
	b.WriteString("<xml><ToUserName>" + cdata(s.OriginalID) + "</ToUserName>")
	b.WriteString("<FromUserName>" + cdata(openID) + "</FromUserName>")
	b.WriteString("<CreateTime>" + strconv.FormatInt(now.Unix(), 10) + "</CreateTime>")
	b.WriteString("<MsgType>" + cdata(msgType) + "</MsgType>")
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b.WriteString("<" + k + ">" + cdata(fields[k]) + "</" + k + ">")
	}
	if msgType != "event" {
		s.msgID++
		b.WriteString("<MsgId>" + strconv.FormatUint(s.msgID, 10) + "</MsgId>")
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// Push POSTs msgXML to webhookURL as the platform pushes it: signed with
// token in plain mode when aesKey is empty, else encrypted with aesKey for
// appID and signed (safe mode). It returns kefuhub's answer.
func (s *Server) Push(ctx context.Context, webhookURL, token, aesKey, appID string, msgXML []byte) (status int, body string, err error) {
	var p *SignedPush
	if aesKey == "" {
		p = PlainPush(token, s.clock(), msgXML)
	} else if p, err = SafePush(token, aesKey, appID, s.clock(), msgXML); err != nil {
		return 0, "", err
	}
	return s.PostPush(ctx, webhookURL, p)
}

// PostPush POSTs a signed push to webhookURL and returns kefuhub's answer.
func (s *Server) PostPush(ctx context.Context, webhookURL string, p *SignedPush) (int, string, error) {
	u, err := withQuery(webhookURL, p.Query)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(p.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/xml")
	return s.do(req)
}

// URLCheck is the outcome of a URL verification.
type URLCheck struct {
	Status int
	// Echoed is what kefuhub answered; Want is the echostr sent. The check
	// passes when Status is 200 and they match.
	Echoed, Want string
}

// OK reports whether the URL check passed.
func (c *URLCheck) OK() bool { return c.Status == http.StatusOK && c.Echoed == c.Want }

// VerifyURL performs the 服务器配置 URL check against webhookURL: GET
// ?signature&timestamp&nonce&echostr signed with token, and returns what
// kefuhub echoed.
func (s *Server) VerifyURL(ctx context.Context, webhookURL, token string) (*URLCheck, error) {
	want := wxcrypto.Nonce() + wxcrypto.Nonce()
	u, err := withQuery(webhookURL, URLCheckQuery(token, s.clock(), want))
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
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers an error the way the platform does: HTTP 200 with
// errcode, and an errmsg ending in a request id.
func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, errBody{ErrCode: code, ErrMsg: fmt.Sprintf("%s rid: %s-%s-%s", msg, randomID(8), randomID(8), randomID(8))})
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, secret := q.Get("appid"), q.Get("secret")
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case q.Get("grant_type") != "client_credential":
		writeErr(w, ErrInvalidGrantType, "invalid grant_type")
	case appID == "":
		writeErr(w, ErrMissingAppID, "appid missing")
	case secret == "":
		writeErr(w, ErrMissingSecret, "appsecret missing")
	case appID != s.AppID:
		writeErr(w, ErrInvalidAppID, "invalid appid")
	case len(s.whitelist) > 0 && !slices.Contains(s.whitelist, ip):
		writeErr(w, ErrIPNotWhitelisted, fmt.Sprintf("invalid ip %s ipv6 ::ffff:%s, not in whitelist", ip, ip))
	case secret != s.secret:
		writeErr(w, ErrInvalidSecret, "invalid appsecret, view more at http://t.cn/RAEkdVq")
	default:
		now := s.now()
		// A new token retires the older ones after the overlap.
		for t, exp := range s.tokens {
			if limit := now.Add(TokenOverlap); exp.After(limit) {
				s.tokens[t] = limit
			}
		}
		tok := randomID(64)
		s.tokens[tok] = now.Add(TokenTTL)
		s.tokenFetches++
		// Success carries no errcode.
		writeJSON(w, struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}{tok, int(TokenTTL / time.Second)})
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
		writeErr(w, ErrInvalidCredential, "invalid credential, access_token is invalid or not latest")
	case !s.now().Before(exp):
		writeErr(w, ErrTokenExpired, "access_token expired")
	default:
		return true
	}
	return false
}

func (s *Server) handleCustomSend(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkAccessToken(w, r) {
		return
	}
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeErr(w, ErrBadJSON, "data format error")
		return
	}
	u := s.users[req.ToUser]
	switch {
	case u == nil:
		writeErr(w, ErrInvalidOpenID, "invalid openid")
		return
	case req.MsgType != "text":
		writeErr(w, ErrInvalidMsgType, "invalid message type (the fake sends text only)")
		return
	case req.Text == nil || req.Text.Content == "":
		writeErr(w, ErrEmptyContent, "empty content")
		return
	case len(req.Text.Content) > MaxContentBytes:
		writeErr(w, ErrContentTooLong, "content size out of limit")
		return
	}
	now := s.now()
	switch {
	case u.unsubscribed || !now.Before(u.last.Add(ReplyWindow)):
		writeErr(w, ErrWindowClosed, "response out of time limit or subscription is canceled")
		return
	case s.replyLimit > 0 && u.replies >= s.replyLimit:
		writeErr(w, ErrOverLimit, "out of response count limit")
		return
	}
	u.replies++
	s.sent = append(s.sent, Sent{ToUser: req.ToUser, MsgType: req.MsgType, Content: req.Text.Content, At: now})
	writeJSON(w, errBody{0, "ok"})
}

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
