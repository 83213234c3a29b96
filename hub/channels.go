package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/connectors"
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
	public, secrets, err := h.splitSettings(in.Kind, in.Settings, false)
	if err != nil {
		return nil, err
	}
	if in.ResolvedNotice != nil {
		if ch.ResolvedNotice, err = checkResolvedNotice(*in.ResolvedNotice); err != nil {
			return nil, err
		}
	}
	ch.Settings = public
	for k := range secrets {
		ch.SecretKeys = append(ch.SecretKeys, k)
	}
	slices.Sort(ch.SecretKeys)
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Create(ch).Error; err != nil {
			return fmt.Errorf("hub: create channel: %w", err)
		}
		if len(secrets) > 0 {
			if err := h.sealSecrets(ch, secrets); err != nil {
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

// splitSettings checks settings against the kind's spec (or, for kinds
// without a connector, sorts them by name) into public and secret ones.
func (h *Hub) splitSettings(kind models.ChannelKind, in map[string]any, partial bool) (public, secret map[string]any, err error) {
	if err := maxJSONSize("settings", in, maxJSONBytes); err != nil {
		return nil, nil, err
	}
	public, secret = map[string]any{}, map[string]any{}
	c, ok := h.connectors.Lookup(kind)
	if !ok {
		for k, v := range in {
			if strings.TrimSpace(k) == "" || len(k) > 64 {
				return nil, nil, errBadInput("settings", "setting names must be 1 to 64 characters")
			}
			if isSecretSetting(kind, k) {
				secret[k] = v
			} else {
				public[k] = v
			}
		}
		return public, secret, nil
	}
	spec := c.Spec
	if partial {
		// An update names only what changes: required fields it leaves out
		// keep their stored values.
		spec.Fields = slices.Clone(spec.Fields)
		for i := range spec.Fields {
			if _, given := in[spec.Fields[i].Name]; !given {
				spec.Fields[i].Required, spec.Fields[i].Default = false, ""
			}
		}
	}
	norm, err := spec.Normalize(in)
	if err != nil {
		var fe *connectors.FieldError
		if errors.As(err, &fe) {
			return nil, nil, &Error{Code: CodeBadInput, Message: "settings." + fe.Field + " " + fe.Message, Field: []string{"input", "settings", fe.Field}}
		}
		return nil, nil, errBadInput("settings", "%v", err)
	}
	secretKeys := spec.SecretKeys()
	for k, v := range norm {
		if slices.Contains(secretKeys, k) {
			secret[k] = v
		} else {
			public[k] = v
		}
	}
	return public, secret, nil
}

// sealSecrets stores the channel's secret settings, sealed to its id.
func (h *Hub) sealSecrets(ch *models.Channel, secrets map[string]any) error {
	ch.SecretKeys = ch.SecretKeys[:0]
	for k := range secrets {
		ch.SecretKeys = append(ch.SecretKeys, k)
	}
	slices.Sort(ch.SecretKeys)
	if len(secrets) == 0 {
		ch.SealedSecrets = nil
		return nil
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return errBadInput("settings", "settings must be JSON")
	}
	ch.SealedSecrets, err = h.box.Seal(plain, channelAAD(ch.ID))
	return err
}

// UpdateChannel changes a channel's name, settings or state (ADMIN).
func (h *Hub) UpdateChannel(ctx context.Context, in models.UpdateChannelInput) (*models.Channel, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeChannel, in.ID)
	if err != nil {
		return nil, err
	}
	ch := &models.Channel{}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := load(h.lockFor(tx), p, ch, id, "id", models.TypeChannel); err != nil {
			return err
		}
		before := *ch
		if in.Name != nil {
			if ch.Name, err = cleanText("name", *in.Name, 200, true); err != nil {
				return err
			}
		}
		if in.Enabled != nil {
			ch.Enabled = *in.Enabled
		}
		if in.ResolvedNotice != nil {
			if ch.ResolvedNotice, err = checkResolvedNotice(*in.ResolvedNotice); err != nil {
				return err
			}
		}
		if in.Settings != nil {
			public, secret, err := h.splitSettings(ch.Kind, in.Settings, true)
			if err != nil {
				return err
			}
			current, err := h.ChannelSecrets(ch)
			if err != nil {
				return err
			}
			if ch.Settings == nil {
				ch.Settings = map[string]any{}
			}
			for k, v := range public {
				ch.Settings[k] = v
			}
			for k, v := range secret {
				current[k] = v
			}
			if err := h.sealSecrets(ch, current); err != nil {
				return err
			}
		}
		ch.UpdatedAt = h.now()
		if err := tx.Model(ch).Select("name", "enabled", "settings", "secret_keys", "sealed_secrets", "resolved_notice", "updated_at").Updates(ch).Error; err != nil {
			return fmt.Errorf("hub: update channel: %w", err)
		}
		return audit(tx, p, "channel.update", models.TypeChannel, ch.ID, &before, ch)
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// ChannelTest is the outcome of TestChannel: Problem is nil when the
// platform accepted the credentials.
type ChannelTest struct {
	Channel *models.Channel
	Problem error
}

// TestChannel checks the channel's credentials against its platform
// (ADMIN). A platform's refusal is the answer, not an error.
func (h *Hub) TestChannel(ctx context.Context, gid string) (*ChannelTest, error) {
	p, err := require(ctx, canManage)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeChannel, gid)
	if err != nil {
		return nil, err
	}
	ch := &models.Channel{}
	if err := load(h.conn(ctx), p, ch, id, "id", models.TypeChannel); err != nil {
		return nil, err
	}
	res := &ChannelTest{Channel: ch}
	if _, ok := h.connectors.Lookup(ch.Kind); !ok {
		res.Problem = fmt.Errorf("kefuhub does not connect to %s platforms yet: the channel is a record only", ch.Kind)
		return res, nil
	}
	conn, err := h.openChannel(ch)
	if err != nil {
		res.Problem = err
		return res, nil
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res.Problem = conn.Test(tctx)
	return res, nil
}
