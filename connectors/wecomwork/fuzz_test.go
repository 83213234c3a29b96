package wecomwork

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/wecomwork/wecomworkfake"
)

// FuzzParseApprovalChange feeds the decoder arbitrary bytes (it must never
// panic, and fail only with BadRequestError), and checks that a callback
// the fake builds from the fuzzed sp_no, status and comment decodes back
// to them.
func FuzzParseApprovalChange(f *testing.F) {
	fake := wecomworkfake.New("wwFuzzCorp", "fuzz-secret")
	defer fake.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	fake.SetClock(func() time.Time { return now })

	// Warm the XML and reflection caches in every process, so that the
	// first encode or decode of a type does not look like new coverage
	// (which the fuzzer then fails to reproduce while minimizing).
	for _, st := range []int{1, 2, 3, 4, 6, 7, 10, 99} {
		for _, c := range []string{"", "c"} {
			_, _ = ParseApprovalChange(fake.ApprovalChangeXML("1", st, c))
		}
	}

	f.Add([]byte(docSample), "201910220003", 2, "同意")
	f.Add(fake.ApprovalChangeXML("202611230001", 3, "驳回 ]]> <x>"), "202611230001", 3, "驳回 ]]> <x>")
	f.Add(fake.ApprovalChangeXML("202611230002", 1, "备注"), "1", 1, "")
	f.Add([]byte("<xml><Event>sys_approval_change</Event><ApprovalInfo><SpNo>1</SpNo><SpStatus>x</SpStatus></ApprovalInfo></xml>"), "a&b", 4, "")
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Event>&a;</Event></xml>`), "<", 7, "\x00")
	f.Add([]byte("\xff\xfe<<<"), " 9 ", 10, "\r\n")
	f.Add([]byte(nil), "", 6, "")

	f.Fuzz(func(t *testing.T, data []byte, spNo string, status int, comment string) {
		ch, err := ParseApprovalChange(data)
		if err != nil {
			var bad *connectors.BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("error %T %v, want BadRequestError", err, err)
			}
		} else if ch.SpNo == "" || ch.SpNo != strings.TrimSpace(ch.SpNo) {
			t.Fatalf("decoded SpNo %q", ch.SpNo)
		}

		if !xmlSafe(spNo) || !xmlSafe(comment) || strings.TrimSpace(spNo) == "" {
			return
		}
		raw := fake.ApprovalChangeXML(spNo, status, comment)
		ch, err = ParseApprovalChange(raw)
		if err != nil {
			t.Fatalf("fake's callback does not decode: %v\n%s", err, raw)
		}
		if ch.SpNo != strings.TrimSpace(spNo) || int(ch.Status) != status || ch.Comment != strings.TrimSpace(comment) {
			t.Fatalf("decoded %q %d %q, want %q %d %q", ch.SpNo, ch.Status, ch.Comment, spNo, status, comment)
		}
	})
}

// xmlSafe reports whether s survives XML text unchanged: valid UTF-8,
// only characters XML allows, no \r (parsers turn it into \n).
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == '\r' || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF):
			return false
		}
	}
	return true
}
