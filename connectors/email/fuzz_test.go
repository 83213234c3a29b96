package email

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse drives Parse (and through it the charset readers, the MIME
// walk, htmlToText and TrimReply) with arbitrary bytes, seeded with the
// golden emails. Parse must not panic, must return valid UTF-8, and its
// reply must come from its text.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("From: a@b.c\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<blockquote>q</blockquote>\r\n--x--\r\n"))
	f.Add([]byte("From: =?GBK?B?1cXI/Q==?= <a@b.c>\r\nSubject: =?big5?Q?=A7A?=\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw)
		if err != nil {
			return
		}
		for name, s := range map[string]string{
			"MessageID": p.MessageID, "InReplyTo": p.InReplyTo, "Subject": p.Subject, "FromName": p.FromName,
			"FromAddress": p.FromAddress, "Text": p.Text, "Reply": p.Reply, "AutoSubmitted": p.AutoSubmitted,
		} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not UTF-8: %q", name, s)
			}
		}
		if strings.ContainsAny(p.Subject, "\r\n") || strings.ContainsAny(p.FromName, "\r\n") {
			t.Fatalf("header values span lines: %q %q", p.Subject, p.FromName)
		}
		if len(p.Reply) > len(p.Text) {
			t.Fatalf("Reply (%d bytes) longer than Text (%d)", len(p.Reply), len(p.Text))
		}
		if len(p.Text) > maxTextBytes*4 {
			t.Fatalf("Text of %d bytes", len(p.Text))
		}
		for _, a := range p.Attachments {
			if a.Size < 0 || !utf8.ValidString(a.Name) || a.Name == "" {
				t.Fatalf("attachment %+v", a)
			}
		}
		if id := p.ExternalID(raw); id == "" || len(id) > 191 {
			t.Fatalf("ExternalID %q", id)
		}
	})
}
