// Package models holds kefuhub's domain types. They are GORM models and, by
// gqlgen's autobind, the Go side of the GraphQL object types. No I/O here.
package models

import (
	"fmt"
	"strings"
	"time"
)

// Tenant is one company using kefuhub. Every other row belongs to a tenant.
type Tenant struct {
	ID        uint64    `gorm:"primaryKey"`
	Name      string    `gorm:"size:200;not null"`
	Slug      string    `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time `gorm:"not null"`
}

func (t *Tenant) GlobalID() string { return EncodeID(TypeTenant, t.ID) }

// User is a member of staff. The platform ids let connectors map a DingTalk
// or WeCom sender to the user.
type User struct {
	ID              uint64    `gorm:"primaryKey"`
	TenantID        uint64    `gorm:"not null;uniqueIndex:ux_users_tenant_email,priority:1"`
	Name            string    `gorm:"size:200;not null"`
	Email           string    `gorm:"size:320;not null;uniqueIndex:ux_users_tenant_email,priority:2"`
	Role            Role      `gorm:"size:16;not null"`
	DingTalkUserID  *string   `gorm:"column:dingtalk_user_id;size:64;index"`
	DingTalkUnionID *string   `gorm:"column:dingtalk_union_id;size:64;index"`
	WeComUserID     *string   `gorm:"column:wecom_user_id;size:64;index"`
	Active          bool      `gorm:"not null;default:true"`
	CreatedAt       time.Time `gorm:"not null"`
	UpdatedAt       time.Time `gorm:"not null"`
}

func (u *User) GlobalID() string { return EncodeID(TypeUser, u.ID) }

// Team groups users; conversations and tickets can be routed to a team.
type Team struct {
	ID          uint64    `gorm:"primaryKey"`
	TenantID    uint64    `gorm:"not null;uniqueIndex:ux_teams_tenant_name,priority:1"`
	Name        string    `gorm:"size:200;not null;uniqueIndex:ux_teams_tenant_name,priority:2"`
	Description string    `gorm:"size:1000;not null;default:''"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (t *Team) GlobalID() string { return EncodeID(TypeTeam, t.ID) }

// TeamMember links a user to a team.
type TeamMember struct {
	TeamID    uint64    `gorm:"primaryKey;autoIncrement:false"`
	UserID    uint64    `gorm:"primaryKey;autoIncrement:false;index"`
	TenantID  uint64    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// APIToken authenticates a caller as a user. Only the SHA-256 of the secret
// is stored; the secret itself is shown once, when the token is created.
type APIToken struct {
	ID         uint64     `gorm:"primaryKey"`
	TenantID   uint64     `gorm:"not null;index"`
	UserID     uint64     `gorm:"not null;index"`
	Name       string     `gorm:"size:200;not null"`
	Hash       string     `gorm:"size:64;not null;uniqueIndex"`
	Prefix     string     `gorm:"size:16;not null"`
	LastUsedAt *time.Time ``
	RevokedAt  *time.Time ``
	ExpiresAt  *time.Time ``
	CreatedAt  time.Time  `gorm:"not null"`
}

func (APIToken) TableName() string   { return "api_tokens" }
func (t *APIToken) GlobalID() string { return EncodeID(TypeAPIToken, t.ID) }
func (t *APIToken) Revoked() bool    { return t.RevokedAt != nil }
func (t *APIToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// Customer is one person, however many channels they write from.
type Customer struct {
	ID           uint64         `gorm:"primaryKey"`
	TenantID     uint64         `gorm:"not null;index:ix_customers_tenant_created,priority:1"`
	Name         string         `gorm:"size:200;not null"`
	Phone        *string        `gorm:"size:32;index"`
	Email        *string        `gorm:"size:320;index"`
	Tags         []string       `gorm:"serializer:json;type:mediumtext"`
	Attributes   map[string]any `gorm:"serializer:json;type:mediumtext"`
	MergedIntoID *uint64        `gorm:"index"`
	CreatedAt    time.Time      `gorm:"not null;index:ix_customers_tenant_created,priority:2"`
	UpdatedAt    time.Time      `gorm:"not null"`
}

func (c *Customer) GlobalID() string { return EncodeID(TypeCustomer, c.ID) }

// Identity is how a customer is known on one channel (WeCom external_userid,
// Taobao buyer_open_uid, an email address...). Unique per channel.
type Identity struct {
	ID          uint64 `gorm:"primaryKey"`
	TenantID    uint64 `gorm:"not null"`
	CustomerID  uint64 `gorm:"not null;index"`
	ChannelID   uint64 `gorm:"not null;uniqueIndex:ux_identities_channel_external,priority:1"`
	ExternalID  string `gorm:"size:191;not null;uniqueIndex:ux_identities_channel_external,priority:2"`
	DisplayName string `gorm:"size:200;not null;default:''"`
	// UnionID is WeChat's id of the person across one company's Official
	// Accounts and WeCom: the same unionid is the same customer.
	UnionID   *string   `gorm:"size:64;index"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (i *Identity) GlobalID() string { return EncodeID(TypeIdentity, i.ID) }

// Channel is one inbound/outbound route to customers. Settings are public
// configuration; secret settings are sealed with AES-GCM and never leave
// the server.
type Channel struct {
	ID            uint64         `gorm:"primaryKey"`
	TenantID      uint64         `gorm:"not null;index"`
	Kind          ChannelKind    `gorm:"size:32;not null"`
	Name          string         `gorm:"size:200;not null"`
	Settings      map[string]any `gorm:"serializer:json;type:mediumtext"`
	SecretKeys    []string       `gorm:"serializer:json;type:mediumtext"`
	SealedSecrets []byte         `gorm:"type:blob"`
	Enabled       bool           `gorm:"not null;default:true"`
	// ResolvedNotice is the template of the message telling a customer
	// their ticket is resolved; empty means the default wording.
	ResolvedNotice string    `gorm:"size:2000;not null;default:''"`
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

func (c *Channel) GlobalID() string { return EncodeID(TypeChannel, c.ID) }

// Conversation is a thread with one customer on one channel.
type Conversation struct {
	ID              uint64             `gorm:"primaryKey"`
	TenantID        uint64             `gorm:"not null;uniqueIndex:ux_conversations_tenant_number,priority:1;index:ix_conversations_status,priority:1;index:ix_conversations_activity,priority:1"`
	Number          int64              `gorm:"not null;uniqueIndex:ux_conversations_tenant_number,priority:2"`
	ChannelID       uint64             `gorm:"not null;index"`
	CustomerID      uint64             `gorm:"not null;index"`
	Subject         string             `gorm:"size:500;not null;default:''"`
	Status          ConversationStatus `gorm:"size:16;not null;index:ix_conversations_status,priority:2"`
	Priority        Priority           `gorm:"size:16;not null"`
	AssigneeID      *uint64            `gorm:"index"`
	TeamID          *uint64            `gorm:"index"`
	Tags            []string           `gorm:"serializer:json;type:mediumtext"`
	LastMessageID   *uint64            ``
	LastMessageAt   *time.Time         ``
	LastActivityAt  time.Time          `gorm:"not null;index:ix_conversations_activity,priority:2"`
	FirstResponseAt *time.Time         ``
	WaitingSince    *time.Time         ``
	SnoozedUntil    *time.Time         ``
	CreatedAt       time.Time          `gorm:"not null"`
	UpdatedAt       time.Time          `gorm:"not null"`
}

func (c *Conversation) GlobalID() string { return EncodeID(TypeConversation, c.ID) }

// Attachment describes a file attached to a message; the bytes live on the
// platform or in object storage, not in the database.
type Attachment struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
	URL      string `json:"url"`
	MediaID  string `json:"mediaId,omitempty"`
}

// Message is one message in a conversation, or a private note between staff.
type Message struct {
	ID               uint64           `gorm:"primaryKey"`
	TenantID         uint64           `gorm:"not null"`
	ConversationID   uint64           `gorm:"not null;index:ix_messages_conversation"`
	ChannelID        uint64           `gorm:"not null;uniqueIndex:ux_messages_channel_external,priority:1"`
	Direction        MessageDirection `gorm:"size:16;not null"`
	SenderType       SenderType       `gorm:"size:16;not null"`
	SenderUserID     *uint64          ``
	SenderCustomerID *uint64          ``
	Text             string           `gorm:"type:mediumtext;not null"`
	ContentType      string           `gorm:"size:64;not null;default:'text/plain'"`
	Attachments      []Attachment     `gorm:"serializer:json;type:mediumtext"`
	// ExternalID is the platform's message id; NULL for messages that have
	// not reached a platform, so the unique index ignores them.
	ExternalID     *string        `gorm:"size:191;uniqueIndex:ux_messages_channel_external,priority:2"`
	DeliveryStatus DeliveryStatus `gorm:"size:16;not null"`
	DeliveryError  string         `gorm:"size:1000;not null;default:''"`
	IsPrivate      bool           `gorm:"not null;default:false"`
	// Metadata carries platform facts about the message (the order of a
	// Taobao refund, an email's threading headers).
	Metadata  map[string]any `gorm:"serializer:json;type:mediumtext"`
	CreatedAt time.Time      `gorm:"not null"`
}

func (m *Message) GlobalID() string { return EncodeID(TypeMessage, m.ID) }

// ExternalRef records where a ticket was pushed to (an OA system, a DingTalk
// to-do, a WeCom approval) and the id it has there.
type ExternalRef struct {
	System     string    `json:"system"`
	ExternalID string    `json:"externalId"`
	URL        string    `json:"url,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Ticket is a work order.
type Ticket struct {
	ID           uint64        `gorm:"primaryKey"`
	TenantID     uint64        `gorm:"not null;uniqueIndex:ux_tickets_tenant_number,priority:1;index:ix_tickets_tenant_status,priority:1"`
	Number       int64         `gorm:"not null;uniqueIndex:ux_tickets_tenant_number,priority:2"`
	Title        string        `gorm:"size:500;not null"`
	Description  string        `gorm:"type:mediumtext;not null"`
	Category     string        `gorm:"size:100;not null;default:'';index"`
	Priority     Priority      `gorm:"size:16;not null"`
	Status       TicketStatus  `gorm:"size:16;not null;index:ix_tickets_tenant_status,priority:2"`
	CustomerID   *uint64       `gorm:"index"`
	AssigneeID   *uint64       `gorm:"index"`
	TeamID       *uint64       `gorm:"index"`
	CreatedByID  *uint64       ``
	DueAt        *time.Time    ``
	ExternalRefs []ExternalRef `gorm:"serializer:json;type:mediumtext"`
	ResolvedAt   *time.Time    ``
	ClosedAt     *time.Time    ``
	CreatedAt    time.Time     `gorm:"not null;index:ix_tickets_tenant_status,priority:3"`
	UpdatedAt    time.Time     `gorm:"not null"`
}

func (t *Ticket) GlobalID() string { return EncodeID(TypeTicket, t.ID) }

// Reference is the number staff and customers quote, e.g. "T-1024".
func (t *Ticket) Reference() string { return fmt.Sprintf("T-%d", t.Number) }

// AllowedTransitions lists the statuses this ticket may move to next.
func (t *Ticket) AllowedTransitions() []TicketStatus { return t.Status.NextStatuses() }

// TicketConversation links a ticket to a conversation it came from.
type TicketConversation struct {
	TicketID       uint64    `gorm:"primaryKey;autoIncrement:false"`
	ConversationID uint64    `gorm:"primaryKey;autoIncrement:false;index"`
	TenantID       uint64    `gorm:"not null"`
	CreatedAt      time.Time `gorm:"not null"`
}

// AuditEvent records who did what to which object, with before and after.
type AuditEvent struct {
	ID         uint64         `gorm:"primaryKey"`
	TenantID   uint64         `gorm:"not null;index:ix_audit_tenant_created,priority:1"`
	ActorType  ActorType      `gorm:"size:16;not null"`
	ActorID    *uint64        ``
	Action     string         `gorm:"size:64;not null;index"`
	ObjectType string         `gorm:"size:32;not null;index:ix_audit_object,priority:1"`
	ObjectID   uint64         `gorm:"not null;index:ix_audit_object,priority:2"`
	Before     map[string]any `gorm:"serializer:json;type:mediumtext"`
	After      map[string]any `gorm:"serializer:json;type:mediumtext"`
	CreatedAt  time.Time      `gorm:"not null;index:ix_audit_tenant_created,priority:2"`
}

func (a *AuditEvent) GlobalID() string { return EncodeID(TypeAuditEvent, a.ID) }

// ObjectGlobalID is the global ID of the object the event is about.
func (a *AuditEvent) ObjectGlobalID() string { return EncodeID(a.ObjectType, a.ObjectID) }

// Counter hands out per-tenant sequence numbers (conversation and ticket numbers).
type Counter struct {
	TenantID uint64 `gorm:"primaryKey;autoIncrement:false"`
	Name     string `gorm:"primaryKey;size:32"`
	Value    int64  `gorm:"not null"`
}

// RawEvent is an inbound platform event exactly as it arrived, kept so
// that an admin can see what a platform sent and replay it after a fix.
type RawEvent struct {
	ID         uint64         `gorm:"primaryKey"`
	TenantID   uint64         `gorm:"not null;index:ix_raw_events_tenant,priority:1"`
	ChannelID  uint64         `gorm:"not null;index"`
	ExternalID string         `gorm:"size:191;not null;default:''"`
	Payload    []byte         `gorm:"type:mediumblob"`
	Status     RawEventStatus `gorm:"size:16;not null"`
	Error      string         `gorm:"size:1000;not null;default:''"`
	ReceivedAt time.Time      `gorm:"not null"`
	// MessageID is the message the event became, if any.
	MessageID *uint64 ``
}

func (d *Delivery) GlobalID() string { return EncodeID(TypeDelivery, d.ID) }

func (r *RawEvent) GlobalID() string { return EncodeID(TypeRawEvent, r.ID) }

// PayloadText is the payload as text, for people to read.
func (r *RawEvent) PayloadText() string { return strings.ToValidUTF8(string(r.Payload), "\uFFFD") }

// Target is where work orders go: a DingTalk or WeCom app, a group robot,
// an OA system. Like a channel, its secret settings are sealed.
type Target struct {
	ID            uint64         `gorm:"primaryKey"`
	TenantID      uint64         `gorm:"not null;index"`
	Kind          TargetKind     `gorm:"size:32;not null"`
	Name          string         `gorm:"size:200;not null"`
	Settings      map[string]any `gorm:"serializer:json;type:mediumtext"`
	SecretKeys    []string       `gorm:"serializer:json;type:mediumtext"`
	SealedSecrets []byte         `gorm:"type:blob"`
	Enabled       bool           `gorm:"not null;default:true"`
	CreatedAt     time.Time      `gorm:"not null"`
	UpdatedAt     time.Time      `gorm:"not null"`
}

func (t *Target) GlobalID() string { return EncodeID(TypeTarget, t.ID) }

// DispatchRule says which ticket events go to which target, and how the
// message reads (a Go text/template over the ticket, customer and
// conversation).
type DispatchRule struct {
	ID       uint64        `gorm:"primaryKey"`
	TenantID uint64        `gorm:"not null;index"`
	Name     string        `gorm:"size:200;not null"`
	TargetID uint64        `gorm:"not null;index"`
	Events   []TicketEvent `gorm:"serializer:json;type:mediumtext"`
	// Condition narrows the tickets: keys teamId, category, priority,
	// channelKind, tag (absent: every ticket).
	Condition map[string]any `gorm:"serializer:json;type:mediumtext"`
	Template  string         `gorm:"type:mediumtext;not null"`
	Enabled   bool           `gorm:"not null;default:true"`
	CreatedAt time.Time      `gorm:"not null"`
	UpdatedAt time.Time      `gorm:"not null"`
}

func (r *DispatchRule) GlobalID() string { return EncodeID(TypeDispatchRule, r.ID) }

// Delivery is one outbound effect waiting for, or done by, the dispatcher:
// written in the same transaction as the change that causes it (outbox),
// claimed by one worker at a time, retried with backoff.
type Delivery struct {
	ID        uint64  `gorm:"primaryKey"`
	TenantID  uint64  `gorm:"not null;index"`
	Kind      string  `gorm:"size:32;not null"`
	ChannelID *uint64 ``
	MessageID *uint64 `gorm:"index"`
	// Work-order deliveries: the target, the ticket, the event, and the
	// document and text frozen when the event happened.
	TargetID      *uint64   `gorm:"index"`
	TicketID      *uint64   `gorm:"index"`
	Event         string    `gorm:"size:32;not null;default:''"`
	Document      []byte    `gorm:"type:mediumblob"`
	Title         string    `gorm:"size:500;not null;default:''"`
	Text          string    `gorm:"type:mediumtext"`
	Status        string    `gorm:"size:16;not null;index:ix_deliveries_due,priority:1"`
	Attempts      int       `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:ix_deliveries_due,priority:2"`
	ClaimedBy     string    `gorm:"size:36;not null;default:''"`
	ClaimedUntil  *time.Time
	LastError     string    `gorm:"size:1000;not null;default:''"`
	ExternalRef   string    `gorm:"size:191;not null;default:''"`
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`
}

// ChannelCursor is where fetching a channel's stream resumes (a WeCom
// sync_msg cursor per open_kfid, IMAP's last UID, Taobao messages to
// confirm). It moves in the transaction that stores what was fetched.
type ChannelCursor struct {
	ChannelID  uint64    `gorm:"primaryKey;autoIncrement:false"`
	Stream     string    `gorm:"primaryKey;size:191"`
	TenantID   uint64    `gorm:"not null"`
	Checkpoint string    `gorm:"type:mediumtext;not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

// PlatformToken is a platform access token shared by every replica, sealed
// at rest. Key is the connector's cache key (a hash, never the secret).
type PlatformToken struct {
	Key         string    `gorm:"column:token_key;primaryKey;size:191"`
	SealedToken []byte    `gorm:"type:blob;not null"`
	ExpiresAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

// ChangeEvent records a committed change so that the other replicas sharing
// the database can tell their subscribers. Rows are short-lived.
type ChangeEvent struct {
	ID        uint64    `gorm:"primaryKey"`
	TenantID  uint64    `gorm:"not null"`
	Kind      string    `gorm:"size:16;not null"`
	ObjectID  uint64    `gorm:"not null"`
	Origin    string    `gorm:"size:36;not null"`
	CreatedAt time.Time `gorm:"not null;index"`
}

// All lists every persisted model, in an order that satisfies references.
func All() []any {
	return []any{
		&Tenant{}, &User{}, &Team{}, &TeamMember{}, &APIToken{}, &Customer{}, &Identity{},
		&Channel{}, &Conversation{}, &Message{}, &Ticket{}, &TicketConversation{}, &AuditEvent{}, &Counter{}, &ChangeEvent{}, &RawEvent{}, &Delivery{}, &ChannelCursor{}, &Target{}, &DispatchRule{}, &PlatformToken{},
	}
}
