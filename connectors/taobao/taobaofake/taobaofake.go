// Package taobaofake is a stand-in for the Taobao Open Platform gateway, in
// the spirit of net/http/httptest. It checks requests the way TOP does
// (app_key, timestamp within ±10 minutes, sign for md5 / hmac /
// hmac-sha256, session) and implements the Message Channel (TMC) pull:
// taobao.tmc.messages.consume hands out queued messages that are not
// confirmed, and hands them out again when taobao.tmc.messages.confirm has
// not acknowledged them within the visibility timeout (0 by default: the
// next consume). It also answers taobao.time.get, taobao.user.seller.get,
// taobao.tmc.user.get, taobao.tmc.user.permit and
// taobao.logistics.trace.search. Answers use format=json, not simplified:
// {"<method without taobao., dots as underscores>_response": {...}} or
// {"error_response": {"code", "msg", "sub_code", "sub_msg"}}, with message
// ids above 2^53 written as JSON numbers.
//
// Switches make it fail the way the gateway does: call limits (code 7),
// 5xx, a revoked session (27), or any error_response for the next calls of
// a method.
package taobaofake

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Path is the gateway's path on the fake.
const Path = "/router/rest"

// Seller is the shop the fake's session key belongs to.
const (
	SellerNick = "kefuhub旗舰店"
	SellerID   = "2200000000001"
)

// TopicChat is the buyer-chat (旺旺) topic the connector reads as customer
// messages, content {"buyer_open_uid", "buyer_nick", "content",
// "direction": "c2b" | "b2c"}. PLATFORMS.md does not name the topic: this
// is kefuhub's choice (any taobao_wangwang_* topic is read as chat).
const TopicChat = "taobao_wangwang_ChatMessage"

// FirstMessageID is the id of the first published message: 2^53 + 1, which
// a float64 cannot hold (it rounds to 2^53).
const FirstMessageID uint64 = 1<<53 + 1

var gmt8 = time.FixedZone("GMT+8", 8*60*60)

const timeLayout = "2006-01-02 15:04:05"

// Failure is an answer forced on a call: an HTTP status (when set, with a
// non-JSON body), else an error_response.
type Failure struct {
	HTTPStatus int
	Code       int
	Msg        string
	SubCode    string
	SubMsg     string
}

// TraceStep is one scan of a parcel.
type TraceStep struct {
	Time   time.Time
	Desc   string
	Action string
}

// Trace is what taobao.logistics.trace.search answers for an order.
type Trace struct {
	CompanyName string
	OutSid      string
	Status      string
	Steps       []TraceStep
}

type message struct {
	id         uint64
	group      string
	topic      string
	content    string
	pubTime    time.Time
	confirmed  bool
	visibleAt  time.Time
	deliveries int
}

type forced struct {
	method string
	f      Failure
}

// Server is a fake TOP gateway.
type Server struct {
	*httptest.Server
	appKey, secret string

	mu          sync.Mutex
	session     string
	offset      time.Duration
	visibility  time.Duration
	nextID      uint64
	msgs        []*message
	confirmed   []string
	permitted   bool
	traces      map[string]Trace
	banSeconds  int
	httpStatus  int
	failures    []forced
	calls       []string
	badRequests int
}

// New starts a fake gateway that knows one app (appKey, secret) and one
// shop whose session key is session.
func New(appKey, secret, session string) *Server {
	s := &Server{appKey: appKey, secret: secret, session: session, nextID: FirstMessageID,
		permitted: true, traces: map[string]Trace{}}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, s.handle)
	s.Server = httptest.NewServer(mux)
	return s
}

// GatewayURL is the URL to configure as the channel's BaseURL.
func (s *Server) GatewayURL() string { return s.URL + Path }

// Now is the fake's clock: the real time, moved by Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return time.Now().Add(s.offset) }

// Advance moves the fake's clock (visibility timeouts, pub_time); the
// timestamp check uses it too, so keep the total within 10 minutes when the
// client uses the real clock.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// SetVisibilityTimeout sets how long a consumed, unconfirmed message stays
// hidden before it is delivered again (0, the default: at the next consume).
func (s *Server) SetVisibilityTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visibility = d
}

// Publish queues a message of topic for the "default" group and returns its
// id (above 2^53). content is the JSON object the topic carries.
func (s *Server) Publish(topic string, content map[string]any) string {
	return s.PublishTo("default", topic, content)
}

// PublishTo queues a message for a group.
func (s *Server) PublishTo(group, topic string, content map[string]any) string {
	b, err := json.Marshal(content)
	if err != nil {
		panic("taobaofake: content is not JSON: " + err.Error())
	}
	return s.PublishRaw(group, topic, string(b))
}

// PublishRaw queues a message whose content string is given as is (for
// malformed content).
func (s *Server) PublishRaw(group, topic, content string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &message{id: s.nextID, group: group, topic: topic, content: content, pubTime: s.nowLocked()}
	s.nextID++
	s.msgs = append(s.msgs, m)
	return strconv.FormatUint(m.id, 10)
}

// Confirmed lists the confirmed message ids, in the order confirmed.
func (s *Server) Confirmed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.confirmed)
}

// Pending lists the ids not confirmed yet, in id order.
func (s *Server) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		if !m.confirmed {
			out = append(out, strconv.FormatUint(m.id, 10))
		}
	}
	return out
}

// Deliveries is how many times message id was handed out by consume.
func (s *Server) Deliveries(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strconv.FormatUint(m.id, 10) == id {
			return m.deliveries
		}
	}
	return 0
}

// Calls lists the methods called, in order (rejected calls included).
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Rejected counts calls refused for bad app_key, timestamp, sign or session.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badRequests
}

// SetTrace sets the parcel of order tid.
func (s *Server) SetTrace(tid string, t Trace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traces[tid] = t
}

// SetSession changes the valid session key; RevokeSession makes every
// session invalid (error 27).
func (s *Server) SetSession(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = session
}

// RevokeSession makes the shop's authorisation invalid.
func (s *Server) RevokeSession() { s.SetSession("") }

// SetPermitted says whether messages are enabled for the shop
// (taobao.tmc.user.permit sets it too).
func (s *Server) SetPermitted(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permitted = ok
}

// SetRateLimit makes every call fail with code 7 "App Call Limited" and
// sub_msg "This ban will last for n more seconds"; 0 lifts the ban.
func (s *Server) SetRateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.banSeconds = n
}

// SetHTTPStatus makes every call answer status (e.g. 502); 0 restores.
func (s *Server) SetHTTPStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.httpStatus = status
}

// FailNext makes the next n calls of method ("" for any) fail with f,
// after the request is authenticated and before it has any effect.
func (s *Server) FailNext(method string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, forced{method, f})
	}
}

// sign is TOP's signature, written apart from the client's on purpose.
func sign(form url.Values, secret, method string) string {
	var names []string
	for k, v := range form {
		if k != "sign" && len(v) > 0 && v[0] != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteString(form[k][0])
	}
	var h hash.Hash
	switch method {
	case "md5":
		sum := md5.Sum([]byte(secret + b.String() + secret))
		return strings.ToUpper(hex.EncodeToString(sum[:]))
	case "hmac":
		h = hmac.New(md5.New, []byte(secret))
	case "hmac-sha256":
		h = hmac.New(sha256.New, []byte(secret))
	default:
		return ""
	}
	h.Write([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// needsSession lists the methods acting for the shop.
var needsSession = map[string]bool{
	"taobao.user.seller.get":        true,
	"taobao.tmc.user.permit":        true,
	"taobao.logistics.trace.search": true,
}

type errResp struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code,omitempty"`
	SubMsg    string `json:"sub_msg,omitempty"`
	RequestID string `json:"request_id"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg, subCode, subMsg string) {
	writeJSON(w, map[string]any{"error_response": errResp{Code: code, Msg: msg, SubCode: subCode, SubMsg: subMsg,
		RequestID: "fake" + strconv.Itoa(code)}})
}

func answer(w http.ResponseWriter, method string, body any) {
	key := strings.ReplaceAll(strings.TrimPrefix(method, "taobao."), ".", "_") + "_response"
	writeJSON(w, map[string]any{key: body})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.Form
	method := f.Get("method")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	reject := func(code int, msg, subCode, subMsg string) {
		s.badRequests++
		fail(w, code, msg, subCode, subMsg)
	}
	switch {
	case method == "":
		reject(21, "Missing method", "", "")
		return
	case f.Get("app_key") == "":
		reject(28, "Missing app key", "", "")
		return
	case f.Get("app_key") != s.appKey:
		reject(29, "Invalid app Key", "isv.appkey-not-exists", "")
		return
	case f.Get("v") != "2.0":
		reject(33, "Invalid version", "", "")
		return
	case f.Get("format") != "" && f.Get("format") != "json":
		reject(23, "Invalid format", "", "the fake answers json only")
		return
	case f.Get("sign") == "":
		reject(24, "Missing signature", "", "")
		return
	}
	ts, err := time.ParseInLocation(timeLayout, f.Get("timestamp"), gmt8)
	if err != nil {
		reject(31, "Invalid timestamp", "", "timestamp is yyyy-MM-dd HH:mm:ss in GMT+8")
		return
	}
	if d := ts.Sub(s.nowLocked()); d > 10*time.Minute || d < -10*time.Minute {
		reject(31, "Invalid timestamp", "", "timestamp is more than 10 minutes off the server time")
		return
	}
	sm := f.Get("sign_method")
	if sm == "" {
		sm = "md5"
	}
	if want := sign(f, s.secret, sm); want == "" || f.Get("sign") != want {
		reject(25, "Invalid signature", "", "")
		return
	}
	session := f.Get("session")
	switch {
	case session == "" && needsSession[method]:
		reject(26, "Missing session", "", "")
		return
	case session != "" && (s.session == "" || session != s.session):
		reject(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
		return
	}
	if s.httpStatus != 0 {
		http.Error(w, "<html><body>gateway error</body></html>", s.httpStatus)
		return
	}
	if s.banSeconds > 0 {
		fail(w, 7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
			fmt.Sprintf("This ban will last for %d more seconds", s.banSeconds))
		return
	}
	for i, fo := range s.failures {
		if fo.method == "" || fo.method == method {
			s.failures = slices.Delete(s.failures, i, i+1)
			if fo.f.HTTPStatus != 0 {
				http.Error(w, "<html><body>gateway error</body></html>", fo.f.HTTPStatus)
				return
			}
			fail(w, fo.f.Code, fo.f.Msg, fo.f.SubCode, fo.f.SubMsg)
			return
		}
	}
	switch method {
	case "taobao.time.get":
		answer(w, method, map[string]any{"time": s.nowLocked().In(gmt8).Format(timeLayout)})
	case "taobao.user.seller.get":
		answer(w, method, map[string]any{"user": map[string]any{"nick": SellerNick, "user_id": json.Number(SellerID)}})
	case "taobao.tmc.user.get":
		s.tmcUserGet(w, f)
	case "taobao.tmc.user.permit":
		s.permitted = true
		answer(w, method, map[string]any{"is_success": true})
	case "taobao.tmc.messages.consume":
		s.consume(w, f)
	case "taobao.tmc.messages.confirm":
		s.confirm(w, f)
	case "taobao.logistics.trace.search":
		s.trace(w, f)
	default:
		fail(w, 22, "Invalid method", "", "")
	}
}

func (s *Server) tmcUserGet(w http.ResponseWriter, f url.Values) {
	if f.Get("nick") == "" {
		fail(w, 40, "Missing required arguments:nick", "", "")
		return
	}
	if f.Get("nick") != SellerNick || !s.permitted {
		answer(w, "taobao.tmc.user.get", map[string]any{})
		return
	}
	answer(w, "taobao.tmc.user.get", map[string]any{"tmc_user": map[string]any{
		"user_nick": SellerNick, "user_id": json.Number(SellerID), "is_valid": true,
		"topics": map[string]any{"string": []string{"taobao_trade_TradeBuyerPay", "taobao_refund_RefundCreated"}},
	}})
}

// wireMessage is a tmc_message as the gateway writes it.
type wireMessage struct {
	ID        json.Number `json:"id"`
	Topic     string      `json:"topic"`
	Content   string      `json:"content"`
	PubAppKey string      `json:"pub_app_key"`
	PubTime   string      `json:"pub_time"`
	UserID    json.Number `json:"user_id"`
	UserNick  string      `json:"user_nick"`
}

func (s *Server) consume(w http.ResponseWriter, f url.Values) {
	group := f.Get("group_name")
	if group == "" {
		group = "default"
	}
	quantity := 100
	if q := f.Get("quantity"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 200 {
			fail(w, 41, "Invalid arguments:quantity", "isv.invalid-parameter", "quantity is 1 to 200")
			return
		}
		quantity = n
	}
	now := s.nowLocked()
	var out []wireMessage
	for _, m := range s.msgs {
		if len(out) == quantity {
			break
		}
		if m.confirmed || m.group != group || now.Before(m.visibleAt) {
			continue
		}
		m.deliveries++
		m.visibleAt = now.Add(s.visibility) // with 0, the next consume hands it out again
		out = append(out, wireMessage{
			ID: json.Number(strconv.FormatUint(m.id, 10)), Topic: m.topic, Content: m.content,
			PubAppKey: s.appKey, PubTime: m.pubTime.In(gmt8).Format(timeLayout),
			UserID: json.Number(SellerID), UserNick: SellerNick,
		})
	}
	if len(out) == 0 {
		answer(w, "taobao.tmc.messages.consume", map[string]any{})
		return
	}
	answer(w, "taobao.tmc.messages.consume", map[string]any{"messages": map[string]any{"tmc_message": out}})
}

func parseIDs(v string) ([]uint64, bool) {
	var ids []uint64
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		id, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// confirm acknowledges s_message_ids (unknown or already confirmed ids are
// ignored, as confirming twice must be harmless) and hands f_message_ids
// out again at the next consume.
func (s *Server) confirm(w http.ResponseWriter, f url.Values) {
	if f.Get("s_message_ids") == "" && f.Get("f_message_ids") == "" {
		fail(w, 40, "Missing required arguments:s_message_ids", "", "")
		return
	}
	ok, bad := parseIDs(f.Get("s_message_ids"))
	failed, bad2 := parseIDs(f.Get("f_message_ids"))
	if !bad || !bad2 || len(ok)+len(failed) > 200 {
		fail(w, 41, "Invalid arguments:s_message_ids", "isv.invalid-parameter", "at most 200 comma-separated ids")
		return
	}
	now := s.nowLocked()
	for _, m := range s.msgs {
		if m.confirmed {
			continue
		}
		if slices.Contains(ok, m.id) {
			m.confirmed = true
			s.confirmed = append(s.confirmed, strconv.FormatUint(m.id, 10))
		} else if slices.Contains(failed, m.id) {
			m.visibleAt = now
		}
	}
	answer(w, "taobao.tmc.messages.confirm", map[string]any{"is_success": true})
}

func (s *Server) trace(w http.ResponseWriter, f url.Values) {
	tid := f.Get("tid")
	if tid == "" {
		fail(w, 40, "Missing required arguments:tid", "", "")
		return
	}
	if _, err := strconv.ParseUint(tid, 10, 64); err != nil {
		fail(w, 41, "Invalid arguments:tid", "isv.invalid-parameter", "tid is a number")
		return
	}
	t, ok := s.traces[tid]
	if !ok {
		fail(w, 15, "Remote service error", "isv.logistics-trace-not-exist", "该订单没有物流信息")
		return
	}
	steps := make([]map[string]any, 0, len(t.Steps))
	for _, st := range t.Steps {
		steps = append(steps, map[string]any{"status_time": st.Time.In(gmt8).Format(timeLayout),
			"status_desc": st.Desc, "action": st.Action})
	}
	answer(w, "taobao.logistics.trace.search", map[string]any{
		"tid": json.Number(tid), "out_sid": t.OutSid, "company_name": t.CompanyName, "status": t.Status,
		"trace_list": map[string]any{"transit_step_info": steps},
	})
}
