package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The two GraphQL-over-WebSocket subprotocols the API speaks.
const (
	protoTransportWS = "graphql-transport-ws" // graphql-ws library: subscribe/next/complete, ping/pong
	protoLegacyWS    = "graphql-ws"           // subscriptions-transport-ws: start/data/stop, ka
)

// eventWait bounds every wait for a subscription event.
const eventWait = 5 * time.Second

// wsFrame is one message of either protocol.
type wsFrame struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a minimal GraphQL WebSocket client for one subprotocol. A
// reader goroutine routes frames with an id to their subscription and all
// others (connection_ack, ka, pong, connection_error) to control; it
// answers graphql-transport-ws pings itself.
type wsClient struct {
	t      *testing.T
	proto  string
	conn   *websocket.Conn
	cancel context.CancelFunc

	mu     sync.Mutex
	subs   map[string]chan wsFrame
	lastID int

	control chan wsFrame
	done    chan struct{} // closed when the reader stops
	readErr error         // why it stopped; read only after done
}

// dialWS opens a socket on /graphql with subprotocol proto. headerToken,
// when set, goes in the upgrade request's Authorization header. The
// connection is not initialised yet: call init.
func dialWS(t *testing.T, e *env, proto, headerToken string) (*wsClient, *http.Response, error) {
	t.Helper()
	opts := &websocket.DialOptions{Subprotocols: []string{proto}, HTTPHeader: http.Header{}}
	if headerToken != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+headerToken)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), eventWait)
	defer dcancel()
	conn, resp, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(e.server.URL, "http")+"/graphql", opts)
	if err != nil {
		return nil, resp, err
	}
	if got := conn.Subprotocol(); got != proto {
		conn.CloseNow()
		return nil, resp, fmt.Errorf("negotiated subprotocol %q, want %q", got, proto)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsClient{
		t: t, proto: proto, conn: conn, cancel: cancel,
		subs:    map[string]chan wsFrame{},
		control: make(chan wsFrame, 64),
		done:    make(chan struct{}),
	}
	go c.readLoop(ctx)
	t.Cleanup(c.close)
	return c, resp, nil
}

func (c *wsClient) readLoop(ctx context.Context) {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			c.readErr = err
			return
		}
		var f wsFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.readErr = fmt.Errorf("frame is not JSON: %s", data)
			return
		}
		if c.proto == protoTransportWS && f.Type == "ping" {
			_ = c.write(wsFrame{Type: "pong"})
		}
		dst := c.control
		if f.ID != "" {
			c.mu.Lock()
			if ch, ok := c.subs[f.ID]; ok {
				dst = ch
			}
			c.mu.Unlock()
		}
		select {
		case dst <- f:
		case <-ctx.Done():
			c.readErr = ctx.Err()
			return
		}
	}
}

func (c *wsClient) write(f wsFrame) error {
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// close ends the connection (normal closure) and waits for the reader.
func (c *wsClient) close() {
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	go func() {
		<-ctx.Done()
		c.conn.CloseNow()
	}()
	_ = c.conn.Close(websocket.StatusNormalClosure, "")
	c.cancel()
	<-c.done
}

// waitClosed waits up to eventWait for the server to end the connection and
// returns why it ended; it fails the test if the connection stays open.
func (c *wsClient) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case <-c.done:
		return c.readErr
	case <-time.After(eventWait):
		t.Fatalf("%s: server did not close the connection", c.proto)
		return nil
	}
}

// init sends connection_init with payload and waits for connection_ack.
// It returns an error when the server answers anything else or closes.
func (c *wsClient) init(payload map[string]any) error {
	raw, _ := json.Marshal(payload)
	if err := c.write(wsFrame{Type: "connection_init", Payload: raw}); err != nil {
		return fmt.Errorf("send connection_init: %w", err)
	}
	timeout := time.After(eventWait)
	for {
		select {
		case f := <-c.control:
			switch f.Type {
			case "connection_ack":
				return nil
			case "ka":
				continue
			default:
				return fmt.Errorf("got %s (%s) instead of connection_ack", f.Type, f.Payload)
			}
		case <-c.done:
			return fmt.Errorf("connection closed before connection_ack: %w", c.readErr)
		case <-timeout:
			return errors.New("no connection_ack within the timeout")
		}
	}
}

// expectControl waits for a frame of type typ without an id, skipping
// keep-alives of the legacy protocol unless typ is "ka".
func (c *wsClient) expectControl(t *testing.T, typ string) wsFrame {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case f := <-c.control:
			if f.Type == typ {
				return f
			}
			if f.Type == "ka" {
				continue
			}
			t.Fatalf("%s: got %s (%s), want %s", c.proto, f.Type, f.Payload, typ)
		case <-c.done:
			t.Fatalf("%s: connection closed while waiting for %s: %v", c.proto, typ, c.readErr)
		case <-timeout:
			t.Fatalf("%s: no %s within %v", c.proto, typ, eventWait)
		}
	}
}

// wsSub is one subscription on a wsClient.
type wsSub struct {
	c  *wsClient
	id string
	ch chan wsFrame
}

// subscribe starts a subscription (subscribe or start, by protocol).
func (c *wsClient) subscribe(t *testing.T, query string, vars map[string]any) *wsSub {
	t.Helper()
	c.mu.Lock()
	c.lastID++
	s := &wsSub{c: c, id: strconv.Itoa(c.lastID), ch: make(chan wsFrame, 64)}
	c.subs[s.id] = s.ch
	c.mu.Unlock()
	typ := "subscribe"
	if c.proto == protoLegacyWS {
		typ = "start"
	}
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err := c.write(wsFrame{ID: s.id, Type: typ, Payload: payload}); err != nil {
		t.Fatalf("%s: send %s: %v", c.proto, typ, err)
	}
	return s
}

// stop ends the subscription from the client side (complete or stop).
func (s *wsSub) stop(t *testing.T) {
	t.Helper()
	typ := "complete"
	if s.c.proto == protoLegacyWS {
		typ = "stop"
	}
	if err := s.c.write(wsFrame{ID: s.id, Type: typ}); err != nil {
		t.Fatalf("%s: send %s: %v", s.c.proto, typ, err)
	}
}

// wsEvent is a decoded subscription frame.
type wsEvent struct {
	Type   string // next/data, error or complete
	Data   map[string]any
	Errors []gqlError
	Raw    string
}

func (ev wsEvent) isData() bool { return ev.Type == "next" || ev.Type == "data" }

// recv waits up to d for the subscription's next frame; ok is false on
// timeout or when the connection ended with nothing left queued.
func (s *wsSub) recv(d time.Duration) (wsEvent, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var f wsFrame
	select {
	case f = <-s.ch:
	default:
		select {
		case f = <-s.ch:
		case <-s.c.done:
			// The reader routes every frame before it stops.
			select {
			case f = <-s.ch:
			default:
				return wsEvent{}, false
			}
		case <-timer.C:
			return wsEvent{}, false
		}
	}
	ev := wsEvent{Type: f.Type, Raw: string(f.Payload)}
	switch f.Type {
	case "next", "data":
		var p struct {
			Data   map[string]any `json:"data"`
			Errors []gqlError     `json:"errors"`
		}
		_ = json.Unmarshal(f.Payload, &p)
		ev.Data, ev.Errors = p.Data, p.Errors
	case "error":
		_ = json.Unmarshal(f.Payload, &ev.Errors)
	}
	return ev, true
}

// next waits for the next data frame and returns its data; any other frame
// or an error in it fails the test.
func (s *wsSub) next(t *testing.T) map[string]any {
	t.Helper()
	ev, ok := s.recv(eventWait)
	if !ok {
		t.Fatalf("%s sub %s: no event within %v (conn err: %v)", s.c.proto, s.id, eventWait, s.connErr())
	}
	if !ev.isData() || len(ev.Errors) > 0 {
		t.Fatalf("%s sub %s: got %s %s, want a data event", s.c.proto, s.id, ev.Type, ev.Raw)
	}
	return ev.Data
}

// expectComplete waits for the server's complete for this subscription,
// failing on any data in between.
func (s *wsSub) expectComplete(t *testing.T) {
	t.Helper()
	ev, ok := s.recv(eventWait)
	if !ok {
		t.Fatalf("%s sub %s: no complete within %v (conn err: %v)", s.c.proto, s.id, eventWait, s.connErr())
	}
	if ev.Type != "complete" {
		t.Fatalf("%s sub %s: got %s %s, want complete", s.c.proto, s.id, ev.Type, ev.Raw)
	}
}

// expectNothing asserts the subscription has no frame queued right now.
func (s *wsSub) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case f := <-s.ch:
		t.Fatalf("%s sub %s: unexpected %s %s", s.c.proto, s.id, f.Type, f.Payload)
	default:
	}
}

func (s *wsSub) connErr() error {
	select {
	case <-s.c.done:
		return s.c.readErr
	default:
		return nil
	}
}

// waitSubscribers waits until the hub's bus has exactly n live
// subscriptions: a subscription is only sure to see an event once the
// server has registered it.
func waitSubscribers(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		got := e.hub.Bus().Subscribers()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bus has %d subscribers, want %d", got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settleSubscribers makes the end of t wait until every subscription of the
// test is gone, so the next test can count subscribers from zero. Call it
// first: cleanups run last-in first-out, after the clients close.
func settleSubscribers(t *testing.T, e *env) {
	t.Cleanup(func() {
		deadline := time.Now().Add(eventWait)
		for e.hub.Bus().Subscribers() != 0 {
			if time.Now().After(deadline) {
				t.Errorf("%d subscriptions still live after the test", e.hub.Bus().Subscribers())
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// openWS dials and initialises with {"Authorization": "Bearer <token>"}.
func openWS(t *testing.T, e *env, proto, token string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, e, proto, "")
	if err != nil {
		t.Fatalf("%s: dial: %v", proto, err)
	}
	if err := c.init(map[string]any{"Authorization": "Bearer " + token}); err != nil {
		t.Fatalf("%s: init: %v", proto, err)
	}
	return c
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Event string
	Data  string
}

// sseStream is a subscription over Server-Sent Events.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{} // closed at the end of the stream
	err    error         // read only after done
	cancel context.CancelFunc
}

// openSSE posts a subscription with Accept: text/event-stream.
func openSSE(t *testing.T, e *env, token, query string, vars map[string]any) *sseStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.server.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE request: %v", err)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 64), done: make(chan struct{}), cancel: cancel}
	go s.read()
	t.Cleanup(func() {
		cancel()
		<-s.done
		resp.Body.Close()
	})
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	r := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.Event != "" || ev.Data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			ev.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			ev.Data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
}

// next waits for the next event.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		t.Fatalf("SSE stream ended (err %v) while waiting for an event", s.err)
	case <-time.After(eventWait):
		t.Fatalf("no SSE event within %v", eventWait)
	}
	return sseEvent{}
}

// Subscription documents used below.
const (
	subMessages = `subscription($c: ID) { messageAdded(conversationId: $c) { id text conversation { id } } }`
	subConvs    = `subscription($f: ConversationFilter) { conversationUpdated(filter: $f) { id status assignee { id } } }`
	subTickets  = `subscription($f: TicketFilter) { ticketUpdated(filter: $f) { id title status } }`
)

func (e *env) sendMessage(token, convID, text string) string {
	e.t.Helper()
	d := e.must(token, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { message { id } userErrors { message } } }`,
		map[string]any{"in": map[string]any{"conversationId": convID, "text": text}})
	return str(d, "sendMessage", "message", "id")
}

// withT returns a copy of e whose helpers report to t, so that a failing
// fixture inside a subtest fails that subtest.
func (e *env) withT(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func TestSubscriptions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		custA := e.createCustomer(e.adminA, "订阅客户")
		chA := e.createChannel(e.adminA, "WEB", "官网", nil)
		convA := e.startConversation(e.adminA, custA, chA)
		adminAUser := str(e.must(e.adminA, `{ viewer { user { id } } }`, nil), "viewer", "user", "id")
		custB := e.createCustomer(e.adminB, "乙方客户")
		chB := e.createChannel(e.adminB, "WEB", "乙官网", nil)
		convB := e.startConversation(e.adminB, custB, chB)

		for _, proto := range []string{protoTransportWS, protoLegacyWS} {
			t.Run(proto, func(t *testing.T) {
				t.Run("messageAdded", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					c := openWS(t, e, proto, e.adminA)
					s := c.subscribe(t, subMessages, map[string]any{"c": convA})
					waitSubscribers(t, e, 1)
					text := "您的包裹已发出 " + proto
					id := e.sendMessage(e.adminA, convA, text)
					d := s.next(t)
					if got := str(d, "messageAdded", "id"); got != id {
						t.Errorf("messageAdded.id = %q, want %q", got, id)
					}
					if got := str(d, "messageAdded", "text"); got != text {
						t.Errorf("messageAdded.text = %q, want %q", got, text)
					}
					if got := str(d, "messageAdded", "conversation", "id"); got != convA {
						t.Errorf("messageAdded.conversation.id = %q, want %q", got, convA)
					}
				})

				t.Run("conversationUpdated", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					c := openWS(t, e, proto, e.adminA)
					s := c.subscribe(t, subConvs, map[string]any{"f": map[string]any{"status": []string{"OPEN"}}})
					waitSubscribers(t, e, 1)
					e.must(e.adminA, `mutation($in: AssignConversationInput!) { assignConversation(input: $in) { conversation { id } userErrors { message } } }`,
						map[string]any{"in": map[string]any{"conversationId": convA, "assigneeId": adminAUser}})
					d := s.next(t)
					if got := str(d, "conversationUpdated", "id"); got != convA {
						t.Errorf("conversationUpdated.id = %q, want %q", got, convA)
					}
					if got := str(d, "conversationUpdated", "status"); got != "OPEN" {
						t.Errorf("conversationUpdated.status = %q, want OPEN", got)
					}
					if got := str(d, "conversationUpdated", "assignee", "id"); got != adminAUser {
						t.Errorf("conversationUpdated.assignee.id = %q, want %q", got, adminAUser)
					}
				})

				t.Run("ticketUpdated", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					c := openWS(t, e, proto, e.adminA)
					s := c.subscribe(t, subTickets, map[string]any{"f": map[string]any{}})
					waitSubscribers(t, e, 1)
					tk := e.createTicket(e.adminA, "退款申请 "+proto, nil)
					d := s.next(t)
					if got := str(d, "ticketUpdated", "id"); got != tk {
						t.Errorf("after createTicket: ticketUpdated.id = %q, want %q", got, tk)
					}
					if got := str(d, "ticketUpdated", "status"); got != "NEW" {
						t.Errorf("after createTicket: status = %q, want NEW", got)
					}
					e.must(e.adminA, `mutation($in: TransitionTicketInput!) { transitionTicket(input: $in) { ticket { id } userErrors { message } } }`,
						map[string]any{"in": map[string]any{"id": tk, "status": "OPEN"}})
					d = s.next(t)
					if got := str(d, "ticketUpdated", "id"); got != tk {
						t.Errorf("after transitionTicket: ticketUpdated.id = %q, want %q", got, tk)
					}
					if got := str(d, "ticketUpdated", "status"); got != "OPEN" {
						t.Errorf("after transitionTicket: status = %q, want OPEN", got)
					}
				})

				t.Run("nonMatchingFilter", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					marker := e.startConversation(e.adminA, custA, chA)
					c := openWS(t, e, proto, e.adminA)
					resolved := c.subscribe(t, subConvs, map[string]any{"f": map[string]any{"status": []string{"RESOLVED"}}})
					open := c.subscribe(t, subConvs, map[string]any{"f": map[string]any{"status": []string{"OPEN"}}})
					waitSubscribers(t, e, 2)
					e.must(e.adminA, `mutation($in: AssignConversationInput!) { assignConversation(input: $in) { conversation { id } userErrors { message } } }`,
						map[string]any{"in": map[string]any{"conversationId": convA, "assigneeId": nil}})
					// The matching subscription sees the OPEN conversation...
					if got := str(open.next(t), "conversationUpdated", "id"); got != convA {
						t.Fatalf("OPEN subscription got %q, want %q", got, convA)
					}
					// ...and the RESOLVED one's first event is the marker
					// resolved afterwards, so it skipped the OPEN one.
					e.must(e.adminA, `mutation($in: SetConversationStatusInput!) { setConversationStatus(input: $in) { conversation { id } userErrors { message } } }`,
						map[string]any{"in": map[string]any{"conversationId": marker, "status": "RESOLVED"}})
					d := resolved.next(t)
					if got := str(d, "conversationUpdated", "id"); got != marker {
						t.Errorf("RESOLVED subscription got conversation %q first, want only the marker %q", got, marker)
					}
					if got := str(d, "conversationUpdated", "status"); got != "RESOLVED" {
						t.Errorf("RESOLVED subscription got status %q", got)
					}
					resolved.expectNothing(t)
				})

				t.Run("tenantIsolation", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					a := openWS(t, e, proto, e.adminA)
					aMsgs := a.subscribe(t, subMessages, nil)
					aTickets := a.subscribe(t, subTickets, map[string]any{"f": map[string]any{}})
					b := openWS(t, e, proto, e.adminB)
					bMsgs := b.subscribe(t, subMessages, nil)
					bTickets := b.subscribe(t, subTickets, map[string]any{"f": map[string]any{}})
					bConvs := b.subscribe(t, subConvs, nil)
					waitSubscribers(t, e, 5)

					aMsg := e.sendMessage(e.adminA, convA, "甲方的私密消息")
					aTicket := e.createTicket(e.adminA, "甲方工单", nil)
					if got := str(aMsgs.next(t), "messageAdded", "id"); got != aMsg {
						t.Fatalf("A's messageAdded = %q, want %q", got, aMsg)
					}
					if got := str(aTickets.next(t), "ticketUpdated", "id"); got != aTicket {
						t.Fatalf("A's ticketUpdated = %q, want %q", got, aTicket)
					}

					bMsg := e.sendMessage(e.adminB, convB, "乙方标记消息")
					bTicket := e.createTicket(e.adminB, "乙方标记工单", nil)
					d := bMsgs.next(t)
					if got := str(d, "messageAdded", "id"); got != bMsg {
						t.Errorf("B's first messageAdded is %q (%q), want only B's marker %q", got, str(d, "messageAdded", "text"), bMsg)
					}
					d = bTickets.next(t)
					if got := str(d, "ticketUpdated", "id"); got != bTicket {
						t.Errorf("B's first ticketUpdated is %q (%q), want only B's marker %q", got, str(d, "ticketUpdated", "title"), bTicket)
					}
					d = bConvs.next(t)
					if got := str(d, "conversationUpdated", "id"); got != convB {
						t.Errorf("B's first conversationUpdated is %q, want only B's %q", got, convB)
					}
					bMsgs.expectNothing(t)
					bTickets.expectNothing(t)
					bConvs.expectNothing(t)
				})

				t.Run("foreignConversation", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					b := openWS(t, e, proto, e.adminB)
					s := b.subscribe(t, subMessages, map[string]any{"c": convA})
					ev, ok := s.recv(eventWait)
					if !ok {
						t.Fatalf("no answer to a subscription on another tenant's conversation")
					}
					if ev.isData() && get(ev.Data, "messageAdded") != nil {
						t.Fatalf("tenant B got data for A's conversation: %s", ev.Raw)
					}
					if ev.Type == "complete" || len(ev.Errors) == 0 {
						t.Fatalf("got %s %s, want an error", ev.Type, ev.Raw)
					}
					if code, _ := ev.Errors[0].Extensions["code"].(string); code != "NOT_FOUND" {
						t.Errorf("error code = %q, want NOT_FOUND (%s)", code, ev.Raw)
					}
					// Nothing was subscribed: A's messages cannot reach B.
					if n := e.hub.Bus().Subscribers(); n != 0 {
						t.Errorf("a refused subscription left %d bus subscribers", n)
					}
					e.sendMessage(e.adminA, convA, "不应泄露")
					for {
						ev, ok := s.recv(200 * time.Millisecond)
						if !ok || ev.Type == "complete" {
							break
						}
						if ev.isData() && get(ev.Data, "messageAdded") != nil {
							t.Fatalf("tenant B got data for A's conversation: %s", ev.Raw)
						}
					}
				})

				t.Run("badToken", func(t *testing.T) {
					settleSubscribers(t, e)
					for name, payload := range map[string]map[string]any{
						"wrong token": {"Authorization": "Bearer khb_definitely-not-a-token"},
						"no token":    {},
					} {
						c, _, err := dialWS(t, e, proto, "")
						if err != nil {
							t.Fatalf("%s: dial: %v", name, err)
						}
						if err := c.init(payload); err == nil {
							t.Fatalf("%s: server acknowledged the connection", name)
						} else {
							t.Logf("%s: refused: %v", name, err)
						}
						err = c.waitClosed(t)
						if got := websocket.CloseStatus(err); got != 4403 {
							t.Errorf("%s: closed with status %d, want 4403 Forbidden (%v)", name, got, err)
						}
						// No frame of the connection was an ack.
						for len(c.control) > 0 {
							if f := <-c.control; f.Type == "connection_ack" {
								t.Errorf("%s: got connection_ack", name)
							}
						}
					}
					// A bad token in the upgrade request is refused before the upgrade.
					_, resp, err := dialWS(t, e, proto, "khb_definitely-not-a-token")
					if err == nil {
						t.Fatalf("upgrade with a bad Authorization header succeeded")
					}
					if resp == nil || resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("upgrade with a bad Authorization header: resp %v, want 401", resp)
					}
				})

				t.Run("headerAuth", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					c, _, err := dialWS(t, e, proto, e.adminA)
					if err != nil {
						t.Fatal(err)
					}
					if err := c.init(map[string]any{}); err != nil {
						t.Fatalf("init with an empty payload after header auth: %v", err)
					}
					s := c.subscribe(t, subMessages, map[string]any{"c": convA})
					waitSubscribers(t, e, 1)
					id := e.sendMessage(e.adminA, convA, "header auth "+proto)
					if got := str(s.next(t), "messageAdded", "id"); got != id {
						t.Errorf("messageAdded.id = %q, want %q", got, id)
					}
				})

				t.Run("keepAliveAndStop", func(t *testing.T) {
					settleSubscribers(t, e)
					e := e.withT(t)
					c := openWS(t, e, proto, e.adminA)
					if proto == protoLegacyWS {
						// The legacy protocol sends ka right after the ack.
						c.expectControl(t, "ka")
					} else {
						if err := c.write(wsFrame{Type: "ping"}); err != nil {
							t.Fatal(err)
						}
						c.expectControl(t, "pong")
					}
					s := c.subscribe(t, subMessages, map[string]any{"c": convA})
					waitSubscribers(t, e, 1)
					s.stop(t)
					// The server drops the subscription; the socket stays usable.
					waitSubscribers(t, e, 0)
					s2 := c.subscribe(t, subMessages, map[string]any{"c": convA})
					waitSubscribers(t, e, 1)
					id := e.sendMessage(e.adminA, convA, "after stop "+proto)
					if got := str(s2.next(t), "messageAdded", "id"); got != id {
						t.Errorf("messageAdded.id = %q, want %q", got, id)
					}
					for {
						ev, ok := s.recv(0)
						if !ok {
							break
						}
						if ev.isData() {
							t.Errorf("stopped subscription still got %s", ev.Raw)
						}
					}
				})
			})
		}

		t.Run("SSE", func(t *testing.T) {
			settleSubscribers(t, e)
			e := e.withT(t)
			s := openSSE(t, e, e.adminA, subMessages, map[string]any{"c": convA})
			if s.resp.StatusCode != http.StatusOK {
				t.Fatalf("SSE status %d", s.resp.StatusCode)
			}
			if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("SSE Content-Type = %q", ct)
			}
			waitSubscribers(t, e, 1)
			id := e.sendMessage(e.adminA, convA, "SSE 消息")
			ev := s.next(t)
			if ev.Event != "next" {
				t.Fatalf("SSE event %q (%s), want next", ev.Event, ev.Data)
			}
			var p struct {
				Data   map[string]any `json:"data"`
				Errors []gqlError     `json:"errors"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &p); err != nil || len(p.Errors) > 0 {
				t.Fatalf("SSE data %s: %v", ev.Data, err)
			}
			if got := str(p.Data, "messageAdded", "id"); got != id {
				t.Errorf("SSE messageAdded.id = %q, want %q", got, id)
			}
			if got := str(p.Data, "messageAdded", "text"); got != "SSE 消息" {
				t.Errorf("SSE messageAdded.text = %q", got)
			}
		})

		// Last: closing the hub ends every subscription, so nothing may
		// subscribe after this in this env.
		t.Run("hubClose", func(t *testing.T) {
			e := e.withT(t)
			ws := openWS(t, e, protoTransportWS, e.adminA)
			wsSub := ws.subscribe(t, subMessages, map[string]any{"c": convA})
			legacy := openWS(t, e, protoLegacyWS, e.adminA)
			legacySub := legacy.subscribe(t, subTickets, nil)
			sse := openSSE(t, e, e.adminA, subMessages, nil)
			waitSubscribers(t, e, 3)

			e.hub.Close()

			wsSub.expectComplete(t)
			legacySub.expectComplete(t)
			if ev := sse.next(t); ev.Event != "complete" {
				t.Errorf("SSE got %q (%s) after hub.Close, want complete", ev.Event, ev.Data)
			}
			select {
			case <-sse.done:
				if sse.err != nil {
					t.Errorf("SSE stream ended with %v", sse.err)
				}
			case <-time.After(eventWait):
				t.Errorf("SSE stream still open after complete")
			}
			// The sockets stay open; a new subscription ends at once.
			again := ws.subscribe(t, subMessages, nil)
			again.expectComplete(t)
		})
	})
}
