package email

import (
	"bytes"
	"errors"
	"mime"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// readSent parses a sent email with go-message, as a mail client would.
func readSent(t *testing.T, data []byte) (mail.Header, *Parsed) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	h := mr.Header
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// rawHeader is the header block as sent, for checking its encoding.
func rawHeader(data []byte) string {
	s := string(data)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func TestSendReply(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	text := "您好，退款已原路退回，预计 1–3 个工作日到账。\nA long line that goes on and on so that quoted-printable has to wrap it somewhere past seventy-six characters = fine.\n\n客服 小王"
	res, err := c.SendReply(testContext(t), "赵六 <zhaoliu@example.cn>", "退款进度："+strings.Repeat("说明", 30), "<reply-zh-1@example.cn>",
		[]string{"kefuhub-out-3@shop.example"}, text, "msg-TWVzc2FnZToxMjM")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != "msg-TWVzc2FnZToxMjM.kefuhub@shop.example" {
		t.Errorf("ExternalID = %q", res.ExternalID)
	}
	sent := srv.Sent()
	if len(sent) != 1 || sent[0].From != "support@shop.example" || len(sent[0].To) != 1 || sent[0].To[0] != "zhaoliu@example.cn" {
		t.Fatalf("sent %+v", sent)
	}
	h, p := readSent(t, sent[0].Data)
	raw := rawHeader(sent[0].Data)

	if subj, _ := h.Subject(); subj != "Re: 退款进度："+strings.Repeat("说明", 30) {
		t.Errorf("Subject = %q", subj)
	}
	if !strings.Contains(raw, "Subject: =?UTF-8?B?") || strings.Contains(raw, "退款") {
		t.Errorf("subject not sent as encoded-words:\n%s", raw)
	}
	if id, _ := h.MessageID(); id != res.ExternalID {
		t.Errorf("Message-ID %q, ExternalID %q", id, res.ExternalID)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "reply-zh-1@example.cn" {
		t.Errorf("In-Reply-To = %v", irt)
	}
	if refs, _ := h.MsgIDList("References"); strings.Join(refs, " ") != "kefuhub-out-3@shop.example reply-zh-1@example.cn" {
		t.Errorf("References = %v", refs)
	}
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	if len(from) != 1 || from[0].Name != "客服中心" || from[0].Address != "support@shop.example" ||
		len(to) != 1 || to[0].Name != "赵六" || to[0].Address != "zhaoliu@example.cn" {
		t.Errorf("From %v To %v", from, to)
	}
	if d, err := h.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("Date = %v, %v", d, err)
	}
	if ct, params, _ := h.ContentType(); ct != "text/plain" || strings.ToLower(params["charset"]) != "utf-8" ||
		h.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("Content-Type %s %v, CTE %q", ct, params, h.Get("Content-Transfer-Encoding"))
	}
	if p.Text != text {
		t.Errorf("body decodes to %q, want %q", p.Text, text)
	}
	for _, line := range strings.Split(string(sent[0].Data), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78: %q", line)
		}
		for _, b := range []byte(line) {
			if b >= 0x80 {
				t.Fatalf("8-bit byte in %q", line)
			}
		}
	}

	// A retry of the same delivery is the same email; another delivery is not.
	again, err := c.SendReply(testContext(t), "zhaoliu@example.cn", "退款进度", "", nil, text, "msg-TWVzc2FnZToxMjM")
	if err != nil || again.ExternalID != res.ExternalID {
		t.Errorf("retry ExternalID %q (%v), want %q", again.ExternalID, err, res.ExternalID)
	}
	other, _ := c.SendReply(testContext(t), "zhaoliu@example.cn", "退款进度", "", nil, text, "msg-other")
	if other.ExternalID == res.ExternalID {
		t.Error("two deliveries share a Message-ID")
	}
	sent = srv.Sent()
	if h2, _ := readSent(t, sent[1].Data); h2.Get("In-Reply-To") != "" || h2.Get("References") != "" {
		t.Errorf("reply without parent has thread headers: %q %q", h2.Get("In-Reply-To"), h2.Get("References"))
	}
	h1 := mustHeader(t, sent[1].Data)
	if id, _ := h1.MessageID(); id != res.ExternalID {
		t.Errorf("retried email has another Message-ID: %q", id)
	}
}

func mustHeader(t *testing.T, data []byte) (h mail.Header) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return mr.Header
}

func TestSend(t *testing.T) {
	srv := startServer(t)
	c := newChannel(t, srv.Settings(testFrom))
	res, err := c.Send(testContext(t), connectors.OutboundMessage{
		DeliveryID: "msg-abc", Recipient: "Customer@Example.com",
		Text:        "Your parcel is on its way.\nRegards",
		Attachments: []models.Attachment{{Name: "label.pdf", URL: "https://files.example/label.pdf"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := srv.Sent()
	if len(sent) != 1 || sent[0].To[0] != "Customer@Example.com" {
		t.Fatalf("sent %+v", sent)
	}
	h, p := readSent(t, sent[0].Data)
	if s, _ := h.Subject(); s != "Your parcel is on its way." {
		t.Errorf("Subject without thread = %q", s)
	}
	if p.Text != "Your parcel is on its way.\nRegards\n\nlabel.pdf: https://files.example/label.pdf" {
		t.Errorf("Text = %q", p.Text)
	}
	if res.ExternalID != "msg-abc.kefuhub@shop.example" {
		t.Errorf("ExternalID = %q", res.ExternalID)
	}
}

func TestSendErrors(t *testing.T) {
	srv := startServer(t)
	srv.RejectRecipient("gone@example.com", 550, "5.1.1 no such user")
	srv.RejectRecipient("full@example.com", 452, "4.2.2 mailbox full")
	tests := []struct {
		name      string
		to        string
		settings  func(map[string]string)
		before    func()
		permanent bool
		mention   string
	}{
		{name: "unknown recipient (5xx)", to: "gone@example.com", permanent: true, mention: "no such user"},
		{name: "mailbox full (4xx)", to: "full@example.com", mention: "mailbox full"},
		{name: "DATA refused for now (4xx)", to: "ok@example.com", before: func() { srv.FailNextData(451, "try later") }, mention: "try later"},
		{name: "DATA refused (5xx)", to: "ok@example.com", before: func() { srv.FailNextData(554, "spam") }, permanent: true, mention: "spam"},
		{name: "not an address", to: "just a name", permanent: true},
		{name: "wrong password", to: "ok@example.com", settings: func(s map[string]string) { s["password"] = "bad" }, permanent: true, mention: "refused the login"},
		{name: "server unreachable", to: "ok@example.com", settings: func(s map[string]string) { s["smtpAddr"] = "127.0.0.1:1" }, mention: "cannot connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv.Settings(testFrom)
			if tt.settings != nil {
				tt.settings(s)
			}
			if tt.before != nil {
				tt.before()
			}
			_, err := newChannel(t, s).Send(testContext(t), connectors.OutboundMessage{DeliveryID: "d1", Recipient: tt.to, Text: "hi"})
			var perm *connectors.PermanentError
			var retry *connectors.RetryableError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.permanent && !errors.As(err, &perm):
				t.Fatalf("err = %T %v, want PermanentError", err, err)
			case !tt.permanent && !errors.As(err, &retry):
				t.Fatalf("err = %T %v, want RetryableError", err, err)
			case !strings.Contains(err.Error(), tt.mention):
				t.Fatalf("err = %v, want it to mention %q", err, tt.mention)
			}
		})
	}
	if n := len(srv.Sent()); n != 0 {
		t.Errorf("%d emails accepted", n)
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ subject, text, want string }{
		{"Order 123", "", "Re: Order 123"},
		{"Re: Order 123", "", "Re: Order 123"},
		{"RE: Order 123", "", "RE: Order 123"},
		{"回复：退款", "", "回复：退款"},
		{"  spaced\r\n  subject ", "", "Re: spaced subject"},
		{"", "\n\nFirst line\nsecond", "First line"},
		{"", strings.Repeat("长", 70), strings.Repeat("长", 60) + "…"},
		{"", "", "Re:"},
	}
	for _, tt := range tests {
		if got := replySubject(tt.subject, tt.text); got != tt.want {
			t.Errorf("replySubject(%q, %q) = %q, want %q", tt.subject, tt.text, got, tt.want)
		}
	}
}

func TestEncodeSubject(t *testing.T) {
	dec := new(mime.WordDecoder)
	for _, s := range []string{
		"Re: Order 123",
		"Re: 退款进度",
		"Re: " + strings.Repeat("关于您的订单", 12) + " 😀 end",
		"=?UTF-8?B?looks-encoded?=",
	} {
		enc := encodeSubject(s)
		if got, err := dec.DecodeHeader(enc); err != nil || got != s {
			t.Errorf("encodeSubject(%q) = %q decodes to %q, %v", s, enc, got, err)
		}
		for _, w := range strings.Fields(enc) {
			if len(w) > 60 && enc != s {
				t.Errorf("encoded-word of %d characters: %q", len(w), w)
			}
		}
		if s == "Re: Order 123" && enc != s {
			t.Errorf("ASCII subject encoded: %q", enc)
		}
	}
}

func TestMessageIDFor(t *testing.T) {
	if a, b := MessageIDFor("msg-1", "shop.example"), MessageIDFor("msg-1", "shop.example"); a != b || a != "msg-1.kefuhub@shop.example" {
		t.Errorf("not stable: %q %q", a, b)
	}
	odd := MessageIDFor("has space<>", "shop.example")
	if odd != MessageIDFor("has space<>", "shop.example") || strings.ContainsAny(odd, " <>") || !strings.HasSuffix(odd, ".kefuhub@shop.example") {
		t.Errorf("odd delivery id gave %q", odd)
	}
	if id := MessageIDFor("msg-1", "例子.中国"); id != "msg-1.kefuhub@kefuhub.invalid" {
		t.Errorf("non-ASCII domain gave %q", id)
	}
	if a, b := MessageIDFor("", "x.example"), MessageIDFor("", "x.example"); a == b || !strings.HasSuffix(a, "@x.example") {
		t.Errorf("empty delivery ids gave %q and %q", a, b)
	}
}

func TestThreadRefs(t *testing.T) {
	many := make([]string, 30)
	for i := range many {
		many[i] = "r" + string(rune('a'+i%26)) + string(rune('0'+i/26)) + "@x"
	}
	got := threadRefs(many, "parent@x")
	if len(got) != 20 || got[0] != many[0] || got[19] != "parent@x" {
		t.Errorf("threadRefs kept %d: %v", len(got), got)
	}
	if got := threadRefs([]string{"<a@x>", "a@x", "bad id@x", ""}, "<a@x>"); strings.Join(got, ",") != "a@x" {
		t.Errorf("threadRefs = %v", got)
	}
}
