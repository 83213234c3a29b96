package hub

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
)

// Webhook ingests are committed in groups: while one transaction runs, the
// requests that arrive queue up, and the next transaction takes them all
// (up to maxGroup). Every request still returns only after the commit that
// holds its events, so nothing is acknowledged before it is durable; what
// changes is that a burst costs one commit instead of one per request. If
// any request of a group fails, the group is rolled back and its requests
// are committed one by one, so that one bad request fails alone.
// (Savepoints would isolate them too, but cost SQLite more than the
// commits they save.)

const maxGroup = 64

type ingestReq struct {
	ch     *models.Channel
	events []connectors.InboundEvent
	done   chan ingestResp
}

type ingestResp struct {
	res *IngestResult
	err error
}

// startGroupCommit runs the group committer until the hub closes.
func (h *Hub) startGroupCommit() {
	h.ingestQueue = make(chan *ingestReq, 1024)
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		for {
			var first *ingestReq
			select {
			case <-h.bgCtx.Done():
				h.drainIngest(fmt.Errorf("hub: shutting down"))
				return
			case first = <-h.ingestQueue:
			}
			group := []*ingestReq{first}
		fill:
			for len(group) < maxGroup {
				select {
				case r := <-h.ingestQueue:
					group = append(group, r)
				default:
					break fill
				}
			}
			h.commitGroup(group)
		}
	}()
}

func (h *Hub) drainIngest(err error) {
	for {
		select {
		case r := <-h.ingestQueue:
			r.done <- ingestResp{err: err}
		default:
			return
		}
	}
}

// ingestGrouped queues a request for the group committer and waits for
// its commit.
func (h *Hub) ingestGrouped(ctx context.Context, ch *models.Channel, events []connectors.InboundEvent) (*IngestResult, error) {
	r := &ingestReq{ch: ch, events: events, done: make(chan ingestResp, 1)}
	select {
	case h.ingestQueue <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.bgCtx.Done():
		return nil, fmt.Errorf("hub: shutting down")
	}
	// Once queued, the request is committed or refused whatever the caller
	// does: wait for the answer.
	resp := <-r.done
	return resp.res, resp.err
}

// commitGroup stores a group of ingest requests in one transaction.
func (h *Hub) commitGroup(group []*ingestReq) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.bgCtx), time.Minute)
	defer cancel()
	if len(group) == 1 {
		res, err := h.ingest(ctx, group[0].ch, group[0].events, nil)
		group[0].done <- ingestResp{res: res, err: err}
		return
	}
	results := make([]*IngestResult, len(group))
	evs := make([]pending, len(group))
	err := h.store.Tx(ctx, func(tx *gorm.DB) error {
		for i, r := range group {
			results[i] = &IngestResult{}
			if err := h.ingestEvents(tx, r.ch, r.events, results[i], &evs[i]); err != nil {
				return err
			}
			if h.relayed {
				if err := h.recordEvents(tx, r.ch.TenantID, evs[i].events); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, r := range group {
			res, err := h.ingest(ctx, r.ch, r.events, nil)
			r.done <- ingestResp{res: res, err: err}
		}
		return
	}
	for i, r := range group {
		h.versions.bump(r.ch.TenantID)
		for _, e := range evs[i].events {
			h.bus.Publish(e)
		}
		r.done <- ingestResp{res: results[i]}
	}
}
