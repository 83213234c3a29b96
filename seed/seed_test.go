package seed_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/seed"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// setup opens and migrates a fresh database and creates a tenant through
// the hub, as a real installation would.
func setup(t testing.TB, url string) (*store.Store, uint64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Store: st, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	tenant, _, err := h.CreateTenant(ctx, "Demo", "demo", "admin@demo.local", "")
	if err != nil {
		t.Fatal(err)
	}
	return st, tenant.ID
}

func count(t *testing.T, db *gorm.DB, model any, tenantID uint64) int {
	t.Helper()
	var n int64
	if err := db.Model(model).Where("tenant_id = ?", tenantID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func scalar(t *testing.T, db *gorm.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(sql, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestRun(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			st, tenantID := setup(t, e.URL(t))
			db := st.DB
			opt := seed.Options{Customers: 50, Conversations: 150, MessagesPerConversation: 6, Tickets: 15, Seed: 42}
			stages := map[string]int{}
			opt.Progress = func(stage string, done, total int) {
				if done > total {
					t.Errorf("progress %s: done %d > total %d", stage, done, total)
				}
				stages[stage]++
			}

			st1, err := seed.Run(ctx, db, tenantID, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("first run: %+v", st1)
			want1 := seed.Stats{Customers: 50, Channels: 6, Users: 8, Teams: 4, Conversations: 150, Tickets: 15}
			if st1.Customers != want1.Customers || st1.Channels != want1.Channels || st1.Users != want1.Users ||
				st1.Teams != want1.Teams || st1.Conversations != want1.Conversations || st1.Tickets != want1.Tickets {
				t.Errorf("stats = %+v, want %+v (identities and messages aside)", st1, want1)
			}
			if st1.Identities < 50 || st1.Identities > 100 {
				t.Errorf("identities = %d, want 50..100", st1.Identities)
			}
			if st1.Messages < 150 || st1.Messages > 150*11 {
				t.Errorf("messages = %d, want 150..1650", st1.Messages)
			}
			for _, s := range []string{"channels", "staff", "customers", "conversations", "messages", "tickets"} {
				if stages[s] == 0 {
					t.Errorf("no progress reported for stage %s", s)
				}
			}
			checkCounts(t, db, tenantID, st1, seed.Stats{Users: 1}) // + the admin
			checkInvariants(t, db, tenantID, opt)
			if got := scalar(t, db, "SELECT MIN(number) FROM tickets WHERE tenant_id = ?", tenantID); got != 1001 {
				t.Errorf("first ticket number = %d, want 1001", got)
			}
			if got := scalar(t, db, "SELECT MIN(number) FROM conversations WHERE tenant_id = ?", tenantID); got != 1 {
				t.Errorf("first conversation number = %d, want 1", got)
			}

			// Again, same seed: reuses channels, teams and agents, adds the rest.
			st2, err := seed.Run(ctx, db, tenantID, opt)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			t.Logf("second run: %+v", st2)
			if st2.Channels != 0 || st2.Teams != 0 || st2.Users != 0 {
				t.Errorf("second run created channels/teams/users: %+v", st2)
			}
			sum := seed.Stats{
				Customers: st1.Customers + st2.Customers, Identities: st1.Identities + st2.Identities,
				Channels: st1.Channels, Users: st1.Users, Teams: st1.Teams,
				Conversations: st1.Conversations + st2.Conversations, Messages: st1.Messages + st2.Messages,
				Tickets: st1.Tickets + st2.Tickets,
			}
			checkCounts(t, db, tenantID, sum, seed.Stats{Users: 1})
			checkInvariants(t, db, tenantID, opt)
			if got := scalar(t, db, "SELECT MAX(number) FROM tickets WHERE tenant_id = ?", tenantID); got != 1000+int64(sum.Tickets) {
				t.Errorf("last ticket number = %d, want %d", got, 1000+sum.Tickets)
			}
			if got := scalar(t, db, "SELECT MAX(number) FROM conversations WHERE tenant_id = ?", tenantID); got != int64(sum.Conversations) {
				t.Errorf("last conversation number = %d, want %d", got, sum.Conversations)
			}
		})
	}
}

func checkCounts(t *testing.T, db *gorm.DB, tenantID uint64, want, extra seed.Stats) {
	t.Helper()
	for _, c := range []struct {
		name  string
		model any
		want  int
	}{
		{"customers", &models.Customer{}, want.Customers + extra.Customers},
		{"identities", &models.Identity{}, want.Identities + extra.Identities},
		{"channels", &models.Channel{}, want.Channels + extra.Channels},
		{"users", &models.User{}, want.Users + extra.Users},
		{"teams", &models.Team{}, want.Teams + extra.Teams},
		{"conversations", &models.Conversation{}, want.Conversations + extra.Conversations},
		{"messages", &models.Message{}, want.Messages + extra.Messages},
		{"tickets", &models.Ticket{}, want.Tickets + extra.Tickets},
		{"ticket_conversations", &models.TicketConversation{}, want.Tickets + extra.Tickets},
		{"team_members", &models.TeamMember{}, want.Users},
	} {
		if got := count(t, db, c.model, tenantID); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.name, got, c.want)
		}
	}
}

var phoneRE = regexp.MustCompile(`^1[3-9]\d{9}$`)

func checkInvariants(t *testing.T, db *gorm.DB, tenantID uint64, opt seed.Options) {
	t.Helper()
	zero := func(what, sql string, args ...any) {
		t.Helper()
		if n := scalar(t, db, sql, args...); n != 0 {
			t.Errorf("%s: %d rows", what, n)
		}
	}
	zero("conversations whose last_message_id is not a public message of theirs", `
		SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = ? AND (c.last_message_id IS NULL OR NOT EXISTS (
			SELECT 1 FROM messages m WHERE m.id = c.last_message_id AND m.conversation_id = c.id AND m.is_private = ?))`,
		tenantID, false)
	zero("conversations whose last message is not the latest public one", `
		SELECT COUNT(*) FROM conversations c JOIN messages l ON l.id = c.last_message_id WHERE c.tenant_id = ? AND EXISTS (
			SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.is_private = ? AND m.created_at > l.created_at)`,
		tenantID, false)
	zero("conversations whose last_message_at differs from their last message", `
		SELECT COUNT(*) FROM conversations c JOIN messages l ON l.id = c.last_message_id
		WHERE c.tenant_id = ? AND c.last_message_at <> l.created_at`, tenantID)
	zero("duplicate conversation numbers", `
		SELECT COUNT(*) FROM (SELECT number FROM conversations WHERE tenant_id = ? GROUP BY number HAVING COUNT(*) > 1) d`, tenantID)
	for _, c := range []struct{ counter, table string }{{"conversation", "conversations"}, {"ticket", "tickets"}} {
		counter := scalar(t, db, "SELECT value FROM counters WHERE tenant_id = ? AND name = ?", tenantID, c.counter)
		maxNum := scalar(t, db, "SELECT MAX(number) FROM "+c.table+" WHERE tenant_id = ?", tenantID)
		if counter != maxNum {
			t.Errorf("counter %s = %d, max %s number = %d", c.counter, counter, c.table, maxNum)
		}
	}
	zero("inbound messages not from the conversation's customer", `
		SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.tenant_id = ? AND m.direction = 'INBOUND' AND (m.sender_type <> 'CUSTOMER' OR m.sender_customer_id IS NULL
			OR m.sender_customer_id <> c.customer_id OR m.delivery_status <> 'NONE' OR m.external_id IS NULL)`, tenantID)
	zero("outbound messages without a staff sender", `
		SELECT COUNT(*) FROM messages m WHERE m.tenant_id = ? AND m.direction = 'OUTBOUND'
			AND (m.sender_type <> 'STAFF' OR m.sender_user_id IS NULL
			OR (m.is_private = ? AND (m.delivery_status <> 'NONE' OR m.external_id IS NOT NULL))
			OR (m.is_private = ? AND m.delivery_status <> 'SENT'))`, tenantID, true, false)
	zero("messages on another channel than their conversation", `
		SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.tenant_id = ? AND m.channel_id <> c.channel_id`, tenantID)
	zero("conversations on a channel the customer has no identity on", `
		SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = ? AND NOT EXISTS (
			SELECT 1 FROM identities i WHERE i.customer_id = c.customer_id AND i.channel_id = c.channel_id)`, tenantID)
	zero("resolved conversations waiting", `
		SELECT COUNT(*) FROM conversations WHERE tenant_id = ? AND status = 'RESOLVED' AND waiting_since IS NOT NULL`, tenantID)
	zero("conversations answered but without first_response_at", `
		SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = ? AND c.first_response_at IS NULL AND EXISTS (
			SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'OUTBOUND' AND m.is_private = ?)`, tenantID, false)
	zero("tickets whose customer differs from their conversation's", `
		SELECT COUNT(*) FROM tickets t JOIN ticket_conversations tc ON tc.ticket_id = t.id JOIN conversations c ON c.id = tc.conversation_id
		WHERE t.tenant_id = ? AND (t.customer_id IS NULL OR t.customer_id <> c.customer_id)`, tenantID)
	zero("agents in no team", `
		SELECT COUNT(*) FROM users u WHERE u.tenant_id = ? AND u.role = 'AGENT' AND NOT EXISTS (
			SELECT 1 FROM team_members tm WHERE tm.user_id = u.id)`, tenantID)

	// Read some rows back through GORM (serializers, times).
	var convs []models.Conversation
	if err := db.Where("tenant_id = ?", tenantID).Find(&convs).Error; err != nil {
		t.Fatal(err)
	}
	statuses := map[models.ConversationStatus]int{}
	for _, c := range convs {
		statuses[c.Status]++
		if c.Tags == nil {
			t.Errorf("conversation %d: nil tags", c.Number)
		}
		if c.Subject == "" || c.LastMessageAt == nil || c.LastActivityAt.Before(*c.LastMessageAt) {
			t.Errorf("conversation %d: subject %q, last message at %v, last activity %v", c.Number, c.Subject, c.LastMessageAt, c.LastActivityAt)
		}
		if c.LastActivityAt.After(time.Now()) {
			t.Errorf("conversation %d: activity in the future (%v)", c.Number, c.LastActivityAt)
		}
		if (c.Status == models.ConversationSnoozed) != (c.SnoozedUntil != nil) {
			t.Errorf("conversation %d: status %s, snoozed until %v", c.Number, c.Status, c.SnoozedUntil)
		}
	}
	for _, s := range models.AllConversationStatuses {
		if statuses[s] == 0 && s != models.ConversationSnoozed {
			t.Errorf("no %s conversations: %v", s, statuses)
		}
	}
	var msgs []models.Message
	if err := db.Where("tenant_id = ?", tenantID).Order("id").Limit(200).Find(&msgs).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Attachments == nil || m.Text == "" || strings.Contains(m.Text, "{") {
			t.Errorf("message %d: attachments %v, text %q", m.ID, m.Attachments, m.Text)
		}
	}
	var custs []models.Customer
	if err := db.Where("tenant_id = ?", tenantID).Find(&custs).Error; err != nil {
		t.Fatal(err)
	}
	withEmail := 0
	for _, c := range custs {
		if c.Phone == nil || !phoneRE.MatchString(*c.Phone) {
			t.Errorf("customer %s: phone %v", c.Name, c.Phone)
		}
		if c.Email != nil {
			withEmail++
		}
		if c.Attributes["city"] == nil || c.Tags == nil {
			t.Errorf("customer %s: attributes %v, tags %v", c.Name, c.Attributes, c.Tags)
		}
	}
	if withEmail == 0 || withEmail == len(custs) {
		t.Errorf("%d of %d customers have an email, want about half", withEmail, len(custs))
	}
	var tickets []models.Ticket
	if err := db.Where("tenant_id = ?", tenantID).Find(&tickets).Error; err != nil {
		t.Fatal(err)
	}
	for _, tk := range tickets {
		if tk.Title == "" || strings.Contains(tk.Title+tk.Description, "{") || tk.Category == "" || tk.ExternalRefs == nil {
			t.Errorf("ticket %d: %q / %q / %q / %v", tk.Number, tk.Title, tk.Description, tk.Category, tk.ExternalRefs)
		}
		if (tk.ClosedAt != nil) != (tk.Status == models.TicketClosed) {
			t.Errorf("ticket %d: status %s, closed at %v", tk.Number, tk.Status, tk.ClosedAt)
		}
	}
}

// TestDeterministic: the same seed on two fresh databases gives the same data.
func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	now := store.Now()
	digest := func() string {
		st, tenantID := setup(t, storetest.SQLiteURL(t))
		if _, err := seed.Run(ctx, st.DB, tenantID, seed.Options{Customers: 20, Conversations: 40, Seed: 7, Now: now}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		var convs []models.Conversation
		st.DB.Order("number").Find(&convs)
		for _, c := range convs {
			fmt.Fprintf(&b, "%d %s %s %s %v|", c.Number, c.Subject, c.Status, c.Priority, c.LastActivityAt)
		}
		var texts []string
		st.DB.Model(&models.Message{}).Order("id").Pluck("text", &texts)
		b.WriteString(strings.Join(texts, "|"))
		return b.String()
	}
	a, b := digest(), digest()
	if a != b {
		t.Errorf("two runs with one seed differ")
	}
	if len(a) < 1000 {
		t.Errorf("suspiciously little data: %d bytes", len(a))
	}
}

func TestNoTenant(t *testing.T) {
	st, _ := setup(t, storetest.SQLiteURL(t))
	if _, err := seed.Run(context.Background(), st.DB, 9999, seed.Options{}); err == nil {
		t.Fatal("seeding a missing tenant succeeded")
	}
}

// TestBig times a larger SQLite run. KEFUHUB_SEED_BIG=1 seeds 2,000
// customers / 10,000 conversations / ~100k messages; KEFUHUB_SEED_BIG=full
// seeds 10,000 / 50,000 / ~500k.
func TestBig(t *testing.T) {
	mode := os.Getenv("KEFUHUB_SEED_BIG")
	if testing.Short() || mode == "" {
		t.Skip("set KEFUHUB_SEED_BIG=1 (or full) to run")
	}
	opt := seed.Options{Customers: 2000, Conversations: 10000, MessagesPerConversation: 10, Tickets: 1000, Seed: 1}
	if mode == "full" {
		opt.Customers, opt.Conversations, opt.Tickets = 10000, 50000, 5000
	}
	st, tenantID := setup(t, storetest.SQLiteURL(t))
	start := time.Now()
	opt.Progress = func(stage string, done, total int) {
		if done == total {
			t.Logf("%-13s %7d rows done at %6.2fs", stage, total, time.Since(start).Seconds())
		}
	}
	stats, err := seed.Run(context.Background(), st.DB, tenantID, opt)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("seeded %+v in %v: %.0f messages/s, %.0f rows/s", stats, el.Round(time.Millisecond),
		float64(stats.Messages)/el.Seconds(),
		float64(stats.Customers+stats.Identities+stats.Conversations+stats.Messages+2*stats.Tickets)/el.Seconds())
	if got := count(t, st.DB, &models.Message{}, tenantID); got != stats.Messages {
		t.Errorf("messages: %d rows, stats say %d", got, stats.Messages)
	}
}
