package models

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Enums are plain strings in the database and GraphQL enums on the API. Each
// type lists its values once; marshalling and validation derive from that list.

type Role string

const (
	RoleAdmin  Role = "ADMIN"
	RoleAgent  Role = "AGENT"
	RoleViewer Role = "VIEWER"
)

var AllRoles = []Role{RoleAdmin, RoleAgent, RoleViewer}

// Rank orders roles by power so that "at least AGENT" is a comparison.
func (r Role) Rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleAgent:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

type ChannelKind string

const (
	ChannelWeComKF  ChannelKind = "WECOM_KF"
	ChannelWeChatOA ChannelKind = "WECHAT_OA"
	ChannelTaobao   ChannelKind = "TAOBAO"
	ChannelApp      ChannelKind = "APP"
	ChannelEmail    ChannelKind = "EMAIL"
	ChannelWeb      ChannelKind = "WEB"
	// Staff bots: not customer channels, but where staff talk to kefuhub.
	ChannelDingTalkBot ChannelKind = "DINGTALK_BOT"
	ChannelWeComApp    ChannelKind = "WECOM_APP"
)

var AllChannelKinds = []ChannelKind{ChannelWeComKF, ChannelWeChatOA, ChannelTaobao, ChannelApp, ChannelEmail, ChannelWeb,
	ChannelDingTalkBot, ChannelWeComApp}

type ConversationStatus string

const (
	ConversationOpen     ConversationStatus = "OPEN"
	ConversationPending  ConversationStatus = "PENDING"
	ConversationSnoozed  ConversationStatus = "SNOOZED"
	ConversationResolved ConversationStatus = "RESOLVED"
)

var AllConversationStatuses = []ConversationStatus{ConversationOpen, ConversationPending, ConversationSnoozed, ConversationResolved}

type Priority string

const (
	PriorityLow    Priority = "LOW"
	PriorityNormal Priority = "NORMAL"
	PriorityHigh   Priority = "HIGH"
	PriorityUrgent Priority = "URGENT"
)

var AllPriorities = []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}

// Rank orders priorities so that tickets and conversations sort by urgency.
func (p Priority) Rank() int { return slices.Index(AllPriorities, p) }

type MessageDirection string

const (
	DirectionInbound  MessageDirection = "INBOUND"
	DirectionOutbound MessageDirection = "OUTBOUND"
)

var AllMessageDirections = []MessageDirection{DirectionInbound, DirectionOutbound}

type SenderType string

const (
	SenderCustomer SenderType = "CUSTOMER"
	SenderStaff    SenderType = "STAFF"
	SenderBot      SenderType = "BOT"
	SenderSystem   SenderType = "SYSTEM"
)

var AllSenderTypes = []SenderType{SenderCustomer, SenderStaff, SenderBot, SenderSystem}

type DeliveryStatus string

const (
	DeliveryNone    DeliveryStatus = "NONE"
	DeliveryPending DeliveryStatus = "PENDING"
	DeliverySent    DeliveryStatus = "SENT"
	DeliveryFailed  DeliveryStatus = "FAILED"
)

var AllDeliveryStatuses = []DeliveryStatus{DeliveryNone, DeliveryPending, DeliverySent, DeliveryFailed}

type TicketStatus string

const (
	TicketNew      TicketStatus = "NEW"
	TicketOpen     TicketStatus = "OPEN"
	TicketPending  TicketStatus = "PENDING"
	TicketResolved TicketStatus = "RESOLVED"
	TicketClosed   TicketStatus = "CLOSED"
)

var AllTicketStatuses = []TicketStatus{TicketNew, TicketOpen, TicketPending, TicketResolved, TicketClosed}

// ticketTransitions is the work-order life cycle: a ticket is worked (OPEN),
// may wait on someone (PENDING), is resolved, and is closed for good once the
// resolution holds. A resolved ticket can be reopened; a closed one cannot.
var ticketTransitions = map[TicketStatus][]TicketStatus{
	TicketNew:      {TicketOpen, TicketPending, TicketResolved, TicketClosed},
	TicketOpen:     {TicketPending, TicketResolved, TicketClosed},
	TicketPending:  {TicketOpen, TicketResolved, TicketClosed},
	TicketResolved: {TicketOpen, TicketClosed},
	TicketClosed:   {},
}

// CanTransitionTo reports whether a ticket may move from s to next.
func (s TicketStatus) CanTransitionTo(next TicketStatus) bool {
	return slices.Contains(ticketTransitions[s], next)
}

// NextStatuses lists where a ticket in status s may go.
func (s TicketStatus) NextStatuses() []TicketStatus {
	return slices.Clone(ticketTransitions[s])
}

type ActorType string

const (
	ActorUser   ActorType = "USER"
	ActorSystem ActorType = "SYSTEM"
)

var AllActorTypes = []ActorType{ActorUser, ActorSystem}

type enum interface {
	~string
}

func unmarshalEnum[T enum](v any, all []T, dst *T) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("enums must be strings")
	}
	if !slices.Contains(all, T(s)) {
		return fmt.Errorf("%q is not a valid value", s)
	}
	*dst = T(s)
	return nil
}

func marshalEnum[T enum](w io.Writer, v T) {
	_, _ = io.WriteString(w, strconv.Quote(string(v)))
}

// Valid reports whether v is one of the declared values of its enum.
func Valid[T enum](v T, all []T) bool { return slices.Contains(all, v) }

func (e *Role) UnmarshalGQL(v any) error        { return unmarshalEnum(v, AllRoles, e) }
func (e Role) MarshalGQL(w io.Writer)           { marshalEnum(w, e) }
func (e *ChannelKind) UnmarshalGQL(v any) error { return unmarshalEnum(v, AllChannelKinds, e) }
func (e ChannelKind) MarshalGQL(w io.Writer)    { marshalEnum(w, e) }
func (e *ConversationStatus) UnmarshalGQL(v any) error {
	return unmarshalEnum(v, AllConversationStatuses, e)
}
func (e ConversationStatus) MarshalGQL(w io.Writer) { marshalEnum(w, e) }
func (e *Priority) UnmarshalGQL(v any) error        { return unmarshalEnum(v, AllPriorities, e) }
func (e Priority) MarshalGQL(w io.Writer)           { marshalEnum(w, e) }
func (e *MessageDirection) UnmarshalGQL(v any) error {
	return unmarshalEnum(v, AllMessageDirections, e)
}
func (e MessageDirection) MarshalGQL(w io.Writer)  { marshalEnum(w, e) }
func (e *SenderType) UnmarshalGQL(v any) error     { return unmarshalEnum(v, AllSenderTypes, e) }
func (e SenderType) MarshalGQL(w io.Writer)        { marshalEnum(w, e) }
func (e *DeliveryStatus) UnmarshalGQL(v any) error { return unmarshalEnum(v, AllDeliveryStatuses, e) }
func (e DeliveryStatus) MarshalGQL(w io.Writer)    { marshalEnum(w, e) }
func (e *TicketStatus) UnmarshalGQL(v any) error   { return unmarshalEnum(v, AllTicketStatuses, e) }
func (e TicketStatus) MarshalGQL(w io.Writer)      { marshalEnum(w, e) }
func (e *ActorType) UnmarshalGQL(v any) error      { return unmarshalEnum(v, AllActorTypes, e) }
func (e ActorType) MarshalGQL(w io.Writer)         { marshalEnum(w, e) }

type RawEventStatus string

const (
	RawStored    RawEventStatus = "STORED"
	RawDuplicate RawEventStatus = "DUPLICATE"
	RawFailed    RawEventStatus = "FAILED"
)

var AllRawEventStatuses = []RawEventStatus{RawStored, RawDuplicate, RawFailed}

func (e *RawEventStatus) UnmarshalGQL(v any) error { return unmarshalEnum(v, AllRawEventStatuses, e) }
func (e RawEventStatus) MarshalGQL(w io.Writer)    { marshalEnum(w, e) }

type TargetKind string

const (
	TargetDingTalkWorkNotice TargetKind = "DINGTALK_WORK_NOTICE"
	TargetDingTalkTodo       TargetKind = "DINGTALK_TODO"
	TargetDingTalkApproval   TargetKind = "DINGTALK_APPROVAL"
	TargetDingTalkRobot      TargetKind = "DINGTALK_ROBOT"
	TargetWeComAppMessage    TargetKind = "WECOM_APP_MESSAGE"
	TargetWeComApproval      TargetKind = "WECOM_APPROVAL"
	TargetWeComRobot         TargetKind = "WECOM_ROBOT"
	TargetOAWebhook          TargetKind = "OA_WEBHOOK"
)

var AllTargetKinds = []TargetKind{TargetDingTalkWorkNotice, TargetDingTalkTodo, TargetDingTalkApproval, TargetDingTalkRobot,
	TargetWeComAppMessage, TargetWeComApproval, TargetWeComRobot, TargetOAWebhook}

func (e *TargetKind) UnmarshalGQL(v any) error { return unmarshalEnum(v, AllTargetKinds, e) }
func (e TargetKind) MarshalGQL(w io.Writer)    { marshalEnum(w, e) }

// TicketEvent is a change of a ticket that dispatch rules react to.
type TicketEvent string

const (
	TicketCreated   TicketEvent = "TICKET_CREATED"
	TicketUpdated   TicketEvent = "TICKET_UPDATED"
	TicketAssigned  TicketEvent = "TICKET_ASSIGNED"
	TicketResolvedE TicketEvent = "TICKET_RESOLVED"
	TicketReopened  TicketEvent = "TICKET_REOPENED"
	TicketCommented TicketEvent = "TICKET_COMMENTED"
)

var AllTicketEvents = []TicketEvent{TicketCreated, TicketUpdated, TicketAssigned, TicketResolvedE, TicketReopened, TicketCommented}

// WireName is the event's name in webhook documents, e.g. "ticket.created".
func (e TicketEvent) WireName() string {
	return "ticket." + strings.ToLower(strings.TrimPrefix(string(e), "TICKET_"))
}

func (e *TicketEvent) UnmarshalGQL(v any) error { return unmarshalEnum(v, AllTicketEvents, e) }
func (e TicketEvent) MarshalGQL(w io.Writer)    { marshalEnum(w, e) }
