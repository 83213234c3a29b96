package connectors

import (
	"context"
	"time"

	"github.com/kefuhub/kefuhub/models"
)

// Targets are where work orders go: DingTalk, WeCom, an OA system. A
// target connector delivers one work-order event; the dispatcher retries.

// TargetSpec describes a target kind's settings.
type TargetSpec struct {
	Kind   models.TargetKind
	Label  string
	Fields []Field
	// Setup tells the admin what to configure on the other side;
	// {callbackUrl} is replaced by the target's callback URL.
	Setup string
}

// Normalize checks settings against the spec (see Spec.Normalize).
func (s TargetSpec) Normalize(in map[string]any) (map[string]string, error) {
	return normalize(string(s.Kind)+" targets", s.Fields, in)
}

// SecretKeys lists the names of the secret settings.
func (s TargetSpec) SecretKeys() []string { return secretKeys(s.Fields) }

// WorkOrder is one event of a ticket to deliver to a target.
type WorkOrder struct {
	// DeliveryID stays the same across retries; targets that deduplicate
	// use it (OA delivery ids, DingTalk sourceId and msgUuid).
	DeliveryID string
	// Event is the ticket event, e.g. "ticket.created".
	Event      string
	OccurredAt time.Time
	// Document is the versioned JSON document of the event (schema in
	// docs/oa-webhook): ticket, customer, conversation excerpt, performedBy.
	Document []byte
	// Title and Text are the message rendered from the rule's template,
	// for targets that show text (work notices, robots).
	Title, Text string
	// TicketRef is the ticket's reference (T-1024).
	TicketRef string
}

// DeliverResult is what the target made of a work order.
type DeliverResult struct {
	// ExternalID is the target's id for it (an OA id, a DingTalk task id,
	// a WeCom sp_no); empty when the target gives none.
	ExternalID string
	URL        string
}

// Target is a target connector configured for one target.
type Target interface {
	Deliver(ctx context.Context, wo WorkOrder) (DeliverResult, error)
	Test(ctx context.Context) error
}

// DoneWatcher is a Target whose work orders staff can finish on the
// platform (a DingTalk to-do ticked off). When WatchDone says so (a target
// setting), the hub asks about the work orders of open tickets now and then
// and resolves a ticket whose work order is done.
type DoneWatcher interface {
	WatchDone() bool
	// Done reports whether the work order externalID is finished.
	Done(ctx context.Context, externalID string) (bool, error)
}

// TargetConnector builds targets of one kind.
type TargetConnector struct {
	Spec TargetSpec
	New  func(Config) (Target, error)
}

// WithTargets adds target connectors; a kind registered twice panics.
func (r *Registry) WithTargets(ts ...TargetConnector) *Registry {
	for _, t := range ts {
		if _, dup := r.targets[t.Spec.Kind]; dup {
			panic("connectors: target kind registered twice: " + string(t.Spec.Kind))
		}
		r.targets[t.Spec.Kind] = t
	}
	return r
}

// LookupTarget returns the target connector of kind k.
func (r *Registry) LookupTarget(k models.TargetKind) (TargetConnector, bool) {
	if r == nil {
		return TargetConnector{}, false
	}
	t, ok := r.targets[k]
	return t, ok
}
