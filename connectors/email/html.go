package email

import (
	"html"
	"strings"
)

// htmlToText renders an HTML body as plain text: tags are dropped, block
// elements and <br> end lines, entities are decoded, script/style/head
// content is skipped, and the content of <blockquote> (where mail clients
// put quoted history) gets "> " prefixes so TrimReply treats it as quoted.
// It is a small tolerant scanner, not an HTML parser: mail HTML is often
// broken and only its text matters.
func htmlToText(s string) string {
	var b strings.Builder
	quote, pre := 0, 0
	skip := ""      // element whose content is skipped, until its end tag
	atLine := true  // nothing written on the current line yet
	pendingSP := "" // collapsed whitespace waiting for the next word

	newline := func() {
		b.WriteByte('\n')
		atLine, pendingSP = true, ""
	}
	write := func(t string) {
		if atLine {
			if quote > 0 {
				b.WriteString(strings.Repeat("> ", quote))
			}
			atLine, pendingSP = false, ""
		}
		b.WriteString(pendingSP)
		pendingSP = ""
		b.WriteString(t)
	}

	for i := 0; i < len(s); {
		if s[i] == '<' {
			if strings.HasPrefix(s[i:], "<!--") {
				end := strings.Index(s[i+4:], "-->")
				if end < 0 {
					break
				}
				i += 4 + end + 3
				continue
			}
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				break
			}
			name, closing, selfClosing := tagName(s[i+1 : i+end])
			i += end + 1
			if skip != "" {
				if closing && name == skip {
					skip = ""
				}
				continue
			}
			switch name {
			case "script", "style", "head", "title", "xml":
				if !closing && !selfClosing {
					skip = name
				}
			case "br":
				newline()
			case "pre":
				if closing {
					pre = max(pre-1, 0)
				} else {
					pre++
				}
				if !atLine {
					newline()
				}
			case "blockquote":
				if !atLine {
					newline()
				}
				if closing {
					quote = max(quote-1, 0)
				} else if !selfClosing {
					quote++
				}
			case "p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "section", "article", "header", "footer", "center", "dl", "dt", "dd":
				if !atLine {
					newline()
				}
			case "li":
				if !atLine {
					newline()
				}
				if !closing {
					write("- ")
				}
			case "td", "th":
				if closing && !atLine {
					pendingSP = " "
				}
			}
			continue
		}
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			j = len(s) - i
		}
		chunk := s[i : i+j]
		i += j
		if skip != "" {
			continue
		}
		text := strings.ReplaceAll(html.UnescapeString(chunk), "\u00a0", " ")
		if pre > 0 {
			for k, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
				if k > 0 {
					newline()
				}
				if line != "" {
					write(line)
				}
			}
			continue
		}
		words := strings.Fields(text)
		if len(words) == 0 {
			if text != "" && !atLine {
				pendingSP = " "
			}
			continue
		}
		if startsWithSpace(text) && !atLine {
			pendingSP = " "
		}
		write(strings.Join(words, " "))
		if endsWithSpace(text) {
			pendingSP = " "
		}
	}
	return collapseBlankLines(b.String())
}

// tagName reads "div class=x", "/div", "br/" into its lower-case name.
func tagName(t string) (name string, closing, selfClosing bool) {
	t = strings.TrimSpace(t)
	if strings.HasPrefix(t, "/") {
		closing, t = true, strings.TrimLeft(t[1:], " ")
	}
	selfClosing = strings.HasSuffix(t, "/")
	n := 0
	for n < len(t) {
		c := t[n]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '-' {
			n++
			continue
		}
		break
	}
	name = strings.ToLower(t[:n])
	// Office's <o:p> and friends carry no structure.
	if strings.Contains(name, ":") {
		name = ""
	}
	return name, closing, selfClosing
}

func startsWithSpace(s string) bool {
	return s != "" && strings.TrimLeft(s, " \t\r\n\f") != s
}

func endsWithSpace(s string) bool {
	return s != "" && strings.TrimRight(s, " \t\r\n\f") != s
}

// collapseBlankLines trims trailing spaces and keeps at most one blank line
// in a row.
func collapseBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if strings.TrimSpace(strings.TrimLeft(l, "> ")) == "" && !strings.HasPrefix(l, ">") {
			blank++
			if blank > 1 {
				continue
			}
			l = ""
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Trim(strings.Join(out, "\n"), "\n")
}
