package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// WebhookURL is where the channel's platform calls kefuhub.
func (h *Hub) WebhookURL(ch *models.Channel) string {
	return strings.TrimRight(h.publicURL, "/") + "/webhooks/" + ch.GlobalID()
}

// ChannelSetup tells an admin how to connect the channel on the platform.
func (h *Hub) ChannelSetup(ch *models.Channel) string {
	c, ok := h.connectors.Lookup(ch.Kind)
	if !ok {
		return ""
	}
	return strings.ReplaceAll(c.Spec.Setup, "{webhookUrl}", h.WebhookURL(ch))
}

// openChannel builds the connector of a channel with its settings, secret
// ones opened.
func (h *Hub) openChannel(ch *models.Channel) (connectors.Channel, error) {
	c, ok := h.connectors.Lookup(ch.Kind)
	if !ok {
		return nil, fmt.Errorf("hub: no connector for %s channels", ch.Kind)
	}
	settings := map[string]string{}
	for k, v := range ch.Settings {
		settings[k] = fmt.Sprint(v)
	}
	secrets, err := h.ChannelSecrets(ch)
	if err != nil {
		return nil, err
	}
	for k, v := range secrets {
		settings[k] = fmt.Sprint(v)
	}
	return c.New(connectors.Config{ChannelID: ch.GlobalID(), Settings: settings, WebhookURL: h.WebhookURL(ch),
		BaseURL: h.baseURLs[ch.Kind], HTTPClient: h.httpClient, Now: h.now, Tokens: tokenStore{h}})
}

// ErrNoWebhook means the channel does not exist, is disabled, or does not
// receive webhooks.
var ErrNoWebhook = errors.New("hub: no such webhook")

// WebhookChannel finds the channel a webhook URL names and its connector.
// The URL is the only credential-free part of a webhook; the connector then
// verifies the request itself.
func (h *Hub) WebhookChannel(ctx context.Context, gid string) (*models.Channel, connectors.WebhookReceiver, error) {
	id, err := models.DecodeIDOf(models.TypeChannel, gid)
	if err != nil {
		return nil, nil, ErrNoWebhook
	}
	ch := &models.Channel{}
	err = h.conn(ctx).Where("id = ?", id).Take(ch).Error
	if store.IsNotFound(err) || (err == nil && !ch.Enabled) {
		return nil, nil, ErrNoWebhook
	}
	if err != nil {
		return nil, nil, err
	}
	conn, err := h.openChannel(ch)
	if err != nil {
		if _, ok := h.connectors.Lookup(ch.Kind); !ok {
			return nil, nil, ErrNoWebhook
		}
		return nil, nil, err
	}
	recv, ok := conn.(connectors.WebhookReceiver)
	if !ok {
		return nil, nil, ErrNoWebhook
	}
	return ch, recv, nil
}

// CountWebhookRejection counts a webhook that failed verification on this
// replica and returns the channel's total; nothing else of it is kept.
func (h *Hub) CountWebhookRejection(channelID uint64) int64 {
	v, _ := h.rejections.LoadOrStore(channelID, new(atomic.Int64))
	return v.(*atomic.Int64).Add(1)
}

// WebhookRejections is how many webhooks of the channel failed
// verification on this replica since it started.
func (h *Hub) WebhookRejections(channelID uint64) int64 {
	if v, ok := h.rejections.Load(channelID); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// ParcelTrace asks a channel's platform where an order's parcel is (AGENT).
func (h *Hub) ParcelTrace(ctx context.Context, channelGID, orderID string) (*models.ParcelTrace, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("channelId", models.TypeChannel, channelGID)
	if err != nil {
		return nil, err
	}
	orderID = strings.TrimSpace(orderID)
	if orderID == "" || len(orderID) > 64 {
		return nil, &Error{Code: CodeBadInput, Message: "orderId must be 1 to 64 characters", Field: []string{"orderId"}}
	}
	ch := &models.Channel{}
	if err := load(h.conn(ctx), p, ch, id, "channelId", models.TypeChannel); err != nil {
		if e, ok := AsError(err); ok {
			e.Field = []string{"channelId"}
		}
		return nil, err
	}
	conn, err := h.openChannel(ch)
	if err != nil {
		return nil, &Error{Code: CodeBadInput, Message: fmt.Sprintf("%s channels cannot track parcels", ch.Kind), Field: []string{"channelId"}}
	}
	tracker, ok := conn.(connectors.ParcelTracker)
	if !ok {
		return nil, &Error{Code: CodeBadInput, Message: fmt.Sprintf("%s channels cannot track parcels", ch.Kind), Field: []string{"channelId"}}
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	t, err := tracker.TrackParcel(tctx, orderID)
	if err != nil {
		var perm *connectors.PermanentError
		if errors.As(err, &perm) {
			return nil, &Error{Code: CodeConflict, Message: perm.Reason}
		}
		return nil, fmt.Errorf("hub: parcel trace: %w", err)
	}
	out := &models.ParcelTrace{OrderID: t.OrderID, Carrier: t.Carrier, TrackingNo: t.TrackingNo, Status: t.Status, Steps: []*models.ParcelStep{}}
	for _, s := range t.Steps {
		step := &models.ParcelStep{Description: s.Description}
		if !s.At.IsZero() {
			at := s.At
			step.At = &at
		}
		out.Steps = append(out.Steps, step)
	}
	return out, nil
}
