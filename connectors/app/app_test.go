package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/signing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		events  int
		wantErr bool
	}{
		{"one message", `{"id":"1","type":"message","user":{"id":"u"},"text":"你好"}`, 1, false},
		{"type defaults to message", `{"id":"1","user":{"id":"u"},"text":"x"}`, 1, false},
		{"an array", `[{"id":"1","user":{"id":"u"},"text":"a"},{"id":"2","type":"event","event":"enter_session","user":{"id":"u"}}]`, 2, false},
		{"attachment only", `{"id":"1","user":{"id":"u"},"attachments":[{"name":"a.jpg","mimeType":"image/jpeg","size":3,"url":"https://x/a.jpg"}]}`, 1, false},
		{"empty array", `[]`, 0, true},
		{"no id", `{"user":{"id":"u"},"text":"x"}`, 0, true},
		{"no user", `{"id":"1","text":"x"}`, 0, true},
		{"empty message", `{"id":"1","user":{"id":"u"}}`, 0, true},
		{"event without name", `{"id":"1","type":"event","user":{"id":"u"}}`, 0, true},
		{"wrong type of field", `{"id":1,"user":{"id":"u"},"text":"x"}`, 0, true},
		{"not json", `hello`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := Decode([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var bad *connectors.BadRequestError
			if err != nil && !errors.As(err, &bad) {
				t.Fatalf("error %v is not a BadRequestError", err)
			}
			if len(evs) != tt.events {
				t.Fatalf("got %d events, want %d", len(evs), tt.events)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"1","type":"message","user":{"id":"u","name":"张三"},"text":"你好","sentAt":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`[{"id":"1","user":{"id":"u"},"text":"a"},{"id":"2","type":"event","event":"x","user":{"id":"u"}}]`))
	f.Add([]byte(`{"id":"1","user":{"id":"u"},"attachments":[{"name":"a","size":-1}]}`))
	f.Add([]byte(`[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := Decode(body)
		if err != nil {
			var bad *connectors.BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("error %T is not a BadRequestError", err)
			}
			return
		}
		for _, e := range evs {
			if e.ExternalID == "" || e.Sender.ExternalID == "" {
				t.Fatalf("accepted an event without ids: %+v", e)
			}
		}
	})
}

// TestSendClassifiesAnswers: 2xx delivered, 429/5xx retryable (honouring
// Retry-After), other 4xx permanent; the reply is signed.
func TestSendClassifiesAnswers(t *testing.T) {
	const secret = "0123456789abcdef0123"
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		if err := signing.Verify(r.Header, secret, time.Now(), body); err != nil {
			t.Errorf("reply not signed: %v", err)
		}
		if r.Header.Get(signing.HeaderDelivery) != "d-1" {
			t.Errorf("delivery id header = %q", r.Header.Get(signing.HeaderDelivery))
		}
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"messageId":"m-9"}`))
	}))
	defer srv.Close()
	ch, err := New(connectors.Config{Settings: map[string]string{"secret": secret, "replyUrl": srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		status    int
		permanent bool
		retry     time.Duration
		ok        bool
	}{
		{200, false, 0, true},
		{202, false, 0, true},
		{429, false, 7 * time.Second, false},
		{503, false, 7 * time.Second, false},
		{400, true, 0, false},
		{404, true, 0, false},
	} {
		status = tt.status
		res, err := ch.Send(context.Background(), connectors.OutboundMessage{DeliveryID: "d-1", Recipient: "u", Text: "hi"})
		if tt.ok {
			if err != nil || res.ExternalID != "m-9" {
				t.Errorf("%d: %v %+v", tt.status, err, res)
			}
			continue
		}
		if connectors.IsPermanent(err) != tt.permanent {
			t.Errorf("%d: permanent = %v, want %v (%v)", tt.status, connectors.IsPermanent(err), tt.permanent, err)
		}
		var re *connectors.RetryableError
		if !tt.permanent && (!errors.As(err, &re) || re.After != tt.retry) {
			t.Errorf("%d: %v, want retryable after %v", tt.status, err, tt.retry)
		}
	}
}
