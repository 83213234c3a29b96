// Package oa delivers work orders to a company's OA system as signed JSON
// webhooks (package signing: X-Kefuhub-Event, X-Kefuhub-Delivery,
// X-Kefuhub-Timestamp, X-Kefuhub-Signature), with the versioned document
// described in docs/oa-webhook. The delivery id stays the same across
// retries, so an OA system that keeps what it has seen never creates a
// work order twice. The OA system answers 2xx, optionally with
// {"id": "...", "url": "..."}: its own reference for the work order.
package oa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/signing"
	"github.com/kefuhub/kefuhub/models"
)

// Connector is the OA_WEBHOOK target kind.
func Connector() connectors.TargetConnector {
	return connectors.TargetConnector{Spec: spec, New: New}
}

var spec = connectors.TargetSpec{
	Kind:  models.TargetOAWebhook,
	Label: "OA system (signed webhook)",
	Fields: []connectors.Field{
		{Name: "url", Label: "The OA system's URL that receives work-order events", Required: true, Validate: httpURL},
		{Name: "secret", Label: "Signing secret shared with the OA system", Secret: true, Required: true, Validate: func(s string) error {
			if len(s) < 16 {
				return errors.New("must be at least 16 characters")
			}
			return nil
		}},
	},
	Setup: "The OA system receives POSTs at its url, signed with the secret; to change a ticket it POSTs to " +
		"{callbackUrl}, signed the same way.",
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	return nil
}

type target struct {
	url, secret string
	client      *resty.Client
	now         func() time.Time
}

var _ connectors.Target = (*target)(nil)

// New builds an OA target from its settings.
func New(cfg connectors.Config) (connectors.Target, error) {
	t := &target{url: cfg.Settings["url"], secret: cfg.Settings["secret"], now: cfg.Now}
	if t.url == "" || t.secret == "" {
		return nil, errors.New("oa: url and secret are required")
	}
	if t.now == nil {
		t.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	t.client = resty.NewWithClient(hc)
	return t, nil
}

// Deliver posts the work-order document.
func (t *target) Deliver(ctx context.Context, wo connectors.WorkOrder) (connectors.DeliverResult, error) {
	resp, err := t.post(ctx, wo.Event, wo.DeliveryID, wo.Document)
	if err != nil {
		return connectors.DeliverResult{}, &connectors.RetryableError{Err: fmt.Errorf("oa: deliver: %w", err)}
	}
	code := resp.StatusCode()
	switch {
	case code >= 200 && code < 300:
		var out struct {
			ID  any    `json:"id"`
			URL string `json:"url"`
		}
		_ = json.Unmarshal(resp.Body(), &out)
		res := connectors.DeliverResult{URL: out.URL}
		if out.ID != nil {
			res.ExternalID = strings.Trim(fmt.Sprint(out.ID), `"`)
		}
		return res, nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return connectors.DeliverResult{}, &connectors.RetryableError{After: retryAfter(resp.Header().Get("Retry-After")),
			Err: fmt.Errorf("oa: the OA system answered %d", code)}
	default:
		return connectors.DeliverResult{}, &connectors.PermanentError{Reason: fmt.Sprintf("the OA system refused the work order (HTTP %d): %s", code, clip(string(resp.Body()), 200))}
	}
}

func (t *target) post(ctx context.Context, event, delivery string, body []byte) (*resty.Response, error) {
	h := http.Header{}
	signing.SetHeaders(h, t.secret, t.now(), body)
	return t.client.R().SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetHeader(signing.HeaderEvent, event).
		SetHeader(signing.HeaderDelivery, delivery).
		SetHeader(signing.HeaderTimestamp, h.Get(signing.HeaderTimestamp)).
		SetHeader(signing.HeaderSignature, h.Get(signing.HeaderSignature)).
		SetBody(body).Post(t.url)
}

// Test sends a signed ping event; any answer below 500 proves the URL and
// that the OA system is there.
func (t *target) Test(ctx context.Context) error {
	resp, err := t.post(ctx, "ping", "ping", []byte(`{"schemaVersion":1,"event":"ping"}`))
	if err != nil {
		return fmt.Errorf("oa: the OA system is unreachable: %w", err)
	}
	if resp.StatusCode() >= 500 {
		return fmt.Errorf("oa: the OA system answered %d", resp.StatusCode())
	}
	if resp.StatusCode() == http.StatusUnauthorized || resp.StatusCode() == http.StatusForbidden {
		return fmt.Errorf("oa: the OA system refused the signature (HTTP %d): check the secret", resp.StatusCode())
	}
	return nil
}

func retryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
