// Package oafake is a stand-in OA system: it receives kefuhub's signed
// work-order webhooks (checking the signature), keeps one work order per
// delivery id like a careful OA system, and calls kefuhub back to change
// tickets. Switches make it fail the way real systems do.
package oafake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/connectors/fakehttp"
	"github.com/kefuhub/kefuhub/connectors/signing"
)

// Order is a work order the OA system holds.
type Order struct {
	ID         string
	DeliveryID string
	Event      string
	Document   map[string]any
	Received   int       // times this delivery arrived
	FirstAt    time.Time // when it first arrived
}

// Server is a fake OA system.
type Server struct {
	*httptest.Server
	secret string

	mu       sync.Mutex
	orders   []*Order
	byID     map[string]*Order
	failures []failure // answers to give next, before applying
	drops    int       // apply, then drop the connection
	rejected int
	changed  chan struct{}
	chaos    *chaos
}

// chaos fails a share of deliveries at random (seeded, so runs repeat).
type chaos struct {
	rng                       *rand.Rand
	fail, timeout, drop       float64
	timeoutFor                time.Duration
	failed, timedOut, dropped int
}

// SetChaos makes the server fail a share of deliveries: fail answers 503
// without applying, timeout holds the request for timeoutFor (longer than
// the caller waits) without applying, drop applies and then closes the
// connection without an answer. The shares are fractions of all deliveries.
func (s *Server) SetChaos(seed uint64, fail, timeout, drop float64, timeoutFor time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = &chaos{rng: rand.New(rand.NewPCG(seed, seed)), fail: fail, timeout: timeout, drop: drop, timeoutFor: timeoutFor}
}

// ChaosCounts reports how many deliveries chaos failed, timed out and dropped.
func (s *Server) ChaosCounts() (failed, timedOut, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chaos == nil {
		return 0, 0, 0
	}
	return s.chaos.failed, s.chaos.timedOut, s.chaos.dropped
}

// New starts a fake OA system sharing secret with kefuhub.
func New(secret string) *Server {
	s := &Server{secret: secret, byID: map[string]*Order{}, changed: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

type failure struct{ status, retryAfter int }

// FailNext answers the next n deliveries with status, without applying them.
func (s *Server) FailNext(n, status int) { s.FailNextRetryAfter(n, status, 0) }

// FailNextRetryAfter is FailNext with a Retry-After of seconds.
func (s *Server) FailNextRetryAfter(n, status, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, seconds})
	}
}

// DropNext applies the next n deliveries and then drops the connection
// without answering (a lost response).
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
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
			w.Header().Set("Retry-After", fmt.Sprint(f.retryAfter))
		}
		http.Error(w, "fake failure", f.status)
		return
	}
	chaosDrop := false
	if c := s.chaos; c != nil {
		roll := c.rng.Float64()
		switch {
		case roll < c.fail:
			c.failed++
			s.mu.Unlock()
			http.Error(w, "chaos: failure", http.StatusServiceUnavailable)
			return
		case roll < c.fail+c.timeout:
			c.timedOut++
			wait := c.timeoutFor
			s.mu.Unlock()
			fakehttp.Hold(w, r, wait)
			return
		case roll < c.fail+c.timeout+c.drop:
			c.dropped++
			chaosDrop = true
		}
	}
	delivery := r.Header.Get(signing.HeaderDelivery)
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || delivery == "" {
		s.mu.Unlock()
		http.Error(w, "malformed work order", http.StatusBadRequest)
		return
	}
	o, seen := s.byID[delivery]
	if !seen {
		o = &Order{ID: fmt.Sprintf("OA-%04d", len(s.orders)+1), DeliveryID: delivery, Event: r.Header.Get(signing.HeaderEvent), Document: doc, FirstAt: time.Now()}
		s.orders = append(s.orders, o)
		s.byID[delivery] = o
	}
	o.Received++
	drop := s.drops > 0 || chaosDrop
	if s.drops > 0 {
		s.drops--
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"url":"https://oa.example/orders/%s"}`, o.ID, o.ID)
}

// Orders returns the work orders held, in arrival order.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, len(s.orders))
	for i, o := range s.orders {
		out[i] = *o
	}
	return out
}

// Rejected counts deliveries refused for a bad signature.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// WaitOrders waits until at least n work orders are held.
func (s *Server) WaitOrders(ctx context.Context, n int) ([]Order, error) {
	for {
		if o := s.Orders(); len(o) >= n {
			return o, nil
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return s.Orders(), fmt.Errorf("oafake: %d work orders, want %d: %w", len(s.Orders()), n, ctx.Err())
		}
	}
}

// Callback POSTs a signed status change to kefuhub's callback URL for the
// target and returns the status and body.
func (s *Server) Callback(ctx context.Context, callbackURL string, change map[string]any) (int, string, error) {
	body, err := json.Marshal(change)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	signing.SetHeaders(req.Header, s.secret, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}
