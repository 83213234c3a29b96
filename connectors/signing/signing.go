// Package signing is kefuhub's webhook signature scheme, used for the APP
// channel in both directions and for OA systems: a timestamp header and
// X-Kefuhub-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderEvent     = "X-Kefuhub-Event"
	HeaderDelivery  = "X-Kefuhub-Delivery"
	HeaderTimestamp = "X-Kefuhub-Timestamp"
	HeaderSignature = "X-Kefuhub-Signature"
)

// Window is how far a timestamp may be from now.
const Window = 5 * time.Minute

// Sign returns the signature header value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// SetHeaders signs body and sets the timestamp and signature headers.
func SetHeaders(h http.Header, secret string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(secret, ts, body))
}

// Errors Verify returns; their text is safe to show to the caller.
var (
	ErrMissing   = errors.New("missing X-Kefuhub-Timestamp or X-Kefuhub-Signature")
	ErrTimestamp = errors.New("X-Kefuhub-Timestamp is not a unix time within 5 minutes of now")
	ErrSignature = errors.New("X-Kefuhub-Signature does not match the body")
)

// Verify checks the headers against body, in constant time.
func Verify(h http.Header, secret string, now time.Time, body []byte) error {
	tsRaw, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if tsRaw == "" || sig == "" {
		return ErrMissing
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return ErrTimestamp
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !strings.HasPrefix(sig, "sha256=") {
		return ErrSignature
	}
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrSignature
	}
	return nil
}
