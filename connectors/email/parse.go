package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/kefuhub/kefuhub/models"
)

// Chinese charsets. go-message/charset resolves names through the IANA and
// WHATWG indexes, which get the GB family subtly wrong for mail: GB2312 in
// the wild is almost always GBK (Outlook, Foxmail and QQ Mail label GBK text
// as gb2312), and GBK text may carry GB18030 four-byte sequences. GB18030
// is a strict superset of both, so every GB label decodes with it; Big5
// labels decode with x/text's Big5 (the WHATWG variant, which includes the
// HKSCS extensions). Importing the charset package also installs
// message.CharsetReader, so bodies and RFC 2047 encoded-words (=?GBK?B?…?=)
// in headers are decoded the same way.
func init() {
	for _, name := range []string{
		"gb2312", "csgb2312", "gb_2312-80", "gb_2312", "iso-ir-58", "csiso58gb231280", "chinese",
		"euc-cn", "x-euc-cn", "gbk", "x-gbk", "cp936", "ms936", "windows-936",
		"gb18030", "gb-18030",
	} {
		charset.RegisterEncoding(name, simplifiedchinese.GB18030)
	}
	for _, name := range []string{"big5", "big-5", "csbig5", "cn-big5", "x-x-big5", "x-big5", "big5-hkscs", "cp950", "windows-950"} {
		charset.RegisterEncoding(name, traditionalchinese.Big5)
	}
}

// Limits that keep one hostile message from costing much: the body text kept
// (the hub clips messages to 20 000 characters anyway), the MIME tree walked.
const (
	maxTextBytes = 512 << 10
	maxParts     = 256
	maxDepth     = 16
)

// Parsed is an email reduced to what the hub needs.
type Parsed struct {
	// MessageID, InReplyTo and References are message ids without angle
	// brackets; they thread a conversation.
	MessageID  string
	InReplyTo  string
	References []string
	Subject    string
	// FromName is the display name; FromAddress the lower-cased address.
	FromName    string
	FromAddress string
	// Date is the Date header, zero when missing or unreadable.
	Date time.Time
	// Text is the body as plain text: the text/plain alternative when there
	// is one, else the HTML with its tags stripped.
	Text string
	// FromHTML says Text was converted from HTML.
	FromHTML bool
	// Reply is Text without quoted history and signature (see TrimReply).
	Reply string
	// Attachments lists the parts that are not body text: name, MIME type
	// and decoded size. Their bytes are not kept.
	Attachments []models.Attachment
	// AutoSubmitted is the Auto-Submitted header when it is not "no"
	// (vacation replies, bounces).
	AutoSubmitted string
}

// ErrNotMessage means the input has no readable header.
var ErrNotMessage = errors.New("email: not a MIME message")

// Parse reads a raw RFC 5322 message. It fails only when the header cannot
// be read at all; a damaged body yields what could be read. Every string it
// returns is valid UTF-8.
func Parse(raw []byte) (*Parsed, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		return nil, fmt.Errorf("%w: %v", ErrNotMessage, err)
	}
	h := mail.Header{Header: e.Header}
	hint := charsetHint(e)
	p := &Parsed{}

	p.MessageID = messageID(h)
	if ids := msgIDs(h, "In-Reply-To"); len(ids) > 0 {
		p.InReplyTo = ids[0]
	}
	p.References = msgIDs(h, "References")
	p.Subject = cleanLine(headerText(h, "Subject", hint))
	p.FromName, p.FromAddress = fromOf(h, hint)
	if d, err := h.Date(); err == nil && !d.IsZero() {
		p.Date = d.UTC()
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		p.AutoSubmitted = valid(v)
	}

	w := &walker{}
	w.walk(e, 0)
	switch {
	case hasText(w.plain):
		p.Text = strings.Join(w.plain, "\n\n")
	case hasText(w.html):
		p.Text, p.FromHTML = htmlToText(strings.Join(w.html, "\n")), true
	}
	p.Text = tidyText(p.Text)
	p.Reply = TrimReply(p.Text)
	p.Attachments = w.atts
	return p, nil
}

// ExternalID is the id the hub deduplicates the message on: its Message-ID,
// or a hash of the raw message when it has none (or one too long to store).
func (p *Parsed) ExternalID(raw []byte) string {
	if p.MessageID != "" && len(p.MessageID) <= 190 {
		return p.MessageID
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// walker collects the body text and attachments of a MIME tree.
type walker struct {
	plain, html []string
	atts        []models.Attachment
	parts       int
	textBytes   int
}

func (w *walker) walk(e *message.Entity, depth int) {
	w.parts++
	if w.parts > maxParts {
		return
	}
	mediaType, params, err := e.Header.ContentType()
	if err != nil || mediaType == "" {
		mediaType, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mediaType, "multipart/") && depth < maxDepth {
		if mr := e.MultipartReader(); mr != nil {
			if mediaType == "multipart/alternative" {
				w.alternative(mr, depth)
				return
			}
			for {
				part, err := nextPart(mr)
				if part == nil || err != nil {
					break
				}
				w.walk(part, depth+1)
				if w.parts > maxParts {
					return
				}
			}
			return
		}
	}
	w.leaf(e, mediaType, params)
}

// alternative keeps the text/plain alternative if there is one, else the
// last (richest) one with HTML; attachments of every alternative are kept
// (a pasted screenshot lives in the HTML alternative's multipart/related).
func (w *walker) alternative(mr message.MultipartReader, depth int) {
	var subs []*walker
	for {
		part, err := nextPart(mr)
		if part == nil || err != nil {
			break
		}
		sub := &walker{parts: w.parts, textBytes: w.textBytes}
		sub.walk(part, depth+1)
		w.parts, w.textBytes = sub.parts, sub.textBytes
		subs = append(subs, sub)
		if w.parts > maxParts {
			break
		}
	}
	var chosen *walker
	for _, s := range subs {
		if hasText(s.plain) {
			chosen = s
			break
		}
	}
	if chosen == nil {
		for _, s := range subs {
			if hasText(s.html) {
				chosen = s
			}
		}
	}
	if chosen != nil {
		w.plain = append(w.plain, chosen.plain...)
		w.html = append(w.html, chosen.html...)
	}
	for _, s := range subs {
		w.atts = append(w.atts, s.atts...)
	}
}

// hasText says some part has more than white space (an empty text/plain
// alternative next to the real HTML one is common).
func hasText(parts []string) bool {
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			return true
		}
	}
	return false
}

// nextPart returns the next part, tolerating parts in an unknown charset or
// transfer encoding (they are read as they are).
func nextPart(mr message.MultipartReader) (*message.Entity, error) {
	part, err := mr.NextPart()
	if err != nil && part != nil && (message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)) {
		err = nil
	}
	return part, err
}

func (w *walker) leaf(e *message.Entity, mediaType string, params map[string]string) {
	disp, _, _ := e.Header.ContentDisposition()
	ah := mail.AttachmentHeader{Header: e.Header}
	name, err := ah.Filename()
	if err != nil || name == "" {
		_, dp, _ := e.Header.ContentDisposition()
		name = firstNonEmpty(dp["filename"], params["name"])
	}
	name = cleanLine(fixRaw(name, ""))
	isText := mediaType == "text/plain" || mediaType == "text/html"
	if isText && disp != "attachment" && name == "" {
		room := maxTextBytes - w.textBytes
		if room <= 0 {
			return
		}
		b, _ := io.ReadAll(io.LimitReader(e.Body, int64(room)))
		w.textBytes += len(b)
		s := decodeUnlabelled(b, params["charset"])
		if mediaType == "text/html" {
			w.html = append(w.html, s)
		} else {
			w.plain = append(w.plain, s)
		}
		return
	}
	n, _ := io.Copy(io.Discard, e.Body)
	if name == "" {
		name = defaultName(mediaType, len(w.atts)+1)
	}
	w.atts = append(w.atts, models.Attachment{Name: name, MimeType: valid(mediaType), Size: n})
}

func defaultName(mediaType string, n int) string {
	ext := ".bin"
	switch {
	case mediaType == "message/rfc822":
		ext = ".eml"
	case strings.HasPrefix(mediaType, "text/"):
		ext = ".txt"
	default:
		if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
			ext = exts[0]
		}
	}
	return fmt.Sprintf("attachment-%d%s", n, ext)
}

// decodeUnlabelled returns body text as UTF-8. Text that declares a charset
// has been converted by go-message already; bytes that are still not UTF-8
// come from a part with no (or a wrong us-ascii) label, which in Chinese
// mail means GB18030/GBK.
func decodeUnlabelled(b []byte, label string) string {
	if utf8.Valid(b) {
		return string(b)
	}
	l := strings.ToLower(strings.TrimSpace(label))
	if l == "" || l == "us-ascii" || l == "ascii" {
		if s, err := decodeWith(simplifiedchinese.GB18030, b); err == nil {
			return s
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func decodeWith(enc encoding.Encoding, b []byte) (string, error) {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}

// charsetHint is the charset the message declares for its text, used to
// read header bytes that some mailers send raw instead of encoded-words.
func charsetHint(e *message.Entity) string {
	_, params, _ := e.Header.ContentType()
	return strings.ToLower(params["charset"])
}

// headerText decodes a header's encoded-words; raw 8-bit bytes are read in
// the message's charset (or GB18030).
func headerText(h mail.Header, key, hint string) string {
	v, err := h.Text(key)
	if err != nil {
		v = h.Get(key)
	}
	return fixRaw(v, hint)
}

// fixRaw turns a header value that is not UTF-8 into UTF-8.
func fixRaw(s, hint string) string {
	if utf8.ValidString(s) {
		return s
	}
	if hint != "" && hint != "utf-8" && hint != "us-ascii" {
		if r, err := charset.Reader(hint, strings.NewReader(s)); err == nil {
			if b, err := io.ReadAll(r); err == nil {
				return strings.ToValidUTF8(string(b), "\uFFFD")
			}
		}
	}
	if out, err := decodeWith(simplifiedchinese.GB18030, []byte(s)); err == nil {
		return out
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

var reAddr = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?`)

// fromOf returns the From display name and lower-cased address. A From the
// address parser rejects still yields the first thing that looks like an
// address in it.
func fromOf(h mail.Header, hint string) (name, addr string) {
	if list, err := h.AddressList("From"); err == nil && len(list) > 0 && list[0] != nil {
		return cleanLine(decodeWords(fixRaw(list[0].Name, hint))), strings.ToLower(valid(list[0].Address))
	}
	v := fixRaw(h.Get("From"), hint)
	a := reAddr.FindString(v)
	if a == "" {
		return "", ""
	}
	name = strings.TrimSpace(strings.Replace(v, a, "", 1))
	name = strings.Trim(name, ` "'<>`)
	return cleanLine(decodeWords(name)), strings.ToLower(a)
}

// decodeWords decodes encoded-words that the address parser leaves alone,
// as in the common but invalid From: "=?gb2312?Q?...?=" <a@example.cn>.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := (&mime.WordDecoder{CharsetReader: charset.Reader}).DecodeHeader(s); err == nil {
		return valid(d)
	}
	return s
}

// messageID reads the Message-ID; a malformed one (no angle brackets) is
// kept when it looks like an id.
func messageID(h mail.Header) string {
	if id, err := h.MessageID(); err == nil && id != "" {
		return valid(id)
	}
	if ids := msgIDs(h, "Message-Id"); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDs reads a list of message ids (References, In-Reply-To), leniently.
func msgIDs(h mail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	if err == nil && len(ids) > 0 {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if id = strings.TrimSpace(valid(id)); id != "" {
				out = append(out, id)
			}
		}
		return out
	}
	var out []string
	for _, f := range strings.Fields(h.Get(key)) {
		f = strings.Trim(f, "<>,")
		if f != "" && len(f) <= 250 && strings.Contains(f, "@") {
			out = append(out, valid(f))
		}
	}
	return out
}

func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// cleanLine makes a header value one trimmed line.
func cleanLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, valid(s))
	return strings.Join(strings.Fields(s), " ")
}

// tidyText normalizes line ends, drops control characters and trailing
// spaces, and trims blank lines at both ends.
func tidyText(s string) string {
	s = strings.ReplaceAll(valid(s), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == '\uFEFF' {
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "-- " { // the signature delimiter keeps its space
			lines[i] = strings.TrimRight(l, " \t\u00a0\u3000")
		}
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
