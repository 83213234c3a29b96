package signing

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"text":"你好"}`)
	h := http.Header{}
	SetHeaders(h, "s3cret", now, body)
	if err := Verify(h, "s3cret", now.Add(time.Minute), body); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	// The documented formula, computed independently.
	if got, want := h.Get(HeaderSignature), Sign("s3cret", now.Unix(), body); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	tests := []struct {
		name   string
		mutate func(http.Header) (string, []byte, time.Time)
		want   error
	}{
		{"other secret", func(h http.Header) (string, []byte, time.Time) { return "other", body, now }, ErrSignature},
		{"other body", func(h http.Header) (string, []byte, time.Time) { return "s3cret", []byte(`{}`), now }, ErrSignature},
		{"too old", func(h http.Header) (string, []byte, time.Time) { return "s3cret", body, now.Add(6 * time.Minute) }, ErrTimestamp},
		{"from the future", func(h http.Header) (string, []byte, time.Time) { return "s3cret", body, now.Add(-6 * time.Minute) }, ErrTimestamp},
		{"no signature", func(h http.Header) (string, []byte, time.Time) { h.Del(HeaderSignature); return "s3cret", body, now }, ErrMissing},
		{"not hex", func(h http.Header) (string, []byte, time.Time) {
			h.Set(HeaderSignature, "sha256=zz")
			return "s3cret", body, now
		}, ErrSignature},
		{"no prefix", func(h http.Header) (string, []byte, time.Time) {
			h.Set(HeaderSignature, h.Get(HeaderSignature)[7:])
			return "s3cret", body, now
		}, ErrSignature},
		{"bad timestamp", func(h http.Header) (string, []byte, time.Time) {
			h.Set(HeaderTimestamp, "soon")
			return "s3cret", body, now
		}, ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h2 := h.Clone()
			secret, b, at := tt.mutate(h2)
			if err := Verify(h2, secret, at, b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
