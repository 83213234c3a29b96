package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Work orders finished on the platform. Some targets let staff finish the
// work order where they received it (a DingTalk to-do ticked off) without
// telling kefuhub; when the target's settings ask for it, the hub asks the
// platform about the work orders of open tickets and resolves the tickets
// whose work order is done. The change is made via that target, so nothing
// is sent back to it.

// doneComment is the resolution comment of a ticket whose work order was
// finished on its target.
const doneComment = "工单已在「%s」中完成"

// CheckDoneWorkOrders asks every watching target about the work orders of
// its open tickets and resolves those that are done; it returns how many
// tickets it resolved. Errors of one target are logged and the others are
// still checked; the first is returned.
func (h *Hub) CheckDoneWorkOrders(ctx context.Context) (int, error) {
	var targets []*models.Target
	if err := h.conn(ctx).Where("enabled = ?", true).Order("id").Find(&targets).Error; err != nil {
		return 0, fmt.Errorf("hub: done work orders: %w", err)
	}
	resolved := 0
	var first error
	for _, t := range targets {
		if _, ok := h.connectors.LookupTarget(t.Kind); !ok {
			continue
		}
		open, err := h.openTarget(t)
		if err != nil {
			continue // the dispatcher reports targets that cannot be opened
		}
		w, ok := open.(connectors.DoneWatcher)
		if !ok || !w.WatchDone() {
			continue
		}
		n, err := h.checkTarget(ctx, t, w)
		resolved += n
		if err != nil {
			h.log.Warn("done work orders", "target", t.GlobalID(), "kind", t.Kind, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return resolved, first
}

func (h *Hub) checkTarget(ctx context.Context, target *models.Target, w connectors.DoneWatcher) (int, error) {
	system := string(target.Kind) + ":" + target.GlobalID()
	var tickets []*models.Ticket
	err := h.conn(ctx).Scopes(store.Tenant(target.TenantID)).
		Where("status IN ?", []models.TicketStatus{models.TicketNew, models.TicketOpen, models.TicketPending}).
		Where("external_refs"+likeEscape, likePattern(`"system":`+jsonQuoted(system))).
		Order("id").Find(&tickets).Error
	if err != nil {
		return 0, err
	}
	p := Principal{TenantID: target.TenantID, Role: models.RoleAdmin, ViaTargetID: target.ID}
	resolved := 0
	var first error
	for _, t := range tickets {
		for _, ref := range t.ExternalRefs {
			if ref.System != system {
				continue
			}
			done, err := w.Done(ctx, ref.ExternalID)
			if err != nil {
				// One work order the platform cannot answer about (deleted
				// there, say) must not stop the others being checked.
				if first == nil {
					first = fmt.Errorf("ticket %s: %w", t.Reference(), err)
				}
				if ctx.Err() != nil {
					return resolved, first
				}
				break
			}
			if !done {
				continue
			}
			comment := fmt.Sprintf(doneComment, target.Name)
			_, err = h.TransitionTicket(WithPrincipal(ctx, p), models.TransitionTicketInput{
				ID: t.GlobalID(), Status: models.TicketResolved, Comment: &comment})
			switch e, ok := AsError(err); {
			case ok && e.Code == CodeBadInput:
				// Another replica or an agent moved it meanwhile.
			case err != nil:
				return resolved, err
			default:
				resolved++
			}
			break
		}
	}
	return resolved, first
}

// watchDoneLoop runs CheckDoneWorkOrders every interval until Close.
func (h *Hub) watchDoneLoop(every time.Duration) {
	defer h.background.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-h.bgCtx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(h.bgCtx, every)
		_, _ = h.CheckDoneWorkOrders(ctx)
		cancel()
	}
}

// StartWatchingDone checks the work orders of watching targets every
// interval (default a minute), until Close.
func (h *Hub) StartWatchingDone(every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	h.background.Add(1)
	go h.watchDoneLoop(every)
}
