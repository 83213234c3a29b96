package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Some platforms are fetched from rather than pushed to: a WeCom callback
// only says "sync now", Taobao's TMC and IMAP are polled. The hub keeps each
// stream's cursor in channel_cursors and moves it in the same transaction
// that stores the fetched events, with a compare-and-set, so a platform that
// is down leaves the cursor where it was, nothing is skipped, and two
// replicas fetching the same page store it once.

// maxSyncPages bounds one sync run; the rest waits for the next one.
const maxSyncPages = 50

// errCursorMoved means another replica stored the page first.
var errCursorMoved = errors.New("hub: cursor moved underneath")

// syncLocks serializes syncs of one stream in this process.
type syncLocks struct{ m sync.Map }

func (s *syncLocks) lock(key string) func() {
	v, _ := s.m.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// SyncChannel fetches and stores the waiting events of one stream of a
// channel, page after page. It returns how many messages it stored.
func (h *Hub) SyncChannel(ctx context.Context, ch *models.Channel, hint connectors.SyncHint) (int, error) {
	conn, err := h.openChannel(ch)
	if err != nil {
		return 0, err
	}
	syncer, ok := conn.(connectors.Syncer)
	if !ok {
		return 0, fmt.Errorf("hub: %s channels are not fetched", ch.Kind)
	}
	unlock := h.syncLocks.lock(fmt.Sprintf("%d/%s", ch.ID, hint.Key))
	defer unlock()
	stored := 0
	for page := 0; page < maxSyncPages; page++ {
		cursor, err := h.loadCursor(ctx, ch.ID, hint.Key)
		if err != nil {
			return stored, err
		}
		res, err := syncer.Sync(ctx, cursor, hint)
		if err != nil {
			return stored, fmt.Errorf("hub: sync %s: %w", ch.Kind, err)
		}
		in, err := h.ingest(ctx, ch, res.Events, &cursorMove{key: hint.Key, from: cursor, to: res.Cursor})
		if errors.Is(err, errCursorMoved) {
			return stored, nil // another replica is on it
		}
		if err != nil {
			return stored, err
		}
		stored += len(in.Messages)
		if !res.More {
			break
		}
	}
	return stored, nil
}

func (h *Hub) loadCursor(ctx context.Context, channelID uint64, key string) (string, error) {
	var c models.ChannelCursor
	err := h.conn(ctx).Where("channel_id = ? AND stream = ?", channelID, key).Take(&c).Error
	if store.IsNotFound(err) {
		return "", nil
	}
	return c.Checkpoint, err
}

// cursorMove is a cursor change to commit with a page of events.
type cursorMove struct {
	key      string
	from, to string
}

// moveCursor sets the stream's cursor if it still is where the page was
// fetched from.
func (h *Hub) moveCursor(tx *gorm.DB, ch *models.Channel, mv *cursorMove) error {
	if mv.from == mv.to {
		return nil
	}
	now := h.now()
	if mv.from == "" {
		var n int64
		if err := tx.Model(&models.ChannelCursor{}).Where("channel_id = ? AND stream = ?", ch.ID, mv.key).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			err := tx.Create(&models.ChannelCursor{ChannelID: ch.ID, Stream: mv.key, TenantID: ch.TenantID, Checkpoint: mv.to, UpdatedAt: now}).Error
			if store.IsDuplicate(err) {
				return errCursorMoved
			}
			return err
		}
	}
	res := tx.Model(&models.ChannelCursor{}).Where("channel_id = ? AND stream = ? AND checkpoint = ?", ch.ID, mv.key, mv.from).
		Updates(map[string]any{"checkpoint": mv.to, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errCursorMoved
	}
	return nil
}

// SyncAfterCallback runs a callback's sync once the platform has been
// answered. It is tracked so that shutdown waits for it; a sync cut short
// leaves the cursor where it was, and the next callback or poll resumes.
func (h *Hub) SyncAfterCallback(ch *models.Channel, hint connectors.SyncHint) {
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		ctx, cancel := context.WithTimeout(h.bgCtx, 2*time.Minute)
		defer cancel()
		if _, err := h.SyncChannel(ctx, ch, hint); err != nil && ctx.Err() == nil {
			h.log.Warn("sync after callback", "channel", ch.GlobalID(), "kind", ch.Kind, "err", err)
		}
	}()
}

// pollLoop fetches every enabled channel whose connector polls, each as
// often as it asks, until the hub closes.
func (h *Hub) pollLoop() {
	defer h.background.Done()
	next := map[uint64]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-h.bgCtx.Done():
			return
		case <-tick.C:
		}
		var chans []*models.Channel
		if err := h.conn(h.bgCtx).Where("enabled = ?", true).Find(&chans).Error; err != nil {
			continue
		}
		now := time.Now()
		for _, ch := range chans {
			if _, ok := h.connectors.Lookup(ch.Kind); !ok || now.Before(next[ch.ID]) {
				continue
			}
			full, err := h.openChannel(ch)
			if err != nil {
				continue
			}
			poller, ok := full.(connectors.Poller)
			if !ok {
				next[ch.ID] = now.Add(time.Hour)
				continue
			}
			next[ch.ID] = now.Add(poller.PollEvery())
			for _, key := range poller.PollKeys() {
				ctx, cancel := context.WithTimeout(h.bgCtx, time.Minute)
				if _, err := h.SyncChannel(ctx, ch, connectors.SyncHint{Key: key}); err != nil && h.bgCtx.Err() == nil {
					h.log.Warn("poll", "channel", ch.GlobalID(), "kind", ch.Kind, "key", key, "err", err)
				}
				cancel()
			}
		}
	}
}

// StartPolling fetches the channels whose platforms are polled (Taobao,
// email), until Close.
func (h *Hub) StartPolling() {
	h.background.Add(1)
	go h.pollLoop()
}
