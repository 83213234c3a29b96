// Package appfake is a stand-in for a company's app backend, in the spirit
// of net/http/httptest: it receives kefuhub's signed replies (checking the
// signature like a real backend must) and sends signed customer events to
// kefuhub. Switches make it fail the way real backends do.
package appfake

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

	"github.com/kefuhub/kefuhub/connectors/signing"
	"github.com/kefuhub/kefuhub/models"
)

// Reply is a reply the backend accepted.
type Reply struct {
	DeliveryID  string              `json:"deliveryId"`
	UserID      string              `json:"userId"`
	Text        string              `json:"text"`
	Attachments []models.Attachment `json:"attachments"`
	SentAt      time.Time           `json:"sentAt"`
}

// Server is a fake app backend.
type Server struct {
	*httptest.Server
	secret string

	mu         sync.Mutex
	replies    []Reply
	deliveries map[string]int // delivery id → times received
	failures   []failure
	rejected   int
	changed    chan struct{}
}

type failure struct {
	status     int
	retryAfter int
}

// New starts a fake backend sharing secret with kefuhub.
func New(secret string) *Server {
	s := &Server{secret: secret, deliveries: map[string]int{}, changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /replies", s.handleReply)
	s.Server = httptest.NewServer(mux)
	return s
}

// ReplyURL is the URL to configure as the channel's replyUrl.
func (s *Server) ReplyURL() string { return s.URL + "/replies" }

// FailNext makes the next n replies fail with status (and Retry-After
// seconds, if > 0), before any is recorded.
func (s *Server) FailNext(n, status, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, retryAfter})
	}
}

func (s *Server) handleReply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if err := signing.Verify(r.Header, s.secret, time.Now(), body); err != nil {
		s.mu.Lock()
		s.rejected++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.Header.Get(signing.HeaderEvent) == "ping" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mu.Lock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		http.Error(w, "fake failure", f.status)
		return
	}
	var rep Reply
	if err := json.Unmarshal(body, &rep); err != nil || rep.DeliveryID == "" ||
		rep.DeliveryID != r.Header.Get(signing.HeaderDelivery) {
		s.mu.Unlock()
		http.Error(w, "malformed reply", http.StatusBadRequest)
		return
	}
	s.deliveries[rep.DeliveryID]++
	if s.deliveries[rep.DeliveryID] == 1 {
		s.replies = append(s.replies, rep)
	}
	n := len(s.replies)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"messageId":"am-%d"}`, n)
}

// Replies returns the distinct replies received so far.
func (s *Server) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reply(nil), s.replies...)
}

// Deliveries returns how many times each delivery id arrived.
func (s *Server) Deliveries() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.deliveries))
	for k, v := range s.deliveries {
		out[k] = v
	}
	return out
}

// Rejected counts replies refused for a bad signature.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// WaitReplies waits until at least n distinct replies have arrived.
func (s *Server) WaitReplies(ctx context.Context, n int) ([]Reply, error) {
	for {
		if r := s.Replies(); len(r) >= n {
			return r, nil
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return s.Replies(), fmt.Errorf("appfake: got %d replies, want %d: %w", len(s.Replies()), n, ctx.Err())
		}
	}
}

// User is the customer in an event.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// Event is a customer event as the app backend sends it.
type Event struct {
	ID          string              `json:"id"`
	Type        string              `json:"type"`
	User        User                `json:"user"`
	Text        string              `json:"text,omitempty"`
	Attachments []models.Attachment `json:"attachments,omitempty"`
	Event       string              `json:"event,omitempty"`
	Context     map[string]any      `json:"context,omitempty"`
	SentAt      *time.Time          `json:"sentAt,omitempty"`
}

// Send signs events (one object, or an array when there are several) and
// POSTs them to kefuhub's webhook URL for the channel.
func Send(ctx context.Context, client *http.Client, webhookURL, secret string, events ...Event) (*http.Response, []byte, error) {
	var body []byte
	var err error
	if len(events) == 1 {
		body, err = json.Marshal(events[0])
	} else {
		body, err = json.Marshal(events)
	}
	if err != nil {
		return nil, nil, err
	}
	return SendRaw(ctx, client, webhookURL, secret, time.Now(), body)
}

// SendRaw signs body as sent at ts and POSTs it.
func SendRaw(ctx context.Context, client *http.Client, webhookURL, secret string, ts time.Time, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	signing.SetHeaders(req.Header, secret, ts, body)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out, nil
}
