package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/signing"
	"github.com/kefuhub/kefuhub/hub"
)

// maxWebhookBytes bounds a platform's webhook body.
const maxWebhookBytes = 1 << 20

// webhooks receives platform callbacks at /webhooks/{channelId}: find the
// channel, let its connector verify and decode the request, commit what it
// carried, then answer the platform. Nothing is acknowledged before it is
// committed; a request that fails verification stores nothing.
func webhooks(h *hub.Hub, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := logFrom(r.Context(), log)
		gid := r.PathValue("channelId")
		ch, recv, err := h.WebhookChannel(r.Context(), gid)
		if errors.Is(err, hub.ErrNoWebhook) {
			http.Error(w, "unknown or disabled channel", http.StatusNotFound)
			return
		}
		if err != nil {
			l.Error("webhook: open channel", "channel", gid, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		if r.ContentLength > maxWebhookBytes {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBytes+1))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if len(body) > maxWebhookBytes {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		res, err := recv.HandleWebhook(r.Context(), connectors.WebhookRequest{
			Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body,
		})
		var verr *connectors.VerifyError
		var berr *connectors.BadRequestError
		switch {
		case errors.As(err, &verr):
			n := h.CountWebhookRejection(ch.ID)
			l.Warn("webhook: verification failed", "channel", gid, "kind", ch.Kind, "reason", verr.Reason, "rejected_total", n)
			http.Error(w, verr.Error(), http.StatusUnauthorized)
			return
		case errors.As(err, &berr):
			l.Warn("webhook: malformed", "channel", gid, "kind", ch.Kind, "reason", berr.Reason)
			http.Error(w, berr.Error(), http.StatusBadRequest)
			return
		case err != nil:
			l.Error("webhook: connector", "channel", gid, "kind", ch.Kind, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		if res.Approval != nil {
			// Committed before the platform is answered, like any event.
			if err := h.ApplyApproval(r.Context(), ch, *res.Approval); err != nil {
				l.Error("webhook: approval", "channel", gid, "err", err)
				http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		if len(res.Events) > 0 {
			if _, err := h.Ingest(r.Context(), ch, res.Events); err != nil {
				l.Error("webhook: ingest", "channel", gid, "err", err)
				// Keep what arrived for an admin to replay; if even that
				// fails, do not acknowledge, and the platform delivers again.
				if rerr := h.RecordFailed(r.Context(), ch, res.Events, err); rerr != nil {
					l.Error("webhook: keep failed events", "channel", gid, "err", rerr)
					http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
					return
				}
			}
		}
		status := res.Response.Status
		if status == 0 {
			status = http.StatusOK
		}
		if res.Response.ContentType != "" {
			w.Header().Set("Content-Type", res.Response.ContentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write(res.Response.Body)
		if res.Bot != nil {
			h.AnswerBot(ch, *res.Bot)
		}
		if res.Sync != nil {
			// The platform is answered within its deadline; fetching what it
			// announced happens after.
			h.SyncAfterCallback(ch, *res.Sync)
		}
	})
}

// oaCallbacks receives OA systems' changes at /webhooks/oa/{targetId},
// signed like the work orders kefuhub sends them.
func oaCallbacks(h *hub.Hub, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := logFrom(r.Context(), log)
		gid := r.PathValue("targetId")
		if r.Method != http.MethodPost {
			http.Error(w, "POST a signed change", http.StatusMethodNotAllowed)
			return
		}
		t, secret, err := h.OATarget(r.Context(), gid)
		if errors.Is(err, hub.ErrNoWebhook) {
			http.Error(w, "unknown or disabled OA target", http.StatusNotFound)
			return
		}
		if err != nil {
			l.Error("oa callback: open target", "target", gid, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBytes+1))
		if err != nil || len(body) > maxWebhookBytes {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		if err := signing.Verify(r.Header, secret, time.Now(), body); err != nil {
			l.Warn("oa callback: verification failed", "target", gid, "reason", err.Error())
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var change hub.OAChange
		if err := json.Unmarshal(body, &change); err != nil {
			http.Error(w, "body is not a JSON change", http.StatusBadRequest)
			return
		}
		ticket, err := h.ApplyOAChange(r.Context(), t, change)
		if err != nil {
			if he, ok := hub.AsError(err); ok {
				status := http.StatusBadRequest
				if he.Code == hub.CodeNotFound {
					status = http.StatusNotFound
				}
				writeJSON(w, status, map[string]any{"error": he.Message, "code": he.Code})
				return
			}
			l.Error("oa callback: apply", "target", gid, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ticket": ticket.Reference(), "status": ticket.Status})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
