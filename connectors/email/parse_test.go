package email

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/kefuhub/kefuhub/models"
)

func TestParseGolden(t *testing.T) {
	tests := []struct {
		file        string
		messageID   string
		inReplyTo   string
		references  []string
		subject     string
		fromName    string
		fromAddress string
		date        time.Time
		text        string // whole Text, when set
		reply       string
		fromHTML    bool
		attachments []models.Attachment
	}{
		{
			file: "gbk.eml", messageID: "gbk-1@mail.example.cn", subject: "订单没有收到",
			fromName: "张三", fromAddress: "zhang.san@example.cn",
			date:  time.Date(2024, 12, 2, 2, 0, 0, 0, time.UTC),
			reply: "你好，我的订单还没有收到，请帮忙查一下。\n订单号：20241202001",
		},
		{
			file: "gb2312.eml", messageID: "gb2312-1@mail.example.cn", subject: "发票 抬头错误",
			fromName: "李四", fromAddress: "lisi@example.cn",
			date:  time.Date(2024, 12, 3, 1, 30, 0, 0, time.UTC),
			reply: "您好，发票抬头应该是“张喆的公司”，麻烦重开。",
		},
		{
			file: "gb18030.eml", messageID: "gb18030-1@mail.example.cn", subject: "𠮷野家的优惠券😀",
			fromName: "王五", fromAddress: "wangwu@example.cn",
			date:  time.Date(2024, 12, 4, 4, 0, 0, 0, time.UTC),
			reply: "优惠券在𠮷野家不能用😀，怎么办？",
		},
		{
			file: "big5.eml", messageID: "big5-1@mail.example.tw", subject: "請問退貨流程",
			fromName: "陳大文", fromAddress: "chan@example.tw",
			date:  time.Date(2024, 12, 5, 7, 0, 0, 0, time.UTC),
			reply: "您好，請問退貨流程是什麼？謝謝！",
		},
		{
			file: "alternative_attachment.eml", messageID: "alt-1@example.com", subject: "Invoice for order 42",
			fromName: "Alice Wong", fromAddress: "alice@example.com",
			date:        time.Date(2024, 12, 6, 8, 0, 0, 0, time.UTC),
			reply:       "Hello, the invoice is attached. Total €42.",
			attachments: []models.Attachment{{Name: "发票.pdf", MimeType: "application/pdf", Size: 1400}},
		},
		{
			file: "html_only.eml", messageID: "html-1@example.com", inReplyTo: "kefuhub-out-1@shop.example",
			subject: "Re: Shipping", fromName: "Bob", fromAddress: "bob@example.com",
			date: time.Date(2024, 12, 7, 11, 0, 0, 0, time.UTC), fromHTML: true,
			text: "Thanks, it arrived!\nBob\n\nOn Fri, Dec 6, 2024 at 9:00 AM Support <support@shop.example> wrote:\n" +
				"> Your parcel ships today.\n> Tracking: 1Z999",
			reply: "Thanks, it arrived!\nBob",
		},
		{
			file: "reply_en.eml", messageID: "reply-en-1@example.com", inReplyTo: "kefuhub-out-2@shop.example",
			references: []string{"first-1@example.com", "kefuhub-out-2@shop.example"},
			subject:    "Re: Order 123 delayed", fromName: "Carol Smith", fromAddress: "carol@example.com",
			date:  time.Date(2024, 12, 8, 23, 20, 0, 0, time.UTC),
			reply: "Any news? It has been a week.",
		},
		{
			file: "reply_zh.eml", messageID: "reply-zh-1@example.cn", inReplyTo: "kefuhub-out-3@shop.example",
			references: []string{"kefuhub-out-3@shop.example"},
			subject:    "回复：退款进度", fromName: "赵六", fromAddress: "zhaoliu@example.cn",
			date:  time.Date(2024, 12, 9, 1, 0, 0, 0, time.UTC),
			reply: "好的，收到退款了，谢谢！",
		},
		{
			file: "reply_qq.eml", messageID: "tencent_ABC123@qq.com", inReplyTo: "kefuhub-out-4@shop.example",
			subject: "回复：尺码问题", fromName: "孙七", fromAddress: "12345@qq.com",
			date:  time.Date(2024, 12, 10, 12, 0, 0, 0, time.UTC),
			reply: "那我换大一号。",
		},
		{
			file: "signature.eml", subject: "Password reset", fromAddress: "dave@example.org",
			date:  time.Date(2024, 12, 11, 7, 0, 0, 0, time.UTC),
			text:  "I cannot reset my password.\n\n-- \nDave Miller\nExample Org | +1 555 0100",
			reply: "I cannot reset my password.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := golden(t, tt.file)
			p, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			check := func(field string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", field, got, want)
				}
			}
			check("MessageID", p.MessageID, tt.messageID)
			check("InReplyTo", p.InReplyTo, tt.inReplyTo)
			check("References", p.References, tt.references)
			check("Subject", p.Subject, tt.subject)
			check("FromName", p.FromName, tt.fromName)
			check("FromAddress", p.FromAddress, tt.fromAddress)
			check("Date", p.Date, tt.date)
			check("Reply", p.Reply, tt.reply)
			check("FromHTML", p.FromHTML, tt.fromHTML)
			check("Attachments", p.Attachments, tt.attachments)
			if tt.text != "" {
				check("Text", p.Text, tt.text)
			}
			if p.MessageID == "" {
				if id := p.ExternalID(raw); !strings.HasPrefix(id, "sha256:") || id != p.ExternalID(append([]byte(nil), raw...)) {
					t.Errorf("ExternalID without Message-ID = %q, want a stable sha256 hash", id)
				}
			} else if id := p.ExternalID(raw); id != p.MessageID {
				t.Errorf("ExternalID = %q, want the Message-ID", id)
			}
		})
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, p *Parsed)
	}{
		{
			name: "raw GBK bytes in headers and an unlabelled GBK body",
			raw: "From: " + string(encodeGBK(t, "客户")) + " <kh@example.cn>\r\nSubject: " + string(encodeGBK(t, "你好")) +
				"\r\n\r\n" + string(encodeGBK(t, "正文内容")) + "\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.Subject != "你好" || p.FromName != "客户" || p.FromAddress != "kh@example.cn" || p.Text != "正文内容" {
					t.Errorf("got subject %q from %q <%s> text %q", p.Subject, p.FromName, p.FromAddress, p.Text)
				}
			},
		},
		{
			name: "unknown charset is read as is",
			raw:  "From: a@example.com\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nplain ascii\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.Text != "plain ascii" {
					t.Errorf("Text = %q", p.Text)
				}
			},
		},
		{
			name: "malformed From still yields the address",
			raw:  "From: Some One <some.one@example.com\r\n\r\nhi\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.FromAddress != "some.one@example.com" {
					t.Errorf("FromAddress = %q", p.FromAddress)
				}
			},
		},
		{
			name: "Message-ID without angle brackets",
			raw:  "From: a@example.com\r\nMessage-ID: bare-id@example.com\r\n\r\nhi\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.MessageID != "bare-id@example.com" {
					t.Errorf("MessageID = %q", p.MessageID)
				}
			},
		},
		{
			name: "multipart/related: html body and an inline image",
			raw: "From: a@example.com\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n" +
				"<p>See <img src=\"cid:x\"> screenshot</p>\r\n--b\r\nContent-Type: image/png\r\nContent-ID: <x>\r\n" +
				"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.Text != "See screenshot" || !p.FromHTML {
					t.Errorf("Text = %q", p.Text)
				}
				if len(p.Attachments) != 1 || p.Attachments[0].MimeType != "image/png" || p.Attachments[0].Size != 8 ||
					!strings.HasPrefix(p.Attachments[0].Name, "attachment-1.") {
					t.Errorf("Attachments = %+v", p.Attachments)
				}
			},
		},
		{
			name: "an empty text/plain alternative falls back to the HTML one",
			raw: "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n \r\n" +
				"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Real&nbsp;text</div>\r\n--b--\r\n",
			check: func(t *testing.T, p *Parsed) {
				if p.Text != "Real text" || !p.FromHTML {
					t.Errorf("Text = %q (from HTML %v)", p.Text, p.FromHTML)
				}
			},
		},
		{
			name: "subject-only mail",
			raw:  "From: a@example.com\r\nSubject: Where is my parcel?\r\n\r\n",
			check: func(t *testing.T, p *Parsed) {
				ev := eventFrom(p, nil, time.Time{})
				if ev.Text != "Where is my parcel?" {
					t.Errorf("event Text = %q", ev.Text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"\x00\x01 not a header\r\n\r\n", "no colon here\r\n\r\nbody"} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("Parse(%q) succeeded", raw)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>Hello&nbsp;<b>world</b></p><p>Second</p>", "Hello world\nSecond"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<script>x()</script><style>.a{}</style>Text<!-- hidden -->", "Text"},
		{"<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
		{"Reply<blockquote>old<blockquote>older</blockquote></blockquote>", "Reply\n> old\n> > older"},
		{"<pre>  keep\n  spaces</pre>", "  keep\n  spaces"},
		{"&lt;tag&gt; &amp; &#20320;&#22909;", "<tag> & 你好"},
		{"<p class=MsoNormal>Office<o:p></o:p></p>", "Office"},
		{"unclosed <b", "unclosed"},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func encodeGBK(t testing.TB, s string) []byte { return encode(t, simplifiedchinese.GBK, s) }
