// Package tokencache keeps platform access tokens (WeCom's gettoken,
// WeChat's /cgi-bin/token...) across the channel instances the hub builds
// per call.
//
// A Cache holds one token per key; a key names a channel and its
// credentials (Key). Getting a token that is missing or expired fetches
// one, one caller per key at a time: the others wait for it, or give up
// when their context ends. A token the platform refuses is dropped, and
// Source.Do runs the call once more with a fresh one.
//
// A Cache belongs to a connector value, not to a package, so that tests
// and connectors do not share tokens.
package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Cache holds access tokens by key. Its zero value is not usable: use New.
type Cache struct {
	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	fetch   chan struct{} // held while fetching, so one caller fetches
	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns an empty cache.
func New() *Cache { return &Cache{entries: map[string]*entry{}} }

// Fetch asks the platform for a token and says how long to keep it (see
// Lifetime).
type Fetch func(ctx context.Context) (token string, ttl time.Duration, err error)

// ErrWait is what Get's error wraps, with the context's error, when ctx
// ends while another caller is fetching the key's token.
var ErrWait = errors.New("tokencache: stopped waiting for another caller's fetch")

// Key derives a cache key from what identifies a token: the channel, the
// API base URL and the credentials. The secret is hashed, not kept.
func Key(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// Lifetime is how long to keep a token the platform says lives expiresIn:
// 5 minutes less when that is more than 10 minutes, half of it when less,
// and 10 minutes when the platform does not say.
func Lifetime(expiresIn time.Duration) time.Duration {
	switch {
	case expiresIn <= 0:
		return 10 * time.Minute
	case expiresIn > 10*time.Minute:
		return expiresIn - 5*time.Minute
	default:
		return expiresIn / 2
	}
}

func (c *Cache) entry(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		e = &entry{fetch: make(chan struct{}, 1)}
		c.entries[key] = e
	}
	return e
}

func (e *entry) get(now time.Time) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token, e.token != "" && now.Before(e.expires)
}

func (e *entry) set(token string, expires time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.token, e.expires = token, expires
}

// Get returns key's token if it is still valid at now(), else fetches one
// and keeps it until now() + ttl. While one caller fetches, the others
// wait and then use its token; if it failed, the next one fetches. A
// fetch's error is returned as it is; if ctx ends while waiting, the error
// wraps ErrWait and ctx.Err().
func (c *Cache) Get(ctx context.Context, key string, now func() time.Time, fetch Fetch) (string, error) {
	e := c.entry(key)
	if tok, ok := e.get(now()); ok {
		return tok, nil
	}
	select {
	case e.fetch <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrWait, ctx.Err())
	}
	defer func() { <-e.fetch }()
	if tok, ok := e.get(now()); ok {
		return tok, nil
	}
	tok, ttl, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	e.set(tok, now().Add(ttl))
	return tok, nil
}

// Set keeps token as key's until expires (a token fetched outside Get,
// such as a settings test's).
func (c *Cache) Set(key, token string, expires time.Time) {
	c.entry(key).set(token, expires)
}

// Drop forgets key's token if it is still token: another caller may have
// replaced it already, and that one is kept.
func (c *Cache) Drop(key, token string) {
	e := c.entry(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == token {
		e.token = ""
	}
}

// Source is one channel's token: its entry in a Cache, its clock and the
// fetch that renews it.
type Source struct {
	Cache *Cache
	Key   string
	Now   func() time.Time
	Fetch Fetch
	// Store, if set, shares tokens between replicas: a token another
	// replica fetched is used before fetching a new one (platforms such as
	// WeChat invalidate the previous token when a new one is issued), and
	// a refused token is removed for everyone.
	Store Store
	// Waited, if set, turns the context's error into the one Token
	// returns when ctx ends while another caller fetches; without it
	// Token returns Get's error.
	Waited func(ctxErr error) error
}

// Store keeps tokens where every replica sees them.
type Store interface {
	LoadToken(ctx context.Context, key string) (token string, expires time.Time, ok bool, err error)
	SaveToken(ctx context.Context, key, token string, expires time.Time) error
	DeleteToken(ctx context.Context, key, token string) error
}

// fetch is Fetch behind the shared store.
func (s *Source) fetch(ctx context.Context) (string, time.Duration, error) {
	if s.Store == nil {
		return s.Fetch(ctx)
	}
	now := s.Now()
	if tok, exp, ok, err := s.Store.LoadToken(ctx, s.Key); err == nil && ok && exp.After(now.Add(time.Minute)) {
		return tok, exp.Sub(now), nil
	}
	tok, ttl, err := s.Fetch(ctx)
	if err != nil {
		return "", 0, err
	}
	// A replica that cannot share its token still uses it.
	_ = s.Store.SaveToken(ctx, s.Key, tok, now.Add(ttl))
	return tok, ttl, nil
}

// Token returns a valid token, fetching one if none is cached.
func (s *Source) Token(ctx context.Context) (string, error) {
	tok, err := s.Cache.Get(ctx, s.Key, s.Now, s.fetch)
	if s.Waited != nil && errors.Is(err, ErrWait) {
		return "", s.Waited(ctx.Err())
	}
	return tok, err
}

// Keep caches token, just fetched, for ttl.
func (s *Source) Keep(token string, ttl time.Duration) {
	s.Cache.Set(s.Key, token, s.Now().Add(ttl))
}

// Drop forgets token, which the platform refused, here and in the shared
// store, unless it has been replaced already.
func (s *Source) Drop(ctx context.Context, token string) {
	s.Cache.Drop(s.Key, token)
	if s.Store != nil {
		_ = s.Store.DeleteToken(ctx, s.Key, token)
	}
}

// Do runs call with a token. When call reports that the platform refused
// the token (40014, 42001...), the token is dropped and call runs once
// more with a fresh one; a second refusal drops that one too and returns
// call's error. Errors getting a token are returned as Token returns them.
func (s *Source) Do(ctx context.Context, call func(token string) (refused bool, err error)) error {
	for attempt := 0; ; attempt++ {
		tok, err := s.Token(ctx)
		if err != nil {
			return err
		}
		refused, err := call(tok)
		if !refused {
			return err
		}
		s.Drop(ctx, tok)
		if attempt > 0 {
			return err
		}
	}
}
