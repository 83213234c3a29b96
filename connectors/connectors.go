// Package connectors defines what a customer channel's platform connector
// implements, and the registry that assembles them. A connector turns a
// platform's verified webhook request (or a poll) into normalized inbound
// events, and sends an outbound message. Connectors never touch the
// database: state they need between calls (a sync cursor) is handed to them
// and handed back. Retries and backoff live in the dispatcher; a connector
// only says what happened (PermanentError, RetryableError).
package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/models"
)

// Field is one setting of a channel kind.
type Field struct {
	Name     string
	Label    string
	Secret   bool // sealed at rest, never returned
	Required bool
	Default  string
	// Validate checks a value that is present; nil accepts any.
	Validate func(string) error
}

// Spec describes a channel kind's settings and how to connect it.
type Spec struct {
	Kind   models.ChannelKind
	Label  string
	Fields []Field
	// Setup tells the admin what to paste where on the platform's side;
	// {webhookUrl} is replaced by the channel's callback URL.
	Setup string
}

// SecretKeys lists the names of the secret settings.
func (s Spec) SecretKeys() []string { return secretKeys(s.Fields) }

func secretKeys(fields []Field) []string {
	var out []string
	for _, f := range fields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// FieldError is a problem with one setting.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Normalize checks settings against the spec: unknown keys, missing
// required ones and invalid values are errors; defaults fill gaps. Values
// must be strings (numbers and booleans are accepted and stringified).
func (s Spec) Normalize(in map[string]any) (map[string]string, error) {
	return normalize(string(s.Kind)+" channels", s.Fields, in)
}

func normalize(what string, fields []Field, in map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for k := range in {
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Name == k }) {
			return nil, &FieldError{Field: k, Message: fmt.Sprintf("%s have no setting %q", what, k)}
		}
	}
	for _, f := range fields {
		v, ok := in[f.Name]
		var str string
		switch x := v.(type) {
		case nil:
			ok = false
		case string:
			str = strings.TrimSpace(x)
		case bool, float64, int, int64:
			str = fmt.Sprint(x)
		default:
			return nil, &FieldError{Field: f.Name, Message: "must be a string"}
		}
		if !ok || str == "" {
			if f.Default != "" {
				out[f.Name] = f.Default
				continue
			}
			if f.Required {
				return nil, &FieldError{Field: f.Name, Message: "is required"}
			}
			continue
		}
		if len(str) > 4096 {
			return nil, &FieldError{Field: f.Name, Message: "is longer than 4096 bytes"}
		}
		if f.Validate != nil {
			if err := f.Validate(str); err != nil {
				return nil, &FieldError{Field: f.Name, Message: err.Error()}
			}
		}
		out[f.Name] = str
	}
	return out, nil
}

// Config is what a connector instance is built from.
type Config struct {
	// BaseURL overrides the platform's API host (private deployments, proxies,
	// tests); empty means the platform's public host.
	BaseURL string
	// ChannelID is the channel's global ID, for logs and delivery ids.
	ChannelID string
	// Settings holds every setting, secret ones opened.
	Settings map[string]string
	// WebhookURL is where the platform calls kefuhub for this channel.
	WebhookURL string
	// HTTPClient is the client for calls to the platform.
	HTTPClient *http.Client
	// Now is the clock (tests inject one).
	Now func() time.Time
	// Tokens shares platform access tokens between replicas (nil: each
	// process keeps its own).
	Tokens TokenStore
}

// TokenStore keeps platform access tokens where every replica sees them.
type TokenStore interface {
	LoadToken(ctx context.Context, key string) (token string, expires time.Time, ok bool, err error)
	SaveToken(ctx context.Context, key, token string, expires time.Time) error
	DeleteToken(ctx context.Context, key, token string) error
}

// Sender is a customer as the platform knows them. Verified keys (WeChat
// unionid, phone, email) let the hub link the identity to a known customer.
type Sender struct {
	ExternalID  string
	DisplayName string
	UnionID     string
	Phone       string
	Email       string
}

// EventKind says what an inbound event is.
type EventKind string

const (
	KindMessage EventKind = "message" // the customer wrote something
	KindEvent   EventKind = "event"   // something happened (entered a session, opened a refund)
)

// InboundEvent is one normalized event from a platform.
type InboundEvent struct {
	// ExternalID is the platform's id of the message or event; the hub
	// deduplicates on it, per channel.
	ExternalID  string
	Kind        EventKind
	Sender      Sender
	Text        string
	ContentType string
	Attachments []models.Attachment
	// EventType names an event ("enter_session", "refund_created").
	EventType string
	// Context carries platform facts the agent should see (an order), and
	// threading facts: ThreadRefs lists platform message ids this event
	// answers (email In-Reply-To and References), and the hub files the
	// event in the conversation that holds one of them.
	Context map[string]any
	// ThreadRefs are ids of earlier messages this one replies to.
	ThreadRefs []string
	// NewThread says the event starts a conversation of its own (a new
	// email subject) rather than joining the customer's open one.
	NewThread bool
	SentAt    time.Time
	// Raw is the event as the platform sent it.
	Raw []byte
}

// WebhookRequest is a platform's HTTP call, body already read (and bounded).
type WebhookRequest struct {
	Method string
	Header http.Header
	Query  map[string][]string
	Body   []byte
}

// WebhookResponse is what to answer the platform.
type WebhookResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// WebhookResult is a verified webhook: the events it carried and the answer
// the platform expects once they are safely stored.
type WebhookResult struct {
	Events   []InboundEvent
	Response WebhookResponse
	// Sync, when set, says the platform has events to fetch (WeCom 微信客服
	// callbacks carry none): the hub acknowledges first, then calls Sync.
	Sync *SyncHint
	// Bot, when set, is a staff member talking to kefuhub's bot (DingTalk
	// robot, WeCom app): the hub answers it through BotReplier.
	Bot *BotMessage
	// Approval, when set, says an approval filed for a work order was
	// decided (WeCom sys_approval_change, DingTalk bpms_instance_change).
	Approval *ApprovalOutcome
}

// ApprovalOutcome is a platform's word on an approval kefuhub filed.
type ApprovalOutcome struct {
	// ExternalID is the approval's id (WeCom sp_no, DingTalk instance id),
	// which the work order's delivery recorded on the ticket.
	ExternalID string
	// Approved and Rejected; neither means a state kefuhub ignores
	// (pending, withdrawn).
	Approved, Rejected bool
	Comment            string
}

// BotMessage is what a staff member said to the bot.
type BotMessage struct {
	// SenderID is the platform's staff id (DingTalk senderStaffId, WeCom
	// userid), which kefuhub users carry.
	SenderID   string
	SenderName string
	Text       string
	// ReplyTo is where the answer goes (a DingTalk sessionWebhook, a WeCom
	// userid).
	ReplyTo string
}

// BotReplier is implemented by bot channels.
type BotReplier interface {
	ReplyBot(ctx context.Context, to BotMessage, text string) error
}

// SyncHint is what a callback says about the events waiting.
type SyncHint struct {
	// Key names the stream whose cursor is kept (e.g. an open_kfid).
	Key string
	// Token is a short-lived credential some platforms hand over with the
	// callback (WeCom's Token, valid 10 minutes).
	Token string
}

// SyncResult is one page of fetched events.
type SyncResult struct {
	Events []InboundEvent
	// Cursor is where the next fetch starts; the hub stores it in the
	// transaction that stores Events, so nothing is skipped or read twice.
	Cursor string
	// More says another page is waiting now.
	More bool
}

// Syncer is implemented by channels whose events are fetched rather than
// pushed (WeCom sync_msg, Taobao TMC, IMAP). The hub calls it after a
// callback's hint, and on a timer for channels that only poll.
type Syncer interface {
	// Sync fetches the events after cursor ("" for the beginning) of the
	// stream hint.Key. On error the cursor stays where it was.
	Sync(ctx context.Context, cursor string, hint SyncHint) (*SyncResult, error)
}

// Poller is implemented by syncers the hub should call on a timer, and
// says how often and for which stream keys.
type Poller interface {
	Syncer
	PollEvery() time.Duration
	PollKeys() []string
}

// OutboundMessage is an agent's reply to deliver on the customer's channel.
type OutboundMessage struct {
	// DeliveryID is stable across retries; platforms that deduplicate use it.
	DeliveryID string
	// Recipient is the customer's identity on the platform.
	Recipient   string
	Text        string
	Attachments []models.Attachment
	// LastInboundAt is when the customer last wrote (reply windows).
	LastInboundAt *time.Time
	// InReplyTo is the customer's last message in the conversation, for
	// platforms that thread replies (email's In-Reply-To and References).
	InReplyTo *ReplyContext
}

// ReplyContext is the message a reply answers.
type ReplyContext struct {
	ExternalID string
	// Metadata is what the connector put in InboundEvent.Context.
	Metadata map[string]any
}

// SendResult is a delivered message.
type SendResult struct {
	// ExternalID is the platform's id of the sent message, if it gives one.
	ExternalID string
}

// Channel is a connector configured for one channel.
type Channel interface {
	// Send delivers an outbound message.
	Send(ctx context.Context, msg OutboundMessage) (SendResult, error)
	// Test checks the credentials against the platform.
	Test(ctx context.Context) error
}

// WebhookReceiver is implemented by channels the platform calls.
type WebhookReceiver interface {
	// HandleWebhook verifies and decodes a request. Errors are
	// *VerifyError (answer 401) or *BadRequestError (answer 400).
	HandleWebhook(ctx context.Context, req WebhookRequest) (*WebhookResult, error)
}

// Connector builds channels of one kind.
type Connector struct {
	Spec Spec
	New  func(Config) (Channel, error)
}

// Registry holds the connectors kefuhub runs with, by kind.
type Registry struct {
	byKind  map[models.ChannelKind]Connector
	targets map[models.TargetKind]TargetConnector
}

// NewRegistry assembles connectors; a kind registered twice panics.
func NewRegistry(cs ...Connector) *Registry {
	r := &Registry{byKind: map[models.ChannelKind]Connector{}, targets: map[models.TargetKind]TargetConnector{}}
	for _, c := range cs {
		if _, dup := r.byKind[c.Spec.Kind]; dup {
			panic("connectors: kind registered twice: " + string(c.Spec.Kind))
		}
		r.byKind[c.Spec.Kind] = c
	}
	return r
}

// Lookup returns the connector of kind k.
func (r *Registry) Lookup(k models.ChannelKind) (Connector, bool) {
	if r == nil {
		return Connector{}, false
	}
	c, ok := r.byKind[k]
	return c, ok
}

// VerifyError means the request is not from the platform (bad signature,
// undecryptable payload, stale timestamp). The reason is safe to log and
// to answer with; it never contains secrets.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return "verification failed: " + e.Reason }

// BadRequestError means the request is authentic but malformed.
type BadRequestError struct{ Reason string }

func (e *BadRequestError) Error() string { return "bad request: " + e.Reason }

// PermanentError means retrying cannot help (bad recipient, reply window
// closed, revoked app); Reason is shown to the agent.
type PermanentError struct{ Reason string }

func (e *PermanentError) Error() string { return e.Reason }

// RetryableError means the platform may accept a later attempt; After is
// the platform's requested wait, if it said one.
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RawDecoder is implemented by channels that can decode a stored raw event
// again, so that an admin can replay it after a fix.
type RawDecoder interface {
	DecodeRaw(raw []byte) ([]InboundEvent, error)
}

// ParcelTracker is implemented by channels that can say where an order's
// parcel is (Taobao's logistics trace), for "where is my parcel" questions.
type ParcelTracker interface {
	TrackParcel(ctx context.Context, orderID string) (*ParcelTrace, error)
}

// ParcelTrace is where a parcel is.
type ParcelTrace struct {
	OrderID    string
	Carrier    string
	TrackingNo string
	Status     string
	Steps      []ParcelStep // oldest first
}

// ParcelStep is one scan of a parcel.
type ParcelStep struct {
	At          time.Time
	Description string
}
