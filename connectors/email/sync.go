package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/kefuhub/kefuhub/connectors"
)

// Paging of Sync: at most batchSize messages, and no more than
// maxBatchBytes of them (one larger message still makes a page of its own).
const (
	batchSize     = 50
	maxBatchBytes = 32 << 20
	// maxRawKeep bounds InboundEvent.Raw; a larger message keeps its header
	// only (the hub stores Raw in a MEDIUMBLOB, and the body is parsed).
	maxRawKeep = 1 << 20
)

// BackfillWindow is how far back a mailbox without a usable cursor is read:
// a new channel starts with the mail received in the last 7 days, not with
// years of history that would flood the agents' queues.
const BackfillWindow = 7 * 24 * time.Hour

// Cursor is where Sync resumes in a mailbox: "<UIDVALIDITY>:<last UID>".
//
// UIDs grow in a mailbox as long as its UIDVALIDITY stays the same, so the
// messages after the cursor are exactly those with a larger UID; Sync
// returns them in UID order, a page at a time, and the cursor of a page is
// the last UID it covered (skipped messages included).
//
// The empty cursor starts before the first message received (INTERNALDATE)
// within BackfillWindow, or after the newest message when none is that
// recent. A cursor whose UIDVALIDITY differs from the mailbox's (it was
// re-created, or the server rebuilt its index) means nothing any more, and
// Sync starts over the same way. That is safe: every event's ExternalID is
// the message's Message-ID (or a hash of its bytes), which the hub
// deduplicates on, so mail already stored is not stored twice, and mail
// that arrived since the last sync is within the window (unless kefuhub
// was not polling for longer than BackfillWindow).
type Cursor struct {
	UIDValidity uint32
	UID         uint32
}

func (c Cursor) String() string {
	return strconv.FormatUint(uint64(c.UIDValidity), 10) + ":" + strconv.FormatUint(uint64(c.UID), 10)
}

// ParseCursor reads a cursor; "" is the zero cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	v, u, ok := strings.Cut(s, ":")
	validity, err1 := strconv.ParseUint(v, 10, 32)
	uid, err2 := strconv.ParseUint(u, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Cursor{}, fmt.Errorf("email: malformed cursor %q (want UIDVALIDITY:UID)", s)
	}
	return Cursor{UIDValidity: uint32(validity), UID: uint32(uid)}, nil
}

// Sync fetches the messages after cursor in the mailbox hint.Key (the
// channel's mailbox when empty), oldest first, at most one page. On any
// error it returns the error and no result: the hub keeps the old cursor.
func (c *channel) Sync(ctx context.Context, cursor string, hint connectors.SyncHint) (*connectors.SyncResult, error) {
	mailbox := hint.Key
	if mailbox == "" {
		mailbox = c.mailbox
	}
	cur, err := ParseCursor(cursor)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	s, err := c.openIMAP(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.sync(ctx, s, mailbox, cur)
	s.close(err == nil)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return res, nil
}

func (c *channel) sync(ctx context.Context, s *imapSession, mailbox string, cur Cursor) (*connectors.SyncResult, error) {
	sel, err := s.cl.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("email: open mailbox %q: %w", mailbox, err)
	}
	if sel.UIDValidity == 0 {
		return nil, fmt.Errorf("email: the server sent no UIDVALIDITY for %q", mailbox)
	}
	last := cur.UID
	if cur.UIDValidity != sel.UIDValidity {
		if last, err = c.startUID(s, sel); err != nil {
			return nil, err
		}
	}
	next := Cursor{UIDValidity: sel.UIDValidity, UID: last}

	uids, err := newUIDs(s, sel, last)
	if err != nil {
		return nil, err
	}
	if wait := c.idleBudget(ctx); len(uids) == 0 && wait > 0 && s.cl.Caps().Has(imap.CapIdle) {
		if err := idle(ctx, s, wait); err != nil {
			return nil, err
		}
		if uids, err = newUIDs(s, nil, last); err != nil {
			return nil, err
		}
	}
	if len(uids) == 0 {
		return &connectors.SyncResult{Cursor: next.String()}, nil
	}
	more := len(uids) > batchSize
	if more {
		uids = uids[:batchSize]
	}
	batch, err := sizes(s, uids)
	if err != nil {
		return nil, err
	}
	batch, cut := page(batch)
	more = more || cut

	fetch := make([]imap.UID, len(batch))
	for i, m := range batch {
		fetch[i] = m.uid
	}
	msgs, err := s.cl.Fetch(imap.UIDSetNum(fetch...), &imap.FetchOptions{
		UID: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		return nil, fmt.Errorf("email: fetch messages: %w", err)
	}
	byUID := make(map[imap.UID]int, len(msgs))
	for i, m := range msgs {
		byUID[m.UID] = i
	}
	var events []connectors.InboundEvent
	for _, m := range batch {
		// The cursor passes every UID of the page; a message expunged in
		// the meantime is simply gone.
		next.UID = uint32(m.uid)
		i, ok := byUID[m.uid]
		if !ok {
			continue
		}
		raw := msgs[i].FindBodySection(&imap.FetchItemBodySection{})
		if raw == nil {
			continue
		}
		if ev, ok := c.event(raw, msgs[i].InternalDate); ok {
			events = append(events, ev)
		}
	}
	return &connectors.SyncResult{Events: events, Cursor: next.String(), More: more}, nil
}

// startUID is the "last seen" UID of a mailbox without a usable cursor: just
// before its first message received within BackfillWindow, else its newest
// message.
func (c *channel) startUID(s *imapSession, sel *imap.SelectData) (uint32, error) {
	if sel.NumMessages == 0 {
		return 0, nil
	}
	data, err := s.cl.UIDSearch(&imap.SearchCriteria{Since: c.now().Add(-BackfillWindow)}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("email: search recent messages: %w", err)
	}
	recent, err := uidList(data)
	if err != nil {
		return 0, err
	}
	if len(recent) > 0 {
		return uint32(recent[0]) - 1, nil
	}
	if sel.UIDNext > 0 {
		return uint32(sel.UIDNext) - 1, nil
	}
	msgs, err := s.cl.Fetch(imap.SeqSetNum(sel.NumMessages), &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		return 0, fmt.Errorf("email: find the newest message: %w", err)
	}
	var newest uint32
	for _, m := range msgs {
		newest = max(newest, uint32(m.UID))
	}
	return newest, nil
}

// newUIDs lists the UIDs after last, ascending. sel, when known, lets an
// unchanged mailbox skip the round trip.
func newUIDs(s *imapSession, sel *imap.SelectData, last uint32) ([]imap.UID, error) {
	if last == math.MaxUint32 {
		return nil, nil
	}
	if sel != nil && (sel.NumMessages == 0 || (sel.UIDNext != 0 && uint32(sel.UIDNext) <= last+1)) {
		return nil, nil
	}
	set := imap.UIDSet{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}} // last+1:*
	data, err := s.cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("email: list new messages: %w", err)
	}
	uids, err := uidList(data)
	if err != nil {
		return nil, err
	}
	// "n:*" includes the newest message even when its UID is below n.
	return slices.DeleteFunc(uids, func(u imap.UID) bool { return uint32(u) <= last }), nil
}

// uidList is a UID SEARCH result, sorted and without duplicates.
func uidList(data *imap.SearchData) ([]imap.UID, error) {
	set, ok := data.All.(imap.UIDSet)
	if !ok {
		return nil, nil
	}
	uids, ok := set.Nums()
	if !ok {
		return nil, errors.New("email: the server answered UID SEARCH with an open range")
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

type pendingMsg struct {
	uid  imap.UID
	size int64
}

// sizes fetches the sizes of messages, in the order of uids.
func sizes(s *imapSession, uids []imap.UID) ([]pendingMsg, error) {
	msgs, err := s.cl.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("email: list message sizes: %w", err)
	}
	size := make(map[imap.UID]int64, len(msgs))
	for _, m := range msgs {
		size[m.UID] = m.RFC822Size
	}
	out := make([]pendingMsg, len(uids))
	for i, u := range uids {
		out[i] = pendingMsg{uid: u, size: size[u]}
	}
	return out, nil
}

// page takes the first messages whose sizes add up to at most
// maxBatchBytes (at least one).
func page(pending []pendingMsg) (batch []pendingMsg, more bool) {
	var bytes int64
	for i, m := range pending {
		if i == batchSize || (i > 0 && bytes+m.size > maxBatchBytes) {
			return pending[:i], true
		}
		bytes += m.size
	}
	return pending, false
}

// idleBudget is how long a Sync may wait in IDLE: idleWait, and at most
// half the time left before ctx's deadline, so the wait ends normally.
func (c *channel) idleBudget(ctx context.Context) time.Duration {
	wait := c.idleWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	return wait
}

// idle waits in IMAP IDLE until the server announces a message, wait
// passes, or ctx ends.
func idle(ctx context.Context, s *imapSession, wait time.Duration) error {
	cmd, err := s.cl.Idle()
	if err != nil {
		return fmt.Errorf("email: IDLE: %w", err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.newMail:
	case <-t.C:
	case <-ctx.Done():
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("email: end IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("email: end IDLE: %w", err)
	}
	return ctx.Err()
}

// event turns a fetched message into an inbound event. Messages without a
// usable From address, and the channel's own mail, are skipped (the hub
// cannot attribute them to a customer).
func (c *channel) event(raw []byte, internalDate time.Time) (connectors.InboundEvent, bool) {
	p, err := Parse(raw)
	if err != nil || p.FromAddress == "" || p.FromAddress == c.fromAddr {
		return connectors.InboundEvent{}, false
	}
	return eventFrom(p, raw, internalDate), true
}

// eventFrom builds the event of a parsed message.
func eventFrom(p *Parsed, raw []byte, internalDate time.Time) connectors.InboundEvent {
	text := p.Reply
	if text == "" {
		text = p.Text
	}
	if text == "" && len(p.Attachments) == 0 {
		text = p.Subject
	}
	refs := p.References
	if refs == nil {
		refs = []string{}
	}
	ctx := map[string]any{
		"messageId":  p.MessageID,
		"inReplyTo":  p.InReplyTo,
		"references": refs,
		"subject":    p.Subject,
	}
	if p.AutoSubmitted != "" {
		ctx["autoSubmitted"] = p.AutoSubmitted
	}
	sentAt := p.Date
	if sentAt.IsZero() {
		sentAt = internalDate.UTC()
	}
	// A reply joins the conversation of the mail it answers; a mail that
	// answers nothing starts a conversation of its own.
	var thread []string
	for _, id := range append([]string{p.InReplyTo}, refs...) {
		if id = strings.Trim(strings.TrimSpace(id), "<>"); id != "" {
			thread = append(thread, id)
		}
	}
	return connectors.InboundEvent{
		ExternalID: p.ExternalID(raw),
		ThreadRefs: thread,
		NewThread:  len(thread) == 0,
		Kind:       connectors.KindMessage,
		Sender: connectors.Sender{
			ExternalID: p.FromAddress, DisplayName: p.FromName, Email: p.FromAddress,
		},
		Text:        text,
		ContentType: "text/plain",
		Attachments: p.Attachments,
		Context:     ctx,
		SentAt:      sentAt,
		Raw:         rawToKeep(raw),
	}
}

// rawToKeep is the message, or its header alone when the message is large.
func rawToKeep(raw []byte) []byte {
	if len(raw) <= maxRawKeep {
		return raw
	}
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if i := bytes.Index(raw, []byte("\n\n")); end < 0 || (i >= 0 && i < end) {
		end = i
	}
	if end < 0 || end > maxRawKeep {
		end = maxRawKeep
	}
	return bytes.Clone(raw[:end])
}
