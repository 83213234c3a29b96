package email

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/email/emailtest"
)

func deliver(t *testing.T, srv *emailtest.Server, raws ...[]byte) {
	t.Helper()
	for _, raw := range raws {
		if err := srv.Deliver(raw); err != nil {
			t.Fatal(err)
		}
	}
}

func simpleMail(from, id, body string) []byte {
	return []byte("From: " + from + "\r\nTo: support@shop.example\r\nSubject: test " + id +
		"\r\nMessage-ID: <" + id + "@example.com>\r\nDate: Thu, 12 Dec 2024 09:00:00 +0000\r\n\r\n" + body + "\r\n")
}

func mustSync(t *testing.T, c *channel, cursor string) *connectors.SyncResult {
	t.Helper()
	res, err := c.Sync(testContext(t), cursor, connectors.SyncHint{Key: "INBOX"})
	if err != nil {
		t.Fatalf("Sync(%q): %v", cursor, err)
	}
	return res
}

func externalIDs(evs []connectors.InboundEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ExternalID
	}
	return out
}

func TestSync(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	deliver(t, srv, golden(t, "gbk.eml"), golden(t, "reply_en.eml"), golden(t, "alternative_attachment.eml"))

	// From the beginning: three events in mailbox order.
	res := mustSync(t, c, "")
	if got, want := externalIDs(res.Events), []string{"gbk-1@mail.example.cn", "reply-en-1@example.com", "alt-1@example.com"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	cur, err := ParseCursor(res.Cursor)
	if err != nil || cur.UIDValidity == 0 || cur.UID != 3 || res.More {
		t.Fatalf("cursor %q (%v), More %v; want <validity>:3, no more", res.Cursor, err, res.More)
	}

	// The events carry what the hub threads and attributes on.
	gbk := res.Events[0]
	if gbk.Kind != connectors.KindMessage || gbk.ContentType != "text/plain" ||
		gbk.Sender != (connectors.Sender{ExternalID: "zhang.san@example.cn", DisplayName: "张三", Email: "zhang.san@example.cn"}) ||
		gbk.Text != "你好，我的订单还没有收到，请帮忙查一下。\n订单号：20241202001" ||
		!gbk.SentAt.Equal(time.Date(2024, 12, 2, 2, 0, 0, 0, time.UTC)) || string(gbk.Raw) != string(golden(t, "gbk.eml")) {
		t.Errorf("gbk event = %+v", gbk)
	}
	wantCtx := map[string]any{
		"messageId": "reply-en-1@example.com", "inReplyTo": "kefuhub-out-2@shop.example",
		"references": []string{"first-1@example.com", "kefuhub-out-2@shop.example"}, "subject": "Re: Order 123 delayed",
	}
	if en := res.Events[1]; !reflect.DeepEqual(en.Context, wantCtx) || en.Text != "Any news? It has been a week." {
		t.Errorf("reply event context %#v text %q", en.Context, en.Text)
	}
	if refs := gbk.Context["references"]; refs == nil || len(refs.([]string)) != 0 {
		t.Errorf("references without References header = %#v, want an empty list", refs)
	}
	if att := res.Events[2].Attachments; len(att) != 1 || att[0].Name != "发票.pdf" || att[0].Size != 1400 {
		t.Errorf("attachments %+v", att)
	}

	// Nothing new: no events, same cursor.
	if again := mustSync(t, c, res.Cursor); len(again.Events) != 0 || again.Cursor != res.Cursor || again.More {
		t.Fatalf("idle sync = %+v", again)
	}

	// One more mail: only it.
	deliver(t, srv, golden(t, "big5.eml"))
	res2 := mustSync(t, c, res.Cursor)
	if got := externalIDs(res2.Events); !reflect.DeepEqual(got, []string{"big5-1@mail.example.tw"}) {
		t.Fatalf("events after cursor %v", got)
	}
	if want := fmt.Sprintf("%d:4", cur.UIDValidity); res2.Cursor != want {
		t.Fatalf("cursor %q, want %q", res2.Cursor, want)
	}

	// Server down: an error and no result, so the hub keeps its cursor.
	deliver(t, srv, golden(t, "reply_zh.eml"))
	srv.StopIMAP()
	if r, err := c.Sync(testContext(t), res2.Cursor, connectors.SyncHint{Key: "INBOX"}); err == nil || r != nil {
		t.Fatalf("Sync with the server down = %+v, %v; want an error", r, err)
	}
}

func TestSyncPages(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	const n = 120
	for i := range n {
		deliver(t, srv, simpleMail(fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("m%03d", i), "hello"))
	}
	var ids []string
	cursor, pages := "", 0
	for {
		res := mustSync(t, c, cursor)
		pages++
		if len(res.Events) > batchSize {
			t.Fatalf("page of %d events", len(res.Events))
		}
		ids = append(ids, externalIDs(res.Events)...)
		cursor = res.Cursor
		if !res.More {
			break
		}
		if pages > 10 {
			t.Fatal("More never ends")
		}
	}
	if pages != 3 || len(ids) != n {
		t.Fatalf("%d pages, %d events; want 3 pages, %d events", pages, len(ids), n)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("m%03d@example.com", i); id != want {
			t.Fatalf("event %d = %s, want %s (UID order)", i, id, want)
		}
	}
}

func TestPage(t *testing.T) {
	msgs := func(sizes ...int64) []pendingMsg {
		out := make([]pendingMsg, len(sizes))
		for i, s := range sizes {
			out[i] = pendingMsg{uid: imap.UID(i + 1), size: s}
		}
		return out
	}
	tests := []struct {
		name     string
		pending  []pendingMsg
		wantLen  int
		wantMore bool
	}{
		{"small", msgs(1, 2, 3), 3, false},
		{"count cap", msgs(make([]int64, 60)...), batchSize, true},
		{"byte cap", msgs(20<<20, 20<<20, 1), 1, true},
		{"one huge message is a page", msgs(100<<20, 1), 1, true},
	}
	for _, tt := range tests {
		b, more := page(tt.pending)
		if len(b) != tt.wantLen || more != tt.wantMore {
			t.Errorf("%s: page = %d, more %v; want %d, %v", tt.name, len(b), more, tt.wantLen, tt.wantMore)
		}
	}
}

func TestSyncUIDValidityChange(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	deliver(t, srv, simpleMail("a@example.com", "old1", "x"), simpleMail("b@example.com", "old2", "y"))
	res := mustSync(t, c, "")
	old, _ := ParseCursor(res.Cursor)

	// The server rebuilds the mailbox: new UIDVALIDITY, UIDs from 1, and
	// it holds an old message again plus a new one.
	if err := srv.RecreateInbox(); err != nil {
		t.Fatal(err)
	}
	deliver(t, srv, simpleMail("b@example.com", "old2", "y"), simpleMail("c@example.com", "new1", "z"))
	res2 := mustSync(t, c, res.Cursor)
	cur, _ := ParseCursor(res2.Cursor)
	if cur.UIDValidity == old.UIDValidity || cur.UID != 2 {
		t.Fatalf("cursor %q after UIDVALIDITY change (was %q)", res2.Cursor, res.Cursor)
	}
	// Everything in the mailbox again; the hub drops old2 as a duplicate
	// ExternalID, and new1 is not skipped.
	if got := externalIDs(res2.Events); !reflect.DeepEqual(got, []string{"old2@example.com", "new1@example.com"}) {
		t.Fatalf("events %v", got)
	}
}

func TestSyncSkips(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	deliver(t, srv,
		simpleMail("Support <SUPPORT@shop.example>", "own", "our own reply, Bcc'd"),
		[]byte("Subject: no sender\r\n\r\nwho?\r\n"),
		simpleMail("d@example.com", "real", "hi"),
	)
	res := mustSync(t, c, "")
	if got := externalIDs(res.Events); !reflect.DeepEqual(got, []string{"real@example.com"}) {
		t.Fatalf("events %v, want only the customer's", got)
	}
	if cur, _ := ParseCursor(res.Cursor); cur.UID != 3 {
		t.Fatalf("cursor %q should pass the skipped messages", res.Cursor)
	}
}

func TestSyncLargeMessageKeepsHeaderOnly(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	big := "From: e@example.com\r\nMessage-ID: <big@example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.Repeat(strings.Repeat("A", 76)+"\r\n", (maxRawKeep/76)+100) + "--b--\r\n"
	deliver(t, srv, []byte(big))
	res := mustSync(t, c, "")
	if len(res.Events) != 1 {
		t.Fatalf("%d events", len(res.Events))
	}
	ev := res.Events[0]
	if len(ev.Raw) > 200 || !strings.HasPrefix(string(ev.Raw), "From: e@example.com") || ev.Text != "see file" ||
		len(ev.Attachments) != 1 || ev.Attachments[0].Size < maxRawKeep*3/4 {
		t.Errorf("raw %d bytes, text %q, attachments %+v", len(ev.Raw), ev.Text, ev.Attachments)
	}
}

func TestSyncErrors(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	if _, err := c.Sync(testContext(t), "garbage", connectors.SyncHint{}); err == nil {
		t.Error("malformed cursor accepted")
	}
	if _, err := c.Sync(testContext(t), "", connectors.SyncHint{Key: "NoSuchBox"}); err == nil {
		t.Error("missing mailbox accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Sync(ctx, "", connectors.SyncHint{}); err == nil {
		t.Error("cancelled context: no error")
	}
	bad := srv.Settings(testFrom)
	bad["password"] = "nope"
	if _, err := newChannel(t, bad).Sync(testContext(t), "", connectors.SyncHint{}); err == nil || !strings.Contains(err.Error(), "refused the login") {
		t.Errorf("wrong password: %v", err)
	}
}

func TestSyncIdle(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	res := mustSync(t, c, "")

	// Nothing arrives: the wait is bounded.
	c.idleWait = 300 * time.Millisecond
	start := time.Now()
	if r := mustSync(t, c, res.Cursor); len(r.Events) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("idle sync returned %d events after %v", len(r.Events), time.Since(start))
	}

	// A mail arriving during IDLE is returned at once.
	c.idleWait = 10 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = srv.Deliver(simpleMail("f@example.com", "pushed", "hi"))
	}()
	start = time.Now()
	r := mustSync(t, c, res.Cursor)
	if got := externalIDs(r.Events); !reflect.DeepEqual(got, []string{"pushed@example.com"}) || time.Since(start) > 5*time.Second {
		t.Fatalf("events %v after %v", got, time.Since(start))
	}

	// The caller's deadline bounds the wait: it ends in time, without error.
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.Sync(ctx, r.Cursor, connectors.SyncHint{}); err != nil || time.Since(start) > 600*time.Millisecond {
		t.Fatalf("Sync under a deadline: err %v after %v", err, time.Since(start))
	}

	// Cancelling ends it too, with the context's error.
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	start = time.Now()
	if _, err := c.Sync(ctx, r.Cursor, connectors.SyncHint{}); !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled Sync: err %v after %v", err, time.Since(start))
	}
}

func TestSyncBackfillWindow(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	old := testNow.Add(-30 * 24 * time.Hour)
	if err := srv.DeliverAt(simpleMail("a@example.com", "ancient", "x"), old); err != nil {
		t.Fatal(err)
	}
	// Only old mail: start after it.
	res := mustSync(t, c, "")
	if cur, _ := ParseCursor(res.Cursor); len(res.Events) != 0 || cur.UID != 1 {
		t.Fatalf("only old mail: %d events, cursor %q", len(res.Events), res.Cursor)
	}
	// Old and recent mail: the recent ones, and later ones.
	if err := srv.DeliverAt(simpleMail("b@example.com", "old-too", "x"), old); err != nil {
		t.Fatal(err)
	}
	deliver(t, srv, simpleMail("c@example.com", "recent1", "x"), simpleMail("d@example.com", "recent2", "x"))
	res = mustSync(t, c, "")
	if got := externalIDs(res.Events); !reflect.DeepEqual(got, []string{"recent1@example.com", "recent2@example.com"}) {
		t.Fatalf("first sync of a mailbox with history: %v", got)
	}
	// With a cursor, age does not matter: everything after it comes.
	if err := srv.DeliverAt(simpleMail("e@example.com", "moved-in", "x"), old); err != nil {
		t.Fatal(err)
	}
	if got := externalIDs(mustSync(t, c, res.Cursor).Events); !reflect.DeepEqual(got, []string{"moved-in@example.com"}) {
		t.Fatalf("after cursor: %v", got)
	}
}

func TestCursor(t *testing.T) {
	tests := []struct {
		in   string
		want Cursor
		ok   bool
	}{
		{"", Cursor{}, true},
		{"7:42", Cursor{UIDValidity: 7, UID: 42}, true},
		{"4294967295:4294967295", Cursor{UIDValidity: 4294967295, UID: 4294967295}, true},
		{"7", Cursor{}, false},
		{"7:", Cursor{}, false},
		{"x:1", Cursor{}, false},
		{"1:4294967296", Cursor{}, false},
		{"-1:2", Cursor{}, false},
	}
	for _, tt := range tests {
		got, err := ParseCursor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseCursor(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && tt.in != "" && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}
