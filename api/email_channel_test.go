package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/email/emailtest"
)

// TestEmailChannelEndToEnd runs over real IMAP and SMTP: a customer's
// GBK-encoded email becomes a conversation, the agent's reply leaves by
// SMTP threaded to it, and the customer's answer to that reply joins the
// same conversation while a new subject starts another.
func TestEmailChannelEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		srv, err := emailtest.New("service@shop.example", "imap-password")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		settings := map[string]any{}
		for k, v := range srv.Settings("客服 <service@shop.example>") {
			settings[k] = v
		}
		d := e.must(e.adminA, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { channel { id secretKeys } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{"kind": "EMAIL", "name": "客服邮箱", "settings": settings}})
		chID := str(d, "createChannel", "channel", "id")
		d = e.must(e.adminA, `mutation($id: ID!) { testChannel(input: {id: $id}) { ok error } }`, map[string]any{"id": chID})
		if get(d, "testChannel", "ok") != true {
			t.Fatalf("testChannel: %v", d)
		}
		sync := func() {
			t.Helper()
			if _, err := e.hub.SyncChannel(context.Background(), e.channelRecord(chID), connectors.SyncHint{Key: "INBOX"}); err != nil {
				t.Fatal(err)
			}
		}

		gbkBody, _ := simplifiedchinese.GBK.NewEncoder().String("你好，我买的茶叶还没收到。\r\n订单号 20261123001\r\n")
		first := "Message-ID: <order-question-1@customer.example>\r\n" +
			"From: =?GBK?B?" + b64GBK("王小姐") + "?= <wang@customer.example>\r\n" +
			"To: service@shop.example\r\n" +
			"Subject: =?GBK?B?" + b64GBK("茶叶没收到") + "?=\r\n" +
			"Date: " + time.Now().Add(-time.Minute).Format(time.RFC1123Z) + "\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + gbkBody
		if err := srv.Deliver([]byte(first)); err != nil {
			t.Fatal(err)
		}
		sync()
		d = e.must(e.adminA, `{ conversations { totalCount nodes { id customer { name email } messages { nodes { text metadata } } } } }`, nil)
		conv := get(d, "conversations", "nodes", 0)
		if !strings.HasPrefix(str(conv, "messages", "nodes", 0, "text"), "你好，我买的茶叶还没收到。") ||
			str(conv, "customer", "name") != "王小姐" || str(conv, "customer", "email") != "wang@customer.example" {
			t.Fatalf("GBK email: %v", conv)
		}
		convID := str(conv, "id")

		reply := e.sendMessage(e.adminA, convID, "王小姐您好，已为您补发。")
		waitDelivery(t, e, reply, "SENT")
		sent := srv.Sent()
		if len(sent) != 1 {
			t.Fatalf("SMTP received %d mails, want 1", len(sent))
		}
		m, err := mail.ReadMessage(bytes.NewReader(sent[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("In-Reply-To"); got != "<order-question-1@customer.example>" {
			t.Errorf("In-Reply-To = %q", got)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if !strings.Contains(subject, "茶叶没收到") {
			t.Errorf("Subject = %q", subject)
		}
		ourID := strings.Trim(m.Header.Get("Message-ID"), "<>")

		// The customer answers our reply: same conversation. Then writes
		// about something else: a new conversation.
		answer := fmt.Sprintf("Message-ID: <order-question-2@customer.example>\r\nFrom: wang@customer.example\r\nTo: service@shop.example\r\n"+
			"Subject: Re: tea\r\nIn-Reply-To: <%s>\r\nReferences: <order-question-1@customer.example> <%s>\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n\r\n收到了，谢谢！\r\n\r\n在 2026年11月23日 写道：\r\n> 王小姐您好，已为您补发。\r\n", ourID, ourID)
		other := "Message-ID: <invoice-1@customer.example>\r\nFrom: wang@customer.example\r\nTo: service@shop.example\r\n" +
			"Subject: invoice\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n请开发票\r\n"
		for _, raw := range []string{answer, other} {
			if err := srv.Deliver([]byte(raw)); err != nil {
				t.Fatal(err)
			}
		}
		sync()
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { messages { nodes { text direction } } } } conversations { totalCount } }`, map[string]any{"id": convID})
		msgs := get(d, "node", "messages", "nodes").([]any)
		if len(msgs) != 3 || str(msgs[2], "text") != "收到了，谢谢！" {
			t.Errorf("threaded answer (quote trimmed): %v", msgs)
		}
		if get(d, "conversations", "totalCount") != float64(2) {
			t.Errorf("a new subject did not start its own conversation: %v", d)
		}
	})
}

func b64GBK(s string) string {
	enc, _ := simplifiedchinese.GBK.NewEncoder().String(s)
	return base64.StdEncoding.EncodeToString([]byte(enc))
}
