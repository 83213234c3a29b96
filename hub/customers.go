package hub

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

func cleanPhone(field string, s *string) (*string, error) {
	if s == nil {
		return nil, nil
	}
	v := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, strings.TrimSpace(*s))
	if v == "" {
		return nil, nil
	}
	for i, r := range v {
		if !(r >= '0' && r <= '9') && !(i == 0 && r == '+') {
			return nil, errBadInput(field, "%q is not a phone number", *s)
		}
	}
	if len(v) < 5 || len(v) > 20 {
		return nil, errBadInput(field, "%q is not a phone number", *s)
	}
	return &v, nil
}

func cleanOptEmail(field string, s *string) (*string, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil, nil
	}
	v, err := validEmail(field, *s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func cleanAttributes(field string, attrs map[string]any) (map[string]any, error) {
	if attrs == nil {
		return map[string]any{}, nil
	}
	if len(attrs) > 100 {
		return nil, errBadInput(field, "at most 100 attributes are allowed")
	}
	for k := range attrs {
		if strings.TrimSpace(k) == "" || len(k) > 64 {
			return nil, errBadInput(field, "attribute names must be 1 to 64 characters")
		}
	}
	if err := maxJSONSize(field, attrs, maxJSONBytes); err != nil {
		return nil, err
	}
	return attrs, nil
}

// CreateCustomer adds a customer (AGENT).
func (h *Hub) CreateCustomer(ctx context.Context, in models.CreateCustomerInput) (*models.Customer, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	c := &models.Customer{TenantID: p.TenantID}
	if c.Name, err = cleanText("name", in.Name, 200, true); err != nil {
		return nil, err
	}
	if c.Phone, err = cleanPhone("phone", in.Phone); err != nil {
		return nil, err
	}
	if c.Email, err = cleanOptEmail("email", in.Email); err != nil {
		return nil, err
	}
	if c.Tags, err = cleanTags("tags", in.Tags); err != nil {
		return nil, err
	}
	if c.Attributes, err = cleanAttributes("attributes", in.Attributes); err != nil {
		return nil, err
	}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("hub: create customer: %w", err)
		}
		return audit(tx, p, "customer.create", models.TypeCustomer, c.ID, nil, c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateCustomer changes the fields given (AGENT).
func (h *Hub) UpdateCustomer(ctx context.Context, in models.UpdateCustomerInput) (*models.Customer, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	id, err := decodeRef("id", models.TypeCustomer, in.ID)
	if err != nil {
		return nil, err
	}
	c := &models.Customer{}
	err = h.write(ctx, p, func(tx *gorm.DB, _ *pending) error {
		if err := load(h.lockFor(tx), p, c, id, "id", models.TypeCustomer); err != nil {
			return err
		}
		if c.MergedIntoID != nil {
			return errConflict("id", "this customer was merged into another one; update that one")
		}
		before := *c
		var err error
		if in.Name != nil {
			if c.Name, err = cleanText("name", *in.Name, 200, true); err != nil {
				return err
			}
		}
		if v, set := in.Phone.ValueOK(); set {
			if c.Phone, err = cleanPhone("phone", v); err != nil {
				return err
			}
		}
		if v, set := in.Email.ValueOK(); set {
			if c.Email, err = cleanOptEmail("email", v); err != nil {
				return err
			}
		}
		if in.Tags != nil {
			if c.Tags, err = cleanTags("tags", in.Tags); err != nil {
				return err
			}
		}
		if in.Attributes != nil {
			if c.Attributes, err = cleanAttributes("attributes", in.Attributes); err != nil {
				return err
			}
		}
		c.UpdatedAt = h.now()
		if err := tx.Select("*").Omit("id", "tenant_id", "created_at").Updates(c).Error; err != nil {
			return fmt.Errorf("hub: update customer: %w", err)
		}
		return audit(tx, p, "customer.update", models.TypeCustomer, c.ID, &before, c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// MergeCustomers moves everything of one customer (identities,
// conversations, tickets) to the survivor, marks the merged one as merged
// and records both sides in the audit log (AGENT).
func (h *Hub) MergeCustomers(ctx context.Context, in models.MergeCustomersInput) (*models.Customer, error) {
	p, err := require(ctx, canWork)
	if err != nil {
		return nil, err
	}
	survivorID, err := decodeRef("survivorId", models.TypeCustomer, in.SurvivorID)
	if err != nil {
		return nil, err
	}
	mergedID, err := decodeRef("mergedId", models.TypeCustomer, in.MergedID)
	if err != nil {
		return nil, err
	}
	if survivorID == mergedID {
		return nil, errBadInput("mergedId", "a customer cannot be merged into itself")
	}
	survivor, merged := &models.Customer{}, &models.Customer{}
	err = h.write(ctx, p, func(tx *gorm.DB, ev *pending) error {
		if err := load(h.lockFor(tx), p, survivor, survivorID, "survivorId", models.TypeCustomer); err != nil {
			return err
		}
		if err := load(h.lockFor(tx), p, merged, mergedID, "mergedId", models.TypeCustomer); err != nil {
			return err
		}
		if survivor.MergedIntoID != nil {
			return errConflict("survivorId", "the survivor was itself merged into another customer")
		}
		if merged.MergedIntoID != nil {
			return errConflict("mergedId", "this customer was already merged")
		}
		beforeSurvivor, beforeMerged := *survivor, *merged
		moved := map[string]int64{}
		now := h.now()
		for _, m := range []struct {
			name   string
			model  any
			column string
		}{
			{"identities", &models.Identity{}, "customer_id"},
			{"conversations", &models.Conversation{}, "customer_id"},
			{"tickets", &models.Ticket{}, "customer_id"},
		} {
			res := tx.Model(m.model).Scopes(store.Tenant(p.TenantID)).Where(m.column+" = ?", mergedID).
				Updates(map[string]any{m.column: survivorID, "updated_at": now})
			if res.Error != nil {
				return fmt.Errorf("hub: merge %s: %w", m.name, res.Error)
			}
			moved[m.name] = res.RowsAffected
		}
		// The survivor keeps its own contact details and gains what it lacked.
		if survivor.Phone == nil {
			survivor.Phone = merged.Phone
		}
		if survivor.Email == nil {
			survivor.Email = merged.Email
		}
		survivor.Tags, _ = cleanTags("tags", append(append([]string{}, survivor.Tags...), merged.Tags...))
		if survivor.Attributes == nil {
			survivor.Attributes = map[string]any{}
		}
		for k, v := range merged.Attributes {
			if _, ok := survivor.Attributes[k]; !ok {
				survivor.Attributes[k] = v
			}
		}
		survivor.UpdatedAt = now
		if err := tx.Select("phone", "email", "tags", "attributes", "updated_at").Updates(survivor).Error; err != nil {
			return fmt.Errorf("hub: merge: update survivor: %w", err)
		}
		merged.MergedIntoID = &survivor.ID
		merged.UpdatedAt = now
		if err := tx.Select("merged_into_id", "updated_at").Updates(merged).Error; err != nil {
			return fmt.Errorf("hub: merge: mark merged: %w", err)
		}
		after := map[string]any{"survivor": snapshot(survivor), "moved": moved}
		if err := audit(tx, p, "customer.merge", models.TypeCustomer, survivor.ID, &beforeSurvivor, after); err != nil {
			return err
		}
		if err := audit(tx, p, "customer.merged_into", models.TypeCustomer, merged.ID, &beforeMerged, merged); err != nil {
			return err
		}
		var convs []*models.Conversation
		if err := tx.Scopes(store.Tenant(p.TenantID)).Where("customer_id = ?", survivor.ID).Limit(500).Find(&convs).Error; err != nil {
			return fmt.Errorf("hub: merge: %w", err)
		}
		for _, c := range convs {
			ev.add(Event{TenantID: p.TenantID, Conversation: c})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return survivor, nil
}

// Customers lists the tenant's customers.
func (h *Hub) Customers(ctx context.Context, args PageArgs, f *models.CustomerFilter, order *models.CustomerOrder) (*Page[models.Customer], error) {
	p, err := require(ctx, canRead)
	if err != nil {
		return nil, err
	}
	q := h.tenantDB(ctx, p, &models.Customer{})
	if f == nil || f.IncludeMerged == nil || !*f.IncludeMerged {
		q = q.Where("merged_into_id IS NULL")
	}
	if f != nil {
		if f.Search != nil && strings.TrimSpace(*f.Search) != "" {
			pat := likePattern(*f.Search)
			q = q.Where("(name"+likeEscape+" OR phone"+likeEscape+" OR email"+likeEscape+")", pat, pat, pat)
		}
		if f.Tag != nil {
			q = q.Where("tags"+likeEscape, likePattern(jsonQuoted(*f.Tag)))
		}
		if f.ChannelID != nil {
			cid, err := decodeFilterRef("channelId", models.TypeChannel, *f.ChannelID)
			if err != nil {
				return nil, err
			}
			q = q.Where("id IN (?)", h.conn(ctx).Model(&models.Identity{}).Select("customer_id").Where("tenant_id = ? AND channel_id = ?", p.TenantID, cid))
		}
	}
	key := sortKey[models.Customer]{table: "customers", column: "created_at", kind: keyTime, desc: true, value: func(c *models.Customer) any { return c.CreatedAt }, id: func(c *models.Customer) uint64 { return c.ID }}
	if order != nil {
		key.desc = order.Direction == models.OrderDirectionDesc
		switch order.Field {
		case models.CustomerOrderFieldUpdatedAt:
			key.column, key.value = "updated_at", func(c *models.Customer) any { return c.UpdatedAt }
		case models.CustomerOrderFieldName:
			key.column, key.kind, key.value = "name", keyString, func(c *models.Customer) any { return c.Name }
		}
	}
	return paginate(ctx, q, args, key)
}

// jsonQuoted renders s as it appears inside a JSON array of strings, so a
// tag filter matches whole tags only.
func jsonQuoted(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
