package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Principal is the authenticated caller: a staff user of one tenant, acting
// through one API token.
type Principal struct {
	TenantID uint64
	UserID   uint64
	TokenID  uint64
	Role     models.Role
	// ViaTargetID is set when an outside system (an OA callback) acts:
	// its own change is not delivered back to it.
	ViaTargetID uint64
}

// System is a principal for kefuhub's own work in a tenant (bootstrap, seed,
// connectors): it has every right in that tenant and no user.
func System(tenantID uint64) Principal {
	return Principal{TenantID: tenantID, Role: models.RoleAdmin}
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.TenantID != 0
}

// require returns the caller if it holds at least role min.
func require(ctx context.Context, min models.Role) (Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	if p.Role.Rank() < min.Rank() {
		return Principal{}, &Error{Code: CodeForbidden, Message: "this needs the " + string(min) + " role"}
	}
	return p, nil
}

// The right each kind of work needs.
var (
	canRead   = models.RoleViewer
	canWork   = models.RoleAgent
	canManage = models.RoleAdmin
)

const tokenPrefix = "khb_"

// newTokenSecret returns a fresh token and the hash that is stored for it.
func newTokenSecret() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate resolves a bearer token to its principal. Tokens are looked
// up by their SHA-256, so the comparison never touches the secret itself and
// takes the same time whatever the token's content.
func (h *Hub) Authenticate(ctx context.Context, token string) (Principal, error) {
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 200 {
		return Principal{}, ErrUnauthenticated
	}
	hash := hashToken(token)
	now := h.now()
	if p, ok := h.tokens.get(hash, now); ok {
		return p, nil
	}
	var row struct {
		models.APIToken
		Role   models.Role
		Active bool
	}
	err := h.conn(ctx).Table("api_tokens").
		Select("api_tokens.*, users.role AS role, users.active AS active").
		Joins("JOIN users ON users.id = api_tokens.user_id AND users.tenant_id = api_tokens.tenant_id").
		Where("api_tokens.hash = ?", hash).Take(&row).Error
	if store.IsNotFound(err) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if !row.Usable(now) || !row.Active {
		return Principal{}, ErrUnauthenticated
	}
	// last_used_at is for admins spotting stale tokens; minute precision is
	// enough and spares a write per request.
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		h.conn(ctx).Model(&models.APIToken{}).Where("id = ?", row.ID).Update("last_used_at", now)
	}
	p := Principal{TenantID: row.TenantID, UserID: row.UserID, TokenID: row.ID, Role: row.Role}
	h.tokens.put(hash, p, now, row.ExpiresAt)
	return p, nil
}

// tokenCache keeps recently seen tokens for a few seconds so that a busy
// client does not cost a query per request. Revocation on this replica
// drops the entry at once; other replicas see it within the TTL.
type tokenCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p       Principal
	expires time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, m: map[string]cachedPrincipal{}}
}

func (c *tokenCache) get(hash string, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

// put caches p until the TTL passes or the token expires, whichever is first.
func (c *tokenCache) put(hash string, p Principal, now time.Time, tokenExpires *time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	expires := now.Add(c.ttl)
	if tokenExpires != nil && tokenExpires.Before(expires) {
		expires = *tokenExpires
	}
	c.m[hash] = cachedPrincipal{p: p, expires: expires}
}

func (c *tokenCache) dropToken(tokenID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.p.TokenID == tokenID {
			delete(c.m, k)
		}
	}
}
