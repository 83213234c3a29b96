package hub

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Viewer returns the caller's user and tenant.
func (h *Hub) Viewer(ctx context.Context) (*models.Viewer, error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	v := &models.Viewer{Role: p.Role, Tenant: &models.Tenant{}}
	if err := h.conn(ctx).Where("id = ?", p.TenantID).Take(v.Tenant).Error; err != nil {
		return nil, fmt.Errorf("hub: viewer tenant: %w", err)
	}
	if p.UserID != 0 {
		v.User = &models.User{}
		if err := load(h.conn(ctx), p, v.User, p.UserID, "", models.TypeUser); err != nil {
			return nil, err
		}
	}
	return v, nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreateTenant makes a tenant with its first admin user and returns that
// user's API token (shown once). token may be given (bootstrap by scripts);
// empty makes a fresh one.
func (h *Hub) CreateTenant(ctx context.Context, name, slug, adminEmail, token string) (*models.Tenant, string, error) {
	name, err := cleanText("name", name, 200, true)
	if err != nil {
		return nil, "", err
	}
	if !slugRE.MatchString(slug) {
		return nil, "", errBadInput("slug", "slug must be lower-case letters, digits and dashes")
	}
	if token != "" && (!strings.HasPrefix(token, tokenPrefix) || len(token) < len(tokenPrefix)+32) {
		return nil, "", errBadInput("token", "a bootstrap token must start with %q and have at least 32 characters after it", tokenPrefix)
	}
	t := &models.Tenant{Name: name, Slug: slug}
	err = h.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(t).Error; err != nil {
			if store.IsDuplicate(err) {
				return errConflict("slug", "a tenant with slug %q exists", slug)
			}
			return fmt.Errorf("hub: create tenant: %w", err)
		}
		for _, c := range []models.Counter{
			{TenantID: t.ID, Name: counterConversation, Value: 0},
			{TenantID: t.ID, Name: counterTicket, Value: firstTicketNumber - 1},
		} {
			if err := tx.Create(&c).Error; err != nil {
				return fmt.Errorf("hub: create counters: %w", err)
			}
		}
		admin := &models.User{TenantID: t.ID, Name: "Admin", Email: adminEmail, Role: models.RoleAdmin, Active: true}
		if err := tx.Create(admin).Error; err != nil {
			return fmt.Errorf("hub: create admin: %w", err)
		}
		var hash string
		if token == "" {
			token, hash, err = newTokenSecret()
			if err != nil {
				return err
			}
		} else {
			hash = hashToken(token)
		}
		tok := &models.APIToken{TenantID: t.ID, UserID: admin.ID, Name: "bootstrap", Hash: hash, Prefix: token[:12]}
		if err := tx.Create(tok).Error; err != nil {
			if store.IsDuplicate(err) {
				return errConflict("token", "that token is already in use")
			}
			return fmt.Errorf("hub: create token: %w", err)
		}
		p := Principal{TenantID: t.ID, UserID: admin.ID, Role: models.RoleAdmin}
		return audit(tx, p, "tenant.create", models.TypeTenant, t.ID, nil, t)
	})
	if err != nil {
		return nil, "", err
	}
	return t, token, nil
}

// TenantCount returns how many tenants exist (zero on a fresh database).
func (h *Hub) TenantCount(ctx context.Context) (int64, error) {
	var n int64
	err := h.conn(ctx).Model(&models.Tenant{}).Count(&n).Error
	return n, err
}

// TenantBySlug finds a tenant for command-line administration.
func (h *Hub) TenantBySlug(ctx context.Context, slug string) (*models.Tenant, error) {
	t := &models.Tenant{}
	err := h.conn(ctx).Where("slug = ?", slug).Take(t).Error
	if store.IsNotFound(err) {
		return nil, errNotFound("slug", "tenant")
	}
	return t, err
}

func validEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 320 {
		return "", errBadInput(field, "%q is not a valid email address", email)
	}
	return strings.ToLower(email), nil
}

func optText(field string, s *string, max int) (*string, error) {
	if s == nil {
		return nil, nil
	}
	v, err := cleanText(field, *s, max, false)
	if err != nil || v == "" {
		return nil, err
	}
	return &v, nil
}

// CreateUser adds a staff user (ADMIN).
func (h *Hub) CreateUser(ctx context.Context, in models.CreateUserInput) (*models.User, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	u := &models.User{TenantID: p.TenantID, Role: in.Role, Active: true}
	if u.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if u.Email, err = validEmail("email", in.Email); err != nil {
		return nil, err
	}
	if u.DingTalkUserID, err = optText("dingtalkUserId", in.DingtalkUserID, 64); err != nil {
		return nil, err
	}
	if u.DingTalkUnionID, err = optText("dingtalkUnionId", in.DingtalkUnionID, 64); err != nil {
		return nil, err
	}
	if u.WeComUserID, err = optText("wecomUserId", in.WecomUserID, 64); err != nil {
		return nil, err
	}
	teamIDs := make([]uint64, 0, len(in.TeamIds))
	for _, gid := range in.TeamIds {
		id, err := decodeRef("teamIds", models.TypeTeam, gid)
		if err != nil {
			return nil, err
		}
		teamIDs = append(teamIDs, id)
	}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Create(u).Error; err != nil {
			if store.IsDuplicate(err) {
				return errConflict("email", "a user with email %s exists", u.Email)
			}
			return fmt.Errorf("hub: create user: %w", err)
		}
		for _, tid := range teamIDs {
			if err := load(tx, p, &models.Team{}, tid, "teamIds", models.TypeTeam); err != nil {
				return err
			}
			if err := tx.Create(&models.TeamMember{TeamID: tid, UserID: u.ID, TenantID: p.TenantID}).Error; err != nil {
				return fmt.Errorf("hub: add team member: %w", err)
			}
		}
		return audit(tx, p, "user.create", models.TypeUser, u.ID, nil, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateTeam adds a team (ADMIN).
func (h *Hub) CreateTeam(ctx context.Context, in models.CreateTeamInput) (*models.Team, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	t := &models.Team{TenantID: p.TenantID}
	if t.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if t.Description, err = cleanText("description", derefOr(in.Description, ""), 1000, false); err != nil {
		return nil, err
	}
	memberIDs := make([]uint64, 0, len(in.MemberIds))
	for _, gid := range in.MemberIds {
		id, err := decodeRef("memberIds", models.TypeUser, gid)
		if err != nil {
			return nil, err
		}
		memberIDs = append(memberIDs, id)
	}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		// Team names are unique regardless of case on every engine (MySQL's
		// collation already says so; SQLite's unique index would not).
		var clash int64
		if err := tx.Model(&models.Team{}).Scopes(store.Tenant(p.TenantID)).Where("LOWER(name) = LOWER(?)", t.Name).Count(&clash).Error; err != nil {
			return fmt.Errorf("hub: create team: %w", err)
		}
		if clash > 0 {
			return errConflict("name", "a team named %q exists", t.Name)
		}
		if err := tx.Create(t).Error; err != nil {
			if store.IsDuplicate(err) {
				return errConflict("name", "a team named %q exists", t.Name)
			}
			return fmt.Errorf("hub: create team: %w", err)
		}
		seen := map[uint64]bool{}
		for _, uid := range memberIDs {
			if seen[uid] {
				continue
			}
			seen[uid] = true
			if err := load(tx, p, &models.User{}, uid, "memberIds", models.TypeUser); err != nil {
				return err
			}
			if err := tx.Create(&models.TeamMember{TeamID: t.ID, UserID: uid, TenantID: p.TenantID}).Error; err != nil {
				return fmt.Errorf("hub: add team member: %w", err)
			}
		}
		return audit(tx, p, "team.create", models.TypeTeam, t.ID, nil, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// CreateAPIToken issues a token for a user (ADMIN) and returns its secret,
// which is not stored and cannot be shown again.
func (h *Hub) CreateAPIToken(ctx context.Context, in models.CreateAPITokenInput) (*models.APIToken, string, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, "", err
	}
	tok := &models.APIToken{TenantID: p.TenantID, UserID: p.UserID, ExpiresAt: in.ExpiresAt}
	if tok.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, "", err
	}
	if in.UserID != nil {
		if tok.UserID, err = decodeRef("userId", models.TypeUser, *in.UserID); err != nil {
			return nil, "", err
		}
	}
	if tok.UserID == 0 {
		return nil, "", errBadInput("userId", "userId is required when the caller is not a user")
	}
	if tok.ExpiresAt != nil {
		if !tok.ExpiresAt.After(h.now()) {
			return nil, "", errBadInput("expiresAt", "expiresAt must be in the future")
		}
		t := tok.ExpiresAt.UTC().Truncate(time.Microsecond)
		tok.ExpiresAt = &t
	}
	secret, hash, err := newTokenSecret()
	if err != nil {
		return nil, "", fmt.Errorf("hub: token: %w", err)
	}
	tok.Hash, tok.Prefix = hash, secret[:12]
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		u := &models.User{}
		if err := load(tx, p, u, tok.UserID, "userId", models.TypeUser); err != nil {
			return err
		}
		if !u.Active {
			return errBadInput("userId", "the user is deactivated")
		}
		if err := tx.Create(tok).Error; err != nil {
			return fmt.Errorf("hub: create token: %w", err)
		}
		return audit(tx, p, "api_token.create", models.TypeAPIToken, tok.ID, nil, tok)
	})
	if err != nil {
		return nil, "", err
	}
	return tok, secret, nil
}

// RevokeAPIToken revokes a token at once (ADMIN). Revoking twice is fine.
func (h *Hub) RevokeAPIToken(ctx context.Context, in models.RevokeAPITokenInput) (*models.APIToken, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeAPIToken, in.ID)
	if err != nil {
		return nil, err
	}
	tok := &models.APIToken{}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := load(h.lockFor(tx), p, tok, id, "id", models.TypeAPIToken); err != nil {
			return err
		}
		if tok.RevokedAt != nil {
			return nil
		}
		before := *tok
		now := h.now()
		tok.RevokedAt = &now
		if err := tx.Model(tok).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("hub: revoke token: %w", err)
		}
		return audit(tx, p, "api_token.revoke", models.TypeAPIToken, tok.ID, &before, tok)
	})
	if err != nil {
		return nil, err
	}
	h.tokens.dropToken(tok.ID)
	return tok, nil
}

// Users lists the tenant's staff.
func (h *Hub) Users(ctx context.Context, args PageArgs, f *models.UserFilter, order *models.UserOrder) (*Page[models.User], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.User{})
	if f != nil {
		if f.Role != nil {
			q = q.Where("role = ?", *f.Role)
		}
		if f.Active != nil {
			q = q.Where("active = ?", *f.Active)
		}
		if f.Search != nil && strings.TrimSpace(*f.Search) != "" {
			pat := likePattern(*f.Search)
			q = q.Where("(name"+likeEscape+" OR email"+likeEscape+")", pat, pat)
		}
		if f.TeamID != nil {
			tid, err := decodeFilterRef("teamId", models.TypeTeam, *f.TeamID)
			if err != nil {
				return nil, err
			}
			q = q.Where("id IN (?)", h.conn(ctx).Model(&models.TeamMember{}).Select("user_id").Where("team_id = ? AND tenant_id = ?", tid, p.TenantID))
		}
	}
	key := sortKey[models.User]{table: "users", column: "created_at", kind: keyTime, value: func(u *models.User) any { return u.CreatedAt }, id: func(u *models.User) uint64 { return u.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		if order.Field == models.UserOrderFieldName {
			key.column, key.kind, key.value = "name", keyString, func(u *models.User) any { return u.Name }
		}
	}
	return paginate(ctx, q, args, key)
}

// Teams lists the tenant's teams.
func (h *Hub) Teams(ctx context.Context, args PageArgs, f *models.TeamFilter, order *models.TeamOrder) (*Page[models.Team], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Team{})
	if f != nil && f.Search != nil && strings.TrimSpace(*f.Search) != "" {
		q = q.Where("name"+likeEscape, likePattern(*f.Search))
	}
	key := sortKey[models.Team]{table: "teams", column: "created_at", kind: keyTime, value: func(t *models.Team) any { return t.CreatedAt }, id: func(t *models.Team) uint64 { return t.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		if order.Field == models.TeamOrderFieldName {
			key.column, key.kind, key.value = "name", keyString, func(t *models.Team) any { return t.Name }
		}
	}
	return paginate(ctx, q, args, key)
}

// APITokens lists the tenant's tokens (ADMIN), newest first.
func (h *Hub) APITokens(ctx context.Context, args PageArgs, f *models.APITokenFilter) (*Page[models.APIToken], error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.APIToken{})
	if f != nil {
		if f.UserID != nil {
			uid, err := decodeFilterRef("userId", models.TypeUser, *f.UserID)
			if err != nil {
				return nil, err
			}
			q = q.Where("user_id = ?", uid)
		}
		if f.Revoked != nil {
			if *f.Revoked {
				q = q.Where("revoked_at IS NOT NULL")
			} else {
				q = q.Where("revoked_at IS NULL")
			}
		}
	}
	key := sortKey[models.APIToken]{table: "api_tokens", column: "id", kind: keyInt, desc: true, value: func(t *models.APIToken) any { return t.ID }, id: func(t *models.APIToken) uint64 { return t.ID }}
	return paginate(ctx, q, args, key)
}

// decodeFilterRef decodes an ID given in a list filter. An ID of the wrong
// type simply matches nothing; a malformed one is bad input.
func decodeFilterRef(field, typ, gid string) (uint64, error) {
	t, id, err := models.DecodeID(gid)
	if err != nil {
		e := errBadInput("", "%q is not a valid ID", gid)
		e.Field = []string{"filter", field}
		return 0, e
	}
	if t != typ {
		return 0, nil // id 0 never exists
	}
	return id, nil
}

// UserByEmail finds a user of a tenant, for command-line administration.
func (h *Hub) UserByEmail(ctx context.Context, tenantID uint64, email string) (*models.User, error) {
	u := &models.User{}
	err := h.conn(ctx).Where("tenant_id = ? AND email = ?", tenantID, strings.ToLower(strings.TrimSpace(email))).Take(u).Error
	if store.IsNotFound(err) {
		return nil, errNotFound("user", "user")
	}
	return u, err
}
