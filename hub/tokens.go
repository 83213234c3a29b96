package hub

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// tokenStore shares platform access tokens between replicas through the
// database, sealed like other secrets. Without it each replica would fetch
// its own token, and platforms that keep one valid token per app (WeChat
// Official Accounts) would invalidate the others'.
type tokenStore struct{ h *Hub }

func (s tokenStore) LoadToken(ctx context.Context, key string) (string, time.Time, bool, error) {
	var t models.PlatformToken
	err := s.h.conn(ctx).Where("token_key = ?", key).Take(&t).Error
	if store.IsNotFound(err) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	plain, err := s.h.box.Open(t.SealedToken, []byte("token:"+key))
	if err != nil {
		return "", time.Time{}, false, nil // sealed under another key: fetch anew
	}
	return string(plain), t.ExpiresAt, true, nil
}

func (s tokenStore) SaveToken(ctx context.Context, key, token string, expires time.Time) error {
	sealed, err := s.h.box.Seal([]byte(token), []byte("token:"+key))
	if err != nil {
		return err
	}
	row := models.PlatformToken{Key: key, SealedToken: sealed, ExpiresAt: expires.UTC().Truncate(time.Microsecond), UpdatedAt: s.h.now()}
	return s.h.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "token_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"sealed_token", "expires_at", "updated_at"}),
	}).Create(&row).Error
}

func (s tokenStore) DeleteToken(ctx context.Context, key, token string) error {
	current, _, ok, err := s.LoadToken(ctx, key)
	if err != nil || !ok || current != token {
		return err // another replica already replaced it
	}
	return s.h.conn(ctx).Where("token_key = ?", key).Delete(&models.PlatformToken{}).Error
}

// TokenStore returns the database-backed store connectors share platform
// tokens through.
func (h *Hub) TokenStore() connectors.TokenStore { return tokenStore{h} }
