package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

// secretSettingKeys are the settings of each channel kind that are
// credentials: they are sealed at rest and never returned.
var secretSettingKeys = map[models.ChannelKind][]string{
	models.ChannelWeComKF:  {"secret", "token", "encodingAESKey"},
	models.ChannelWeChatOA: {"appSecret", "token", "encodingAESKey"},
	models.ChannelTaobao:   {"appSecret", "sessionKey"},
	models.ChannelApp:      {"secret"},
	models.ChannelEmail:    {"password"},
}

// isSecretSetting says whether key of a channel of kind k holds a secret.
// Besides the known keys, any key that looks like a credential is sealed, so
// a new setting is never stored in clear by mistake.
func isSecretSetting(k models.ChannelKind, key string) bool {
	if slices.Contains(secretSettingKeys[k], key) {
		return true
	}
	l := strings.ToLower(key)
	for _, w := range []string{"secret", "password", "token", "aeskey", "privatekey", "apikey"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

func channelAAD(id uint64) []byte { return []byte("channel:" + strconv.FormatUint(id, 10)) }

// CreateChannel adds a channel (ADMIN). Secret settings are sealed with the
// channel's id as associated data, so the row must exist first.
func (h *Hub) CreateChannel(ctx context.Context, in models.CreateChannelInput) (*models.Channel, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	ch := &models.Channel{TenantID: p.TenantID, Kind: in.Kind, Enabled: true, Settings: map[string]any{}}
	if ch.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if err := maxJSONSize("settings", in.Settings, maxJSONBytes); err != nil {
		return nil, err
	}
	secrets := map[string]any{}
	for k, v := range in.Settings {
		if strings.TrimSpace(k) == "" || len(k) > 64 {
			return nil, errBadInput("settings", "setting names must be 1 to 64 characters")
		}
		if isSecretSetting(in.Kind, k) {
			secrets[k] = v
			ch.SecretKeys = append(ch.SecretKeys, k)
		} else {
			ch.Settings[k] = v
		}
	}
	slices.Sort(ch.SecretKeys)
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Create(ch).Error; err != nil {
			return fmt.Errorf("hub: create channel: %w", err)
		}
		if len(secrets) > 0 {
			plain, err := json.Marshal(secrets)
			if err != nil {
				return errBadInput("settings", "settings must be JSON")
			}
			if ch.SealedSecrets, err = h.box.Seal(plain, channelAAD(ch.ID)); err != nil {
				return err
			}
			if err := tx.Model(ch).Update("sealed_secrets", ch.SealedSecrets).Error; err != nil {
				return fmt.Errorf("hub: seal channel secrets: %w", err)
			}
		}
		return audit(tx, p, "channel.create", models.TypeChannel, ch.ID, nil, ch)
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// ChannelSecrets opens a channel's sealed settings, for connectors.
func (h *Hub) ChannelSecrets(ch *models.Channel) (map[string]any, error) {
	out := map[string]any{}
	if len(ch.SealedSecrets) == 0 {
		return out, nil
	}
	plain, err := h.box.Open(ch.SealedSecrets, channelAAD(ch.ID))
	if err != nil {
		return nil, fmt.Errorf("hub: channel %d secrets: %w", ch.ID, err)
	}
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("hub: channel %d secrets: %w", ch.ID, err)
	}
	return out, nil
}

// Channels lists the tenant's channels.
func (h *Hub) Channels(ctx context.Context, args PageArgs, f *models.ChannelFilter, order *models.ChannelOrder) (*Page[models.Channel], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Channel{})
	if f != nil {
		if f.Kind != nil {
			q = q.Where("kind = ?", *f.Kind)
		}
		if f.Enabled != nil {
			q = q.Where("enabled = ?", *f.Enabled)
		}
	}
	key := sortKey[models.Channel]{table: "channels", column: "created_at", kind: keyTime, value: func(c *models.Channel) any { return c.CreatedAt }, id: func(c *models.Channel) uint64 { return c.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		if order.Field == models.ChannelOrderFieldName {
			key.column, key.kind, key.value = "name", keyString, func(c *models.Channel) any { return c.Name }
		}
	}
	return paginate(ctx, q, args, key)
}
