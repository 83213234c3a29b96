// Package dingtalkbotfake plays DingTalk for the kefuhub bot: it POSTs
// signed robot messages as staff would, serves the sessionWebhook the
// answers go to, and the gettoken endpoint.
package dingtalkbotfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/dingtalkbot"
)

// Reply is an answer the bot posted to a session.
type Reply struct {
	Session string
	Text    string
}

// Server is a fake DingTalk.
type Server struct {
	*httptest.Server
	appKey, appSecret string

	mu      sync.Mutex
	replies []Reply
	seq     int
	changed chan struct{}
}

// New starts a fake DingTalk for the robot app.
func New(appKey, appSecret string) *Server {
	s := &Server{appKey: appKey, appSecret: appSecret, changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gettoken", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("appkey") != s.appKey || r.URL.Query().Get("appsecret") != s.appSecret {
			fmt.Fprint(w, `{"errcode":40089,"errmsg":"不合法的corpid或corpsecret"}`)
			return
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","access_token":"fake-token","expires_in":7200}`)
	})
	mux.HandleFunc("POST /robot/sendBySession", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.MsgType != "text" {
			fmt.Fprint(w, `{"errcode":400,"errmsg":"bad message"}`)
			return
		}
		s.mu.Lock()
		s.replies = append(s.replies, Reply{Session: r.URL.Query().Get("session"), Text: body.Text.Content})
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// StaffSays POSTs a signed robot message from staffID to kefuhub's webhook
// URL for the bot channel; secret signs it (pass the wrong one to forge).
func (s *Server) StaffSays(ctx context.Context, webhookURL, secret, staffID, nick, text string) (int, string, error) {
	s.mu.Lock()
	s.seq++
	session := fmt.Sprintf("sess-%d", s.seq)
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"msgtype": "text", "text": map[string]string{"content": " " + text},
		"msgId": "msg" + session, "createAt": time.Now().UnixMilli(), "conversationType": "2",
		"conversationId": "cid-group", "senderId": "$:LWCP_v1:$" + staffID, "senderNick": nick, "senderStaffId": staffID,
		"sessionWebhook":            s.URL + "/robot/sendBySession?session=" + session,
		"sessionWebhookExpiredTime": time.Now().Add(90 * time.Minute).UnixMilli(), "isInAtList": true,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("timestamp", ts)
	req.Header.Set("sign", dingtalkbot.Sign(secret, ts))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

// Replies returns the bot's answers so far.
func (s *Server) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reply(nil), s.replies...)
}

// WaitReplies waits for at least n answers.
func (s *Server) WaitReplies(ctx context.Context, n int) ([]Reply, error) {
	for {
		if r := s.Replies(); len(r) >= n {
			return r, nil
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return s.Replies(), fmt.Errorf("dingtalkbotfake: %d replies, want %d: %w", len(s.Replies()), n, ctx.Err())
		}
	}
}
