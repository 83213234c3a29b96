// Package fakehttp holds what the fake platforms share: faults queued for
// the next calls to an API path, and the ways a platform misbehaves on the
// wire (an answer lost after the platform acted, a call held past the
// caller's timeout).
package fakehttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"time"
)

// Faults is a queue of faults F, each for the next call to a path ("" is
// any path). It is not safe for concurrent use: a fake calls it under its
// own lock.
type Faults[F any] struct {
	queued []queued[F]
}

type queued[F any] struct {
	path  string
	fault F
}

// Add queues f for the next n calls to path.
func (q *Faults[F]) Add(path string, n int, f F) {
	for range n {
		q.queued = append(q.queued, queued[F]{path, f})
	}
}

// Take removes and returns the first fault queued for path (or for any).
func (q *Faults[F]) Take(path string) (F, bool) {
	for i, e := range q.queued {
		if e.path == "" || e.path == path {
			q.queued = append(q.queued[:i], q.queued[i+1:]...)
			return e.fault, true
		}
	}
	var zero F
	return zero, false
}

// DropResponse lets the platform act (h runs against a recorder) and then
// closes the connection without an answer: a response lost on the way.
func DropResponse(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	h(httptest.NewRecorder(), r)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakehttp: cannot hijack the connection to drop the response")
	}
	if conn, _, err := hj.Hijack(); err == nil {
		_ = conn.Close()
	}
}

// Hold keeps the call waiting for d, or until the caller hangs up, without
// acting, and then answers 504: a platform that times out.
func Hold(w http.ResponseWriter, r *http.Request, d time.Duration) {
	// Reading the body lets the server notice the caller hanging up.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
	http.Error(w, "fake failure: held too long", http.StatusGatewayTimeout)
}
