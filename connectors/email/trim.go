package email

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Markers of the history a mail client appends under a reply.
var (
	// "On Mon, 2 Dec 2024 at 10:00, Ann <ann@example.com> wrote:"
	reOnWrote  = regexp.MustCompile(`(?i)^on\s.*\bwrote:$`)
	reOnStart  = regexp.MustCompile(`(?i)^on\s`)
	reWroteEnd = regexp.MustCompile(`(?i)\bwrote:$`)
	// "在 2024年12月2日 10:00，张三 <z@example.com> 写道：" (Foxmail, Apple Mail)
	// "张三 <z@example.com> 于2024年12月2日周一 10:00写道：" (Gmail)
	reZhWrote = regexp.MustCompile(`(写道|寫道)\s*[:：]$`)
	// "-----Original Message-----", "------------------ 原始邮件 ------------------" (QQ Mail)
	reSeparator = regexp.MustCompile(`(?i)^-{2,}\s*(original message|original|原始邮件|原始郵件|原邮件|邮件原文)\s*-{2,}$`)
	// Outlook's unquoted header block: "From: …" then "Sent: …" / "发件人: …" then "发送时间: …"
	reHdrFrom   = regexp.MustCompile(`(?i)^\*?(from|发件人|發件人|寄件者)\*?\s*[:：]`)
	reHdrDate   = regexp.MustCompile(`(?i)^\*?(sent|date|发送时间|發送時間|寄件日期|时间|時間|日期)\*?\s*[:：]`)
	reUnderline = regexp.MustCompile(`^_{10,}$`)
	// Mobile clients' one-line signatures, dropped when they end the text.
	reMobileSig = regexp.MustCompile(`(?i)^(sent from my \S.{0,60}|sent from (mail|outlook|yahoo mail) for \S.{0,40}|get outlook for \S.{0,40}|发自我的\S.{0,40}|发自(网易邮箱|QQ邮箱|手机QQ邮箱|我的手机|iPhone|iPad|Android)\S{0,20}|从我的\S.{0,40}发送|來自我的\S.{0,40}|寄自我的\S.{0,40})$`)
)

// TrimReply returns the new part of an email reply, without what the mail
// client quoted or appended:
//
//   - lines starting with ">" (quoted text) are dropped;
//   - an attribution line "On … wrote:" (also wrapped over two lines) or
//     "在 … 写道：" / "… 于 … 写道：", and everything after it;
//   - a separator "-----Original Message-----" or
//     "------------------ 原始邮件 ------------------" and everything after it;
//   - an Outlook header block ("From:"/"发件人:" followed by "Sent:"/"Date:"/
//     "发送时间:"), with the "_____" rule above it, and everything after it;
//   - a signature: the line "-- " (or "--") and everything after it;
//   - a last line like "Sent from my iPhone" / "发自我的iPhone".
//
// Attribution lines need a digit (the date) so prose like "他在信中写道：" is
// kept. When cutting at an attribution leaves nothing, the customer wrote
// below the quote (bottom-posting): the unquoted lines after it are kept.
func TrimReply(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return trimLines(strings.Split(text, "\n"), true)
}

func trimLines(lines []string, fallback bool) string {
	cut, marker := historyStart(lines)
	out := keep(lines[:cut])
	if out == "" && fallback && marker > 0 {
		var rest []string
		for _, l := range lines[cut+marker:] {
			if !isQuoted(l) {
				rest = append(rest, l)
			}
		}
		return trimLines(rest, false)
	}
	return out
}

// historyStart finds the first line of appended history or signature. For
// an attribution, marker is how many lines it spans (else 0).
func historyStart(lines []string) (cut, marker int) {
	for i, l := range lines {
		if l == "-- " || l == "--" {
			return i, 0
		}
		n := norm(l)
		if n == "" || isQuoted(n) {
			continue
		}
		if reSeparator.MatchString(n) {
			return i, 0
		}
		if reHdrFrom.MatchString(n) && headerBlock(lines, i) {
			for j := i - 1; j >= 0; j-- {
				p := norm(lines[j])
				if p == "" {
					continue
				}
				if reUnderline.MatchString(p) {
					return j, 0
				}
				break
			}
			return i, 0
		}
		if start, span := attribution(lines, i, n); span > 0 {
			return start, span
		}
	}
	return len(lines), 0
}

// headerBlock says a date header follows the From line at i within 3 lines.
func headerBlock(lines []string, i int) bool {
	for j := i + 1; j < len(lines) && j <= i+3; j++ {
		if reHdrDate.MatchString(norm(lines[j])) {
			return true
		}
	}
	return false
}

// attribution recognizes "On … wrote:" and "在 … 写道：" at line i.
func attribution(lines []string, i int, n string) (start, span int) {
	if utf8.RuneCountInString(n) > 400 || (!strings.ContainsAny(n, "0123456789") && !nextHasDigit(lines, i)) {
		return 0, 0
	}
	if reOnWrote.MatchString(n) {
		return i, 1
	}
	if reOnStart.MatchString(n) && i+1 < len(lines) {
		next := norm(lines[i+1])
		if reWroteEnd.MatchString(next) && !isQuoted(next) && len(n)+len(next) <= 400 {
			return i, 2
		}
	}
	if reZhWrote.MatchString(n) && strings.ContainsAny(n, "0123456789") &&
		(strings.HasPrefix(n, "在") || strings.ContainsAny(n, "于於")) {
		// Gmail wraps "张三 <z@example.com>" / "于2024年…写道：".
		if (strings.HasPrefix(n, "于") || strings.HasPrefix(n, "於")) && i > 0 {
			if p := norm(lines[i-1]); p != "" && strings.Contains(p, "@") && !isQuoted(p) {
				return i - 1, 2
			}
		}
		return i, 1
	}
	return 0, 0
}

func nextHasDigit(lines []string, i int) bool {
	return i+1 < len(lines) && strings.ContainsAny(lines[i+1], "0123456789")
}

// keep drops quoted lines, squeezes blank lines, and removes a trailing
// mobile signature.
func keep(lines []string) string {
	var out []string
	blank := false
	for _, l := range lines {
		if isQuoted(norm(l)) {
			continue
		}
		l = strings.TrimRight(l, " \t\u00a0\u3000")
		if strings.TrimSpace(norm(l)) == "" {
			if len(out) > 0 {
				blank = true
			}
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, l)
	}
	if len(out) > 0 && reMobileSig.MatchString(norm(out[len(out)-1])) {
		out = out[:len(out)-1]
		for len(out) > 0 && out[len(out)-1] == "" {
			out = out[:len(out)-1]
		}
	}
	return strings.Join(out, "\n")
}

func isQuoted(n string) bool {
	return strings.HasPrefix(strings.TrimLeft(n, " \t"), ">")
}

// norm is a line as markers are matched: no-break and ideographic spaces
// become spaces, and the ends are trimmed.
func norm(l string) string {
	l = strings.Map(func(r rune) rune {
		if r == '\u00a0' || r == '\u3000' {
			return ' '
		}
		return r
	}, l)
	return strings.TrimSpace(l)
}
