// Package wecomwork delivers work orders to staff in WeCom (企业微信), three
// target kinds over WeCom's server API (PLATFORMS.md, "WeCom"):
//
//	WECOM_APP_MESSAGE  a textcard app message to members, from a self-built
//	                   app: gettoken + POST /cgi-bin/message/send
//	WECOM_APPROVAL     an OA approval (审批) created for ticket.created only:
//	                   gettoken + POST /cgi-bin/oa/applyevent → sp_no
//	WECOM_ROBOT        a markdown message to a group chat's robot:
//	                   POST /cgi-bin/webhook/send?key=
//
// Access tokens are cached per connector value (the hub builds a target per
// delivery) and shared by the replicas through cfg.Tokens, keyed by a hash
// of base URL, corpId and secret, refreshed
// ahead of expiry and dropped on 40014/42001, after which the call is made
// once more.
//
// What a retry does (the dispatcher retries after any error that is not a
// connectors.PermanentError, including a response lost after WeCom acted):
//
//   - App messages are sent with enable_duplicate_check=1 and
//     duplicate_check_interval=1800: WeCom drops a message whose content
//     (recipients and card) equals one sent by the app within the last 30
//     minutes. The card is built only from the work order (title, text,
//     ticket URL), so a retry within 30 minutes is not shown twice. After 30
//     minutes it would be. The flip side: two different work orders whose
//     cards are byte-identical within 30 minutes (same ticket, same rendered
//     title and text) reach the members once. WeCom does not document what
//     it answers to a dropped duplicate; whatever msgid it gives (the fake
//     gives the first one's) becomes the ExternalID.
//   - Approvals: applyevent has no idempotency key, so a retry after a lost
//     response creates a second approval. The DeliveryID (the same on every
//     retry) is written into the approval, in its own Text control when the
//     setting deliveryControlId names one in the template, else as the last
//     line of the detail Textarea: approvers and admins can see that two
//     approvals are one work order, and withdraw one.
//   - Robot messages have no idempotency either: a retry after a lost
//     response posts the message twice.
//
// Test: app and approval targets fetch a fresh token (corpId, secret and
// the IP allow-list are checked; agentId, toUser and templateId are not:
// only a real message or approval would check them). Robot targets check
// the key's format and post nothing, since any post would show up in the
// group chat.
//
// ParseApprovalChange decodes the sys_approval_change callback (after
// decryption; the crypto is connectors/wecom's); the hub wires it later.
// Package wecomworkfake is the platform for tests.
package wecomwork

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kefuhub/kefuhub/connectors"
)

var (
	corpIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	agentIDPattern  = regexp.MustCompile(`^[0-9]{1,12}$`)
	userIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
	templatePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	controlPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	robotKeyPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func matches(re *regexp.Regexp, what string) func(string) error {
	return func(s string) error {
		if !re.MatchString(s) {
			return errors.New("must be " + what)
		}
		return nil
	}
}

var (
	validCorpID    = matches(corpIDPattern, "the CorpID (letters and digits, e.g. ww8f3b2c1d0e9a7654)")
	validAgentID   = matches(agentIDPattern, "the app's AgentId (digits, e.g. 1000002)")
	validUserID    = matches(userIDPattern, "a member's UserID (账号, e.g. ZhangSan)")
	validTemplate  = matches(templatePattern, "the approval template's id (模板id, letters and digits)")
	validControlID = matches(controlPattern, "a control id of the template (e.g. Text-delivery)")
)

// maxRecipients is message/send's limit on touser.
const maxRecipients = 1000

// parseToUser splits toUser ("a|b" or "@all") into member ids.
func parseToUser(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "@all" {
		return []string{"@all"}, nil
	}
	users := strings.Split(s, "|")
	if len(users) > maxRecipients {
		return nil, errors.New("must name at most 1000 members")
	}
	seen := map[string]bool{}
	for i, u := range users {
		u = strings.TrimSpace(u)
		if !userIDPattern.MatchString(u) {
			return nil, errors.New(`must be members' UserIDs separated by "|" (e.g. ZhangSan|LiSi), or @all`)
		}
		if seen[u] {
			return nil, errors.New("names " + u + " twice")
		}
		seen[u] = true
		users[i] = u
	}
	return users, nil
}

func validToUser(s string) error {
	_, err := parseToUser(s)
	return err
}

// refPlaceholder is replaced in detailUrl by the ticket's reference.
const refPlaceholder = "{ref}"

// defaultDetailURL leads nowhere: set detailUrl to kefuhub's ticket page.
const defaultDetailURL = "https://kefuhub.invalid/tickets/" + refPlaceholder

func validDetailURL(s string) error {
	u, err := url.Parse(strings.ReplaceAll(s, refPlaceholder, "T-1"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL, with {ref} where the ticket's reference goes")
	}
	if len(s) > 1024 {
		return errors.New("must be at most 1024 bytes")
	}
	return nil
}

func detailURL(template, ref string) string {
	if template == "" {
		template = defaultDetailURL
	}
	return strings.ReplaceAll(template, refPlaceholder, url.PathEscape(ref))
}

// robotKey accepts the key or the whole webhook address the group chat
// shows (…/cgi-bin/webhook/send?key=KEY) and returns the key.
func robotKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", errors.New("must be the robot's key or webhook address")
		}
		s = u.Query().Get("key")
	}
	if !robotKeyPattern.MatchString(s) {
		return "", errors.New("must be the robot's key (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or its webhook address")
	}
	return s, nil
}

func validRobotKey(s string) error {
	_, err := robotKey(s)
	return err
}

// ellipsis marks clipped text.
const ellipsis = "…"

// clipBytes returns s cut to at most n bytes on a UTF-8 boundary, ending
// with "…" when cut. Invalid UTF-8 is replaced first.
func clipBytes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// clipRunes returns s cut to at most n characters, the last one "…" when
// cut.
func clipRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + ellipsis
}

// orDefault returns s, or def when s is blank.
func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// _ keeps the interface assertions in one place.
var (
	_ connectors.Target = (*appTarget)(nil)
	_ connectors.Target = (*approvalTarget)(nil)
	_ connectors.Target = (*robotTarget)(nil)
)
