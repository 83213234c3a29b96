package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// decodeRef decodes the global ID passed in input field `field`, which must
// name an object of type typ.
func decodeRef(field, typ, gid string) (uint64, error) {
	t, id, err := models.DecodeID(gid)
	if err != nil {
		return 0, errBadInput(field, "%q is not a valid ID", gid)
	}
	if t != typ {
		return 0, errNotFound(field, typ)
	}
	return id, nil
}

// decodeOptRef is decodeRef for optional references; nil stays nil.
func decodeOptRef(field, typ string, gid *string) (*uint64, error) {
	if gid == nil {
		return nil, nil
	}
	id, err := decodeRef(field, typ, *gid)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// load reads the tenant's row id into dst; a row of another tenant, or none,
// is NOT_FOUND on field.
func load(tx *gorm.DB, p Principal, dst any, id uint64, field, what string) error {
	err := tx.Scopes(store.Tenant(p.TenantID)).Where("id = ?", id).Take(dst).Error
	if store.IsNotFound(err) {
		return errNotFound(field, what)
	}
	if err != nil {
		return fmt.Errorf("hub: load %s: %w", what, err)
	}
	return nil
}

// lockFor adds FOR UPDATE on engines that have row locks; SQLite's
// IMMEDIATE transactions already hold the database's write lock.
func (h *Hub) lockFor(tx *gorm.DB) *gorm.DB {
	if h.store.Engine == store.EngineMySQL {
		return tx.Clauses(clauseLocking)
	}
	return tx
}

// cleanText trims s and checks it is present, valid UTF-8 and at most max
// runes long.
func cleanText(field, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", errBadInput(field, "%s must not be empty", field)
	}
	if !utf8.ValidString(s) {
		return "", errBadInput(field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", errBadInput(field, "%s is %d characters long; at most %d are allowed", field, n, max)
	}
	return s, nil
}

// cleanTags normalizes tags: trimmed, non-empty, unique, at most 50 of 64 runes.
func cleanTags(field string, tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t, err := cleanText(field, t, 64, true)
		if err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > 50 {
		return nil, errBadInput(field, "at most 50 tags are allowed")
	}
	return out, nil
}

// snapshot turns a model into the map stored in an audit event. Sealed
// secrets never enter the audit log.
func snapshot(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	delete(m, "SealedSecrets")
	delete(m, "Hash")
	return m
}

// audit records an event in tx.
func audit(tx *gorm.DB, p Principal, action, objType string, objID uint64, before, after any) error {
	ev := &models.AuditEvent{
		TenantID:   p.TenantID,
		ActorType:  models.ActorSystem,
		Action:     action,
		ObjectType: objType,
		ObjectID:   objID,
	}
	if p.UserID != 0 {
		ev.ActorType = models.ActorUser
		ev.ActorID = &p.UserID
	}
	if before != nil {
		ev.Before = snapshot(before)
	}
	if after != nil {
		ev.After = snapshot(after)
	}
	if p.ViaTargetID != 0 {
		if ev.After == nil {
			ev.After = map[string]any{}
		}
		ev.After["performedVia"] = models.EncodeID(models.TypeTarget, p.ViaTargetID)
	}
	if err := tx.Create(ev).Error; err != nil {
		return fmt.Errorf("hub: audit %s: %w", action, err)
	}
	return nil
}

// nextNumber hands out the tenant's next number in sequence name.
func (h *Hub) nextNumber(tx *gorm.DB, tenantID uint64, name string, start int64) (int64, error) {
	res := tx.Model(&models.Counter{}).Where("tenant_id = ? AND name = ?", tenantID, name).
		UpdateColumn("value", gorm.Expr("value + 1"))
	if res.Error != nil {
		return 0, fmt.Errorf("hub: counter %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		c := &models.Counter{TenantID: tenantID, Name: name, Value: start}
		if err := tx.Create(c).Error; err != nil {
			return 0, fmt.Errorf("hub: counter %s: %w", name, err)
		}
		return start, nil
	}
	var c models.Counter
	if err := tx.Where("tenant_id = ? AND name = ?", tenantID, name).Take(&c).Error; err != nil {
		return 0, fmt.Errorf("hub: counter %s: %w", name, err)
	}
	return c.Value, nil
}

// likePattern makes a substring pattern for `LIKE ? ESCAPE '!'` (the same
// escape character works on SQLite and MySQL, unlike the backslash).
func likePattern(s string) string {
	r := strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`)
	return "%" + r.Replace(strings.TrimSpace(s)) + "%"
}

const likeEscape = " LIKE ? ESCAPE '!'"

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// maxJSONBytes bounds free-form JSON input (customer attributes, channel
// settings) so that one request cannot store megabytes in a row.
const maxJSONBytes = 16 << 10

func maxJSONSize(field string, v any, max int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errBadInput(field, "%s is not valid JSON", field)
	}
	if len(b) > max {
		return errBadInput(field, "%s is %d bytes as JSON; at most %d are allowed", field, len(b), max)
	}
	return nil
}
