package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/kefuhub/kefuhub/connectors"
)

// Replier is implemented by EMAIL channels. connectors.OutboundMessage has
// no thread fields yet, so Send replies without them; a caller that knows
// the conversation's last inbound email (its Context) should call SendReply
// to thread the reply in the customer's mail client.
type Replier interface {
	// SendReply mails text to the address to, as a reply to the message
	// inReplyTo (a Message-ID, with or without angle brackets) whose own
	// References were references. subject is the original subject ("Re: "
	// is added). The Message-ID of the email is derived from deliveryID,
	// so a retried delivery sends the same email; it is returned (without
	// angle brackets) as the result's ExternalID.
	SendReply(ctx context.Context, to, subject, inReplyTo string, references []string, text, deliveryID string) (connectors.SendResult, error)
}

// Send mails an agent's reply to the customer's address (msg.Recipient).
// Attachments are listed as links under the text.
func (c *channel) Send(ctx context.Context, msg connectors.OutboundMessage) (connectors.SendResult, error) {
	text := msg.Text
	if len(msg.Attachments) > 0 {
		var b strings.Builder
		b.WriteString(strings.TrimRight(text, "\n"))
		b.WriteString("\n\n")
		for _, a := range msg.Attachments {
			if a.URL == "" {
				continue
			}
			fmt.Fprintf(&b, "%s: %s\n", firstNonEmpty(a.Name, "attachment"), a.URL)
		}
		text = b.String()
	}
	var subject, inReplyTo string
	var refs []string
	if r := msg.InReplyTo; r != nil {
		subject, _ = r.Metadata["subject"].(string)
		inReplyTo, _ = r.Metadata["messageId"].(string)
		if inReplyTo == "" {
			inReplyTo = r.ExternalID
		}
		switch v := r.Metadata["references"].(type) {
		case []string:
			refs = v
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					refs = append(refs, s)
				}
			}
		}
	}
	return c.SendReply(ctx, msg.Recipient, subject, inReplyTo, refs, text, msg.DeliveryID)
}

// SendReply implements Replier. SMTP 4xx answers and connection failures
// are RetryableError; 5xx answers (unknown recipient, refused login or
// sender) and an unusable recipient address are PermanentError.
func (c *channel) SendReply(ctx context.Context, to, subject, inReplyTo string, references []string, text, deliveryID string) (connectors.SendResult, error) {
	rcpt, err := mail.ParseAddress(strings.TrimSpace(to))
	if err != nil || !strings.Contains(rcpt.Address, "@") || strings.ContainsAny(rcpt.Address, "\r\n<> ") {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: fmt.Sprintf("%q is not an email address", to)}
	}
	raw, id, err := c.buildReply(rcpt, subject, inReplyTo, references, text, deliveryID)
	if err != nil {
		return connectors.SendResult{}, &connectors.PermanentError{Reason: "email: cannot build the email: " + err.Error()}
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cl, done, err := c.openSMTP(ctx, false)
	if err != nil {
		return connectors.SendResult{}, classify(err)
	}
	defer done()
	if err := cl.Mail(c.from.Address, nil); err != nil {
		return connectors.SendResult{}, classify(ctxErr(ctx, fmt.Errorf("email: MAIL FROM %s: %w", c.from.Address, err)))
	}
	if err := cl.Rcpt(rcpt.Address, nil); err != nil {
		return connectors.SendResult{}, classify(ctxErr(ctx, fmt.Errorf("email: recipient %s: %w", rcpt.Address, err)))
	}
	w, err := cl.Data()
	if err != nil {
		return connectors.SendResult{}, classify(ctxErr(ctx, fmt.Errorf("email: DATA: %w", err)))
	}
	if _, err := w.Write(raw); err != nil {
		return connectors.SendResult{}, classify(ctxErr(ctx, fmt.Errorf("email: send body: %w", err)))
	}
	if err := w.Close(); err != nil {
		return connectors.SendResult{}, classify(ctxErr(ctx, fmt.Errorf("email: the server did not take the email: %w", err)))
	}
	_ = cl.Quit()
	return connectors.SendResult{ExternalID: id}, nil
}

// classify maps a send failure: an SMTP 5xx answer or a refused login is
// final, anything else (4xx, network, timeouts) may pass later.
func classify(err error) error {
	var le *LoginError
	if errors.As(err, &le) {
		return &connectors.PermanentError{Reason: le.Error()}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch se.Code / 100 {
		case 5:
			return &connectors.PermanentError{Reason: err.Error()}
		case 4:
			return &connectors.RetryableError{Err: err}
		}
	}
	return &connectors.RetryableError{Err: err}
}

// buildReply writes the email: From the channel's address, To rcpt, a
// "Re:" subject (encoded-words when not ASCII), In-Reply-To and References
// when replying, the Message-ID of deliveryID, and the text as UTF-8
// quoted-printable text/plain.
func (c *channel) buildReply(rcpt *mail.Address, subject, inReplyTo string, references []string, text, deliveryID string) ([]byte, string, error) {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{c.from})
	h.SetAddressList("To", []*mail.Address{rcpt})
	h.SetDate(c.now())
	h.Set("Subject", encodeSubject(replySubject(subject, text)))
	id := MessageIDFor(deliveryID, domainOf(c.from.Address))
	h.SetMessageID(id)
	if parent := cleanMsgID(inReplyTo); parent != "" {
		h.SetMsgIDList("In-Reply-To", []string{parent})
		h.SetMsgIDList("References", threadRefs(references, parent))
	} else if refs := threadRefs(references, ""); len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")

	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, "", err
	}
	body := tidyText(text)
	if body != "" {
		body += "\n"
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), id, nil
}

// MessageIDFor is the Message-ID (without angle brackets) of the email of
// a delivery: "<deliveryID>.kefuhub@<domain>". A delivery id that is not
// plain mail-id text, or is long, is replaced by a hash of it; an empty one
// gets a random id (there is nothing to keep stable).
func MessageIDFor(deliveryID, domain string) string {
	if !isDotAtom(domain) {
		domain = "kefuhub.invalid"
	}
	id := deliveryID
	if id == "" {
		var h mail.Header
		if err := h.GenerateMessageIDWithHostname(domain); err == nil {
			if gen, err := h.MessageID(); err == nil && gen != "" {
				return gen
			}
		}
		id = fmt.Sprintf("%x", time.Now().UnixNano())
	} else if !isDotAtom(id) || len(id) > 100 {
		sum := sha256.Sum256([]byte(deliveryID))
		id = hex.EncodeToString(sum[:16])
	}
	return id + ".kefuhub@" + domain
}

// replySubject is "Re: <subject>", without stacking prefixes. Without an
// original subject it is the first line of the text.
func replySubject(subject, text string) string {
	s := cleanLine(subject)
	if s == "" {
		for _, l := range strings.Split(text, "\n") {
			if l = cleanLine(l); l != "" {
				if utf8.RuneCountInString(l) > 60 {
					l = string([]rune(l)[:60]) + "…"
				}
				return l
			}
		}
		return "Re:"
	}
	lower := strings.ToLower(s)
	for _, p := range []string{"re:", "re：", "回复:", "回复：", "答复:", "答复：", "回覆:", "回覆："} {
		if strings.HasPrefix(lower, p) {
			return s
		}
	}
	return "Re: " + s
}

// encodeSubject keeps a plain ASCII subject and writes any other as RFC
// 2047 base64 encoded-words in UTF-8 (short for Chinese), each at most 60
// characters and separated by spaces, so the header folds within 78
// characters a line.
func encodeSubject(s string) string {
	if !strings.Contains(s, "=?") && mime.BEncoding.Encode("UTF-8", s) == s {
		return s
	}
	const maxChunk = 36 // bytes of text per word: 48 base64 characters
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n > 0 && n+size > maxChunk {
				break
			}
			n += size
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// cleanMsgID takes "<id>" or "id" and returns id, or "" when it cannot be
// written in a header.
func cleanMsgID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" || len(s) > 250 {
		return ""
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' {
			return ""
		}
	}
	return s
}

// threadRefs is the References of a reply: the parent's References then
// the parent itself, deduplicated, keeping the first and the last 19 when
// there are more than 20.
func threadRefs(refs []string, parent string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range append(append([]string(nil), refs...), parent) {
		if r = cleanMsgID(r); r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) > 20 {
		out = append(out[:1], out[len(out)-19:]...)
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (ASCII).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
