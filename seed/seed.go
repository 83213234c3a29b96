// Package seed fills one tenant with realistic Chinese customer-service demo
// data — channels, teams, agents, customers with identities, conversations
// with messages, and work orders — fast enough for demos and benchmarks.
//
// Rows are inserted with multi-row INSERTs (CreateInBatches; see batchSize)
// in a handful of transactions; conversations go in chunks, each chunk in
// one transaction with its messages and the conversations' last_message_id
// updates, so a chunk is visible completely or not at all. On SQLite on two
// cores 10k customers / 50k conversations / 500k messages take about 17s. Randomness comes from a PCG generator seeded with Options.Seed, so the
// same options on the same database state give the same data.
//
// Seeding twice on one tenant is fine: channels (by kind), teams (by name)
// and agents (by email) are reused, and conversation and ticket numbers
// continue the tenant's counters.
package seed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// Options sizes and steers a seed run. Zero values pick the defaults; a
// negative count means none.
type Options struct {
	Customers               int   // default 100
	Conversations           int   // default 3 per customer
	MessagesPerConversation int   // average; default 10 (each conversation gets 1..2x-1)
	Agents                  int   // default 8
	Tickets                 int   // default Conversations/10
	Seed                    int64 // deterministic randomness (PCG)
	// Now is the base time (default store.Now()): conversations start in
	// the 90 days before it and every message is older than it.
	Now time.Time
	// Progress, if set, is called after each stage step with the rows done
	// so far and the stage's total.
	Progress func(stage string, done, total int)
}

// Stats counts the rows a run created (reused channels, teams and users are
// not counted).
type Stats struct {
	Customers, Identities, Channels, Users, Teams, Conversations, Messages, Tickets int
}

// batchSize is rows per multi-row INSERT. On MySQL/MariaDB one statement is
// one round trip, so batches are large (~20 columns x 1000 rows = 20k
// placeholders, below the protocol's 65535). The SQLite driver binds
// arguments in time quadratic in their number (each placeholder searches
// the argument list), so there small statements are much faster.
var batchSize = map[string]int{"mysql": 1000, "sqlite": 48}

func batchFor(db *gorm.DB) int {
	if n, ok := batchSize[db.Dialector.Name()]; ok {
		return n
	}
	return 100
}

const (
	// customerChunk and convChunk rows per transaction.
	customerChunk = 5000
	convChunk     = 2500

	counterConversation = "conversation"
	counterTicket       = "ticket"
	firstTicketNumber   = 1001

	// conversationWindow is how far back conversations start.
	conversationWindow = 90 * 24 * time.Hour
	// maxGap bounds the time between two messages.
	maxGap = 30 * time.Minute
)

func (o Options) withDefaults() (Options, error) {
	def := func(v, d int) int {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	o.Customers = def(o.Customers, 100)
	o.Conversations = def(o.Conversations, 3*o.Customers)
	if o.MessagesPerConversation <= 0 {
		o.MessagesPerConversation = 10
	}
	o.Agents = def(o.Agents, 8)
	o.Tickets = def(o.Tickets, o.Conversations/10)
	if o.Conversations > 0 && o.Customers == 0 {
		return o, errors.New("seed: conversations need customers")
	}
	if o.Tickets > 0 && o.Conversations == 0 {
		return o, errors.New("seed: tickets need conversations")
	}
	if o.Now.IsZero() {
		o.Now = store.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Microsecond)
	return o, nil
}

type agent struct {
	id     *uint64
	name   string
	teamID uint64
}

type customer struct {
	id       *uint64
	name     string
	vip      bool
	channels []uint64 // identity channels, 1 or 2
}

// convSummary is what tickets need to know about a seeded conversation.
type convSummary struct {
	id, customerID uint64
	createdAt      time.Time
	topic          int
	assignee       *uint64
	v              vars
}

type seeder struct {
	db       *gorm.DB
	batch    int
	tenantID uint64
	opt      Options
	rng      *rand.Rand
	now      time.Time
	stats    Stats

	channels  map[models.ChannelKind]uint64
	teamIDs   []uint64 // parallel to teamDefs
	agents    []agent
	byTeam    map[uint64][]int // team id -> indexes into agents
	customers []customer
	convs     []convSummary
}

// Run seeds tenantID (which must exist) and reports what it created.
func Run(ctx context.Context, db *gorm.DB, tenantID uint64, opt Options) (Stats, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	s := &seeder{
		db: db.WithContext(ctx), batch: batchFor(db), tenantID: tenantID, opt: opt, now: opt.Now,
		rng: rand.New(rand.NewPCG(uint64(opt.Seed), 0x6b656675687562)),
	}
	var n int64
	if err := s.db.Model(&models.Tenant{}).Where("id = ?", tenantID).Count(&n).Error; err != nil {
		return Stats{}, fmt.Errorf("seed: load tenant: %w", err)
	}
	if n == 0 {
		return Stats{}, fmt.Errorf("seed: tenant %d does not exist", tenantID)
	}
	for _, step := range []func(context.Context) error{s.seedChannels, s.seedStaff, s.seedCustomers, s.seedConversations, s.seedTickets} {
		if err := ctx.Err(); err != nil {
			return s.stats, err
		}
		if err := step(ctx); err != nil {
			return s.stats, err
		}
	}
	return s.stats, nil
}

func (s *seeder) progress(stage string, done, total int) {
	if s.opt.Progress != nil {
		s.opt.Progress(stage, done, total)
	}
}

// --- random helpers -------------------------------------------------------

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// pickNot picks a template other than avoid when it can, so that nobody
// repeats the same sentence twice in a row.
func pickNot(r *rand.Rand, xs []string, avoid string) string {
	for range 4 {
		if x := pick(r, xs); x != avoid {
			return x
		}
	}
	return pick(r, xs)
}

func (s *seeder) chance(percent int) bool { return s.rng.IntN(100) < percent }

// between returns a duration uniformly in [lo, hi), to the millisecond.
func (s *seeder) between(lo, hi time.Duration) time.Duration {
	ms := int64((hi - lo) / time.Millisecond)
	if ms <= 0 {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(ms))*time.Millisecond
}

func weighted(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func alnumString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

// vars fill a conversation's templates.
type vars struct {
	order, product, tracking, amount, city, agent, digits string
}

func (s *seeder) newVars(at time.Time, agentName string) vars {
	r := s.rng
	day := at.Add(-s.between(0, 10*24*time.Hour))
	var tracking string
	switch r.IntN(3) {
	case 0:
		tracking = "SF" + digits(r, 13)
	case 1:
		tracking = "YT" + digits(r, 13)
	default:
		tracking = "JDV" + digits(r, 12)
	}
	return vars{
		order:    day.Format("20060102") + digits(r, 10),
		product:  pick(r, products),
		tracking: tracking,
		amount:   fmt.Sprintf("%d.%02d", 9+r.IntN(990), r.IntN(100)),
		city:     pick(r, cities),
		agent:    agentName,
		digits:   digits(r, 4),
	}
}

// fill expands {key} placeholders of tpl from v.
func fill(tpl string, v *vars) string {
	if !strings.Contains(tpl, "{") {
		return tpl
	}
	var b strings.Builder
	b.Grow(len(tpl) + 32)
	for {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		j := strings.IndexByte(tpl[i:], '}')
		if j < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		b.WriteString(tpl[:i])
		switch key := tpl[i+1 : i+j]; key {
		case "order":
			b.WriteString(v.order)
		case "product":
			b.WriteString(v.product)
		case "tracking":
			b.WriteString(v.tracking)
		case "amount":
			b.WriteString(v.amount)
		case "city":
			b.WriteString(v.city)
		case "agent":
			b.WriteString(v.agent)
		case "digits":
			b.WriteString(v.digits)
		default:
			b.WriteString(tpl[i : i+j+1])
		}
		tpl = tpl[i+j+1:]
	}
}

// --- channels and staff ---------------------------------------------------

func (s *seeder) seedChannels(context.Context) error {
	var existing []models.Channel
	if err := s.db.Scopes(store.Tenant(s.tenantID)).Order("id").Find(&existing).Error; err != nil {
		return fmt.Errorf("seed: load channels: %w", err)
	}
	s.channels = map[models.ChannelKind]uint64{}
	for _, c := range existing {
		if _, ok := s.channels[c.Kind]; !ok {
			s.channels[c.Kind] = c.ID
		}
	}
	var create []models.Channel
	created := s.now.Add(-400 * 24 * time.Hour)
	for _, d := range channelDefs() {
		if _, ok := s.channels[d.kind]; ok {
			continue
		}
		create = append(create, models.Channel{
			TenantID: s.tenantID, Kind: d.kind, Name: d.name, Settings: d.settings,
			SecretKeys: []string{}, Enabled: true, CreatedAt: created, UpdatedAt: created,
		})
	}
	if len(create) > 0 {
		if err := s.db.Create(&create).Error; err != nil {
			return fmt.Errorf("seed: create channels: %w", err)
		}
		for _, c := range create {
			s.channels[c.Kind] = c.ID
		}
	}
	s.stats.Channels = len(create)
	s.progress("channels", len(create), len(create))
	return nil
}

func agentEmail(i int) string { return fmt.Sprintf("agent%02d@demo.kefuhub.local", i+1) }

func agentName(i int) string {
	n := agentNames[i%len(agentNames)]
	if i >= len(agentNames) {
		n += strconv.Itoa(i/len(agentNames) + 1)
	}
	return n
}

func (s *seeder) seedStaff(context.Context) error {
	created := s.now.Add(-365 * 24 * time.Hour)
	err := s.db.Transaction(func(tx *gorm.DB) error {
		// Teams, reused by name.
		names := make([]string, len(teamDefs))
		for i, d := range teamDefs {
			names[i] = d.name
		}
		var teams []models.Team
		if err := tx.Scopes(store.Tenant(s.tenantID)).Where("name IN ?", names).Find(&teams).Error; err != nil {
			return fmt.Errorf("seed: load teams: %w", err)
		}
		s.teamIDs = make([]uint64, len(teamDefs))
		for _, t := range teams {
			s.teamIDs[slices.Index(names, t.Name)] = t.ID
		}
		var newTeams []models.Team
		for i, d := range teamDefs {
			if s.teamIDs[i] == 0 {
				newTeams = append(newTeams, models.Team{TenantID: s.tenantID, Name: d.name, Description: d.description, CreatedAt: created, UpdatedAt: created})
			}
		}
		if len(newTeams) > 0 {
			if err := tx.Create(&newTeams).Error; err != nil {
				return fmt.Errorf("seed: create teams: %w", err)
			}
			for _, t := range newTeams {
				s.teamIDs[slices.Index(names, t.Name)] = t.ID
			}
		}
		s.stats.Teams = len(newTeams)

		// Agents, reused by email.
		if s.opt.Agents == 0 {
			return nil
		}
		emails := make([]string, s.opt.Agents)
		for i := range emails {
			emails[i] = agentEmail(i)
		}
		var users []models.User
		if err := tx.Scopes(store.Tenant(s.tenantID)).Where("email IN ?", emails).Find(&users).Error; err != nil {
			return fmt.Errorf("seed: load users: %w", err)
		}
		byEmail := map[string]models.User{}
		for _, u := range users {
			byEmail[u.Email] = u
		}
		var newUsers []models.User
		for i, e := range emails {
			if _, ok := byEmail[e]; !ok {
				newUsers = append(newUsers, models.User{
					TenantID: s.tenantID, Name: agentName(i), Email: e, Role: models.RoleAgent,
					Active: true, CreatedAt: created, UpdatedAt: created,
				})
			}
		}
		if len(newUsers) > 0 {
			if err := tx.Create(&newUsers).Error; err != nil {
				return fmt.Errorf("seed: create agents: %w", err)
			}
			for _, u := range newUsers {
				byEmail[u.Email] = u
			}
		}
		s.stats.Users = len(newUsers)

		// One team each: keep an existing membership, else add one.
		ids := make([]uint64, 0, len(emails))
		for _, e := range emails {
			ids = append(ids, byEmail[e].ID)
		}
		var members []models.TeamMember
		if err := tx.Where("tenant_id = ? AND user_id IN ?", s.tenantID, ids).Order("created_at, team_id").Find(&members).Error; err != nil {
			return fmt.Errorf("seed: load team members: %w", err)
		}
		teamOf := map[uint64]uint64{}
		for _, m := range members {
			if _, ok := teamOf[m.UserID]; !ok {
				teamOf[m.UserID] = m.TeamID
			}
		}
		var newMembers []models.TeamMember
		s.byTeam = map[uint64][]int{}
		for i, e := range emails {
			u := byEmail[e]
			if !u.Active || u.Role.Rank() < models.RoleAgent.Rank() {
				continue // a pre-existing viewer or deactivated user takes no work
			}
			team, ok := teamOf[u.ID]
			if !ok {
				team = s.teamIDs[i%len(s.teamIDs)]
				newMembers = append(newMembers, models.TeamMember{TeamID: team, UserID: u.ID, TenantID: s.tenantID, CreatedAt: created})
			}
			id := u.ID
			s.byTeam[team] = append(s.byTeam[team], len(s.agents))
			s.agents = append(s.agents, agent{id: &id, name: u.Name, teamID: team})
		}
		if len(newMembers) > 0 {
			if err := tx.Create(&newMembers).Error; err != nil {
				return fmt.Errorf("seed: create team members: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.progress("staff", s.stats.Users+s.stats.Teams, s.stats.Users+s.stats.Teams)
	return nil
}

// --- customers ------------------------------------------------------------

func (s *seeder) seedCustomers(ctx context.Context) error {
	total := s.opt.Customers
	if total == 0 {
		return nil
	}
	// Emails carry an ordinal above every customer id so far, so that they
	// (and the EMAIL identities made of them) never repeat between runs.
	var base uint64
	if err := s.db.Model(&models.Customer{}).Select("COALESCE(MAX(id), 0)").Scan(&base).Error; err != nil {
		return fmt.Errorf("seed: read customer ids: %w", err)
	}
	kinds := make([]models.ChannelKind, len(identityWeights))
	weights := make([]int, len(identityWeights))
	for i, w := range identityWeights {
		kinds[i], weights[i] = w.kind, w.weight
	}
	s.customers = make([]customer, 0, total)
	for lo := 0; lo < total; lo += customerChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+customerChunk, total)
		rows := make([]models.Customer, hi-lo)
		for i := range rows {
			rows[i] = s.newCustomer(base + uint64(lo+i) + 1)
		}
		err := s.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.CreateInBatches(&rows, s.batch).Error; err != nil {
				return fmt.Errorf("seed: create customers: %w", err)
			}
			idents := make([]models.Identity, 0, len(rows)*3/2)
			for i := range rows {
				c := &rows[i]
				id := c.ID
				info := customer{id: &id, name: c.Name, vip: slices.Contains(c.Tags, "VIP")}
				n := 1 + s.rng.IntN(2)
				for len(info.channels) < n {
					kind := kinds[weighted(s.rng, weights)]
					if kind == models.ChannelEmail && c.Email == nil {
						continue
					}
					ch := s.channels[kind]
					if slices.Contains(info.channels, ch) {
						continue
					}
					info.channels = append(info.channels, ch)
					idents = append(idents, models.Identity{
						TenantID: s.tenantID, CustomerID: c.ID, ChannelID: ch,
						ExternalID: s.externalID(kind, c), DisplayName: s.displayName(kind, c),
						CreatedAt: c.CreatedAt, UpdatedAt: c.CreatedAt,
					})
				}
				s.customers = append(s.customers, info)
			}
			if err := tx.CreateInBatches(&idents, s.batch).Error; err != nil {
				return fmt.Errorf("seed: create identities: %w", err)
			}
			s.stats.Identities += len(idents)
			return nil
		})
		if err != nil {
			s.customers = s.customers[:lo]
			return err
		}
		s.stats.Customers = hi
		s.progress("customers", hi, total)
	}
	return nil
}

func (s *seeder) newCustomer(ordinal uint64) models.Customer {
	r := s.rng
	sur, given := pick(r, surnames), pick(r, givenNames)
	phone := pick(r, phonePrefixes) + digits(r, 8)
	c := models.Customer{
		TenantID: s.tenantID, Name: sur.han + given.han, Phone: &phone, Tags: []string{},
		CreatedAt: s.now.Add(-conversationWindow - s.between(24*time.Hour, 640*24*time.Hour)),
	}
	c.UpdatedAt = c.CreatedAt
	if r.IntN(2) == 0 {
		var email string
		if r.IntN(3) == 0 {
			email = fmt.Sprintf("%d@qq.com", 100000000+ordinal*37+uint64(r.IntN(37)))
		} else {
			email = fmt.Sprintf("%s%s%d@%s", sur.pinyin, given.pinyin, ordinal, pick(r, pinyinMailDomains))
		}
		c.Email = &email
	}
	level := 1 + r.IntN(3)
	for _, t := range customerTags {
		if s.chance(t.percent) {
			c.Tags = append(c.Tags, t.tag)
		}
	}
	if slices.Contains(c.Tags, "VIP") {
		level = 4 + r.IntN(2)
	}
	switch r.IntN(3) {
	case 0:
		c.Tags = append(c.Tags, "新客")
	case 1:
		c.Tags = append(c.Tags, "老客户")
	}
	c.Attributes = map[string]any{"city": pick(r, cities), "level": level, "source": pick(r, customerSources)}
	if slices.Contains(c.Tags, "批发") {
		c.Attributes["company"] = pick(r, companies)
	}
	return c
}

// externalID is the customer's id on a platform. Every form but EMAIL's
// embeds the customer's row id, which makes it unique on its channel.
func (s *seeder) externalID(kind models.ChannelKind, c *models.Customer) string {
	r := s.rng
	switch kind {
	case models.ChannelWeComKF:
		return fmt.Sprintf("wm%08x%s", c.ID, alnumString(r, 22))
	case models.ChannelWeChatOA:
		return fmt.Sprintf("o%s%08x", alnumString(r, 19), c.ID)
	case models.ChannelTaobao:
		return fmt.Sprintf("AAH%08X%s", c.ID, alnumString(r, 16))
	case models.ChannelApp:
		return "app_user_" + strconv.FormatUint(c.ID, 10)
	case models.ChannelEmail:
		return *c.Email
	default:
		return fmt.Sprintf("visitor_%08x%016x", c.ID, r.Uint64())
	}
}

func (s *seeder) displayName(kind models.ChannelKind, c *models.Customer) string {
	switch kind {
	case models.ChannelWeComKF, models.ChannelWeChatOA:
		if s.chance(50) {
			return pick(s.rng, nicknames)
		}
	case models.ChannelTaobao:
		return "tb" + digits(s.rng, 9)
	case models.ChannelWeb:
		return "访客" + (*c.Phone)[len(*c.Phone)-4:]
	}
	return c.Name
}

// --- conversations and messages --------------------------------------------

type convPlan struct {
	customer int
	messages int
	start    time.Time
}

var (
	statusWeights   = []int{40, 20, 5, 35}
	statuses        = []models.ConversationStatus{models.ConversationOpen, models.ConversationPending, models.ConversationSnoozed, models.ConversationResolved}
	priorityWeights = []int{15, 60, 18, 7}
)

func (s *seeder) seedConversations(ctx context.Context) error {
	total := s.opt.Conversations
	if total == 0 {
		return nil
	}
	// Plan every conversation first so that numbers follow start times.
	avg := s.opt.MessagesPerConversation
	plans := make([]convPlan, total)
	totalMessages := 0
	for i := range plans {
		p := &plans[i]
		if i < len(s.customers) {
			p.customer = i
		} else {
			p.customer = s.rng.IntN(len(s.customers))
		}
		p.messages = 1 + s.rng.IntN(2*avg-1)
		totalMessages += p.messages
		span := time.Duration(p.messages)*maxGap + 10*time.Minute
		latest := s.now.Add(-span)
		earliest := s.now.Add(-conversationWindow)
		if latest.After(earliest) {
			p.start = earliest.Add(s.between(0, latest.Sub(earliest)))
		} else {
			p.start = latest
		}
	}
	slices.SortStableFunc(plans, func(a, b convPlan) int { return a.start.Compare(b.start) })

	first, err := s.reserve(counterConversation, 0, int64(total), &models.Conversation{})
	if err != nil {
		return err
	}
	s.convs = make([]convSummary, 0, total)
	done := 0
	for lo := 0; lo < total; lo += convChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+convChunk, total)
		n, err := s.conversationChunk(plans[lo:hi], first+int64(lo))
		if err != nil {
			return err
		}
		done += n
		s.stats.Conversations = hi
		s.stats.Messages = done
		s.progress("conversations", hi, total)
		s.progress("messages", done, totalMessages)
	}
	return nil
}

// reserve takes n numbers from the tenant's counter name and returns the
// first. A missing counter starts after defaultLast or the highest number
// in model's table, whichever is larger. Numbers are taken up front, in
// their own transaction, so that the hub can hand out numbers meanwhile.
func (s *seeder) reserve(name string, defaultLast, n int64, model any) (int64, error) {
	var first int64
	err := s.db.Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&models.Counter{}).Where("tenant_id = ? AND name = ?", s.tenantID, name).
			UpdateColumn("value", gorm.Expr("value + ?", n))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var maxNum int64
			if err := tx.Model(model).Scopes(store.Tenant(s.tenantID)).Select("COALESCE(MAX(number), 0)").Scan(&maxNum).Error; err != nil {
				return err
			}
			last := max(defaultLast, maxNum)
			first = last + 1
			return tx.Create(&models.Counter{TenantID: s.tenantID, Name: name, Value: last + n}).Error
		}
		var c models.Counter
		if err := tx.Where("tenant_id = ? AND name = ?", s.tenantID, name).Take(&c).Error; err != nil {
			return err
		}
		first = c.Value - n + 1
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed: reserve %s numbers: %w", name, err)
	}
	return first, nil
}

// conversationChunk builds and stores one chunk of conversations with their
// messages in one transaction and returns the number of messages.
func (s *seeder) conversationChunk(plans []convPlan, firstNumber int64) (int, error) {
	nMsgs := 0
	for _, p := range plans {
		nMsgs += p.messages
	}
	convs := make([]models.Conversation, len(plans))
	summaries := make([]convSummary, len(plans))
	msgs := make([]models.Message, 0, nMsgs)
	owner := make([]int32, 0, nMsgs) // conversation index of each message
	lastPublic := make([]int, len(plans))
	for i, p := range plans {
		lastPublic[i] = s.buildConversation(&convs[i], &summaries[i], p, firstNumber+int64(i), &msgs)
		for len(owner) < len(msgs) {
			owner = append(owner, int32(i))
		}
	}
	err := s.db.Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(&convs, s.batch).Error; err != nil {
			return fmt.Errorf("seed: create conversations: %w", err)
		}
		seq, prev := 0, int32(-1)
		for k := range msgs {
			m := &msgs[k]
			ci := owner[k]
			if ci != prev {
				seq, prev = 0, ci
			}
			seq++
			m.ConversationID = convs[ci].ID
			if !m.IsPrivate {
				ext := "msg_" + strconv.FormatUint(m.ConversationID, 10) + "_" + strconv.Itoa(seq)
				m.ExternalID = &ext
			}
		}
		if err := tx.CreateInBatches(&msgs, s.batch).Error; err != nil {
			return fmt.Errorf("seed: create messages: %w", err)
		}
		for i := range convs {
			if err := tx.Exec("UPDATE conversations SET last_message_id = ? WHERE id = ?", msgs[lastPublic[i]].ID, convs[i].ID).Error; err != nil {
				return fmt.Errorf("seed: update conversation: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i := range summaries {
		summaries[i].id = convs[i].ID
	}
	s.convs = append(s.convs, summaries...)
	return len(msgs), nil
}

// buildConversation fills conv and appends its messages to msgs; it
// returns the index in msgs of the last public message.
func (s *seeder) buildConversation(conv *models.Conversation, sum *convSummary, p convPlan, number int64, msgs *[]models.Message) int {
	r := s.rng
	cust := &s.customers[p.customer]
	ti := weighted(r, topicWeights)
	tp := &topics[ti]
	status := statuses[weighted(r, statusWeights)]
	priority := models.AllPriorities[weighted(r, priorityWeights)]
	if ti == len(topics)-1 && priority.Rank() < models.PriorityHigh.Rank() && s.chance(60) {
		priority = models.PriorityHigh // complaints run hot
	}
	*conv = models.Conversation{
		TenantID: s.tenantID, Number: number, ChannelID: pick(r, cust.channels), CustomerID: *cust.id,
		Status: status, Priority: priority, Tags: []string{}, CreatedAt: p.start,
	}
	// A short OPEN conversation may still wait for its first agent: customer
	// messages only, nobody assigned yet.
	awaiting := len(s.agents) == 0 || (status == models.ConversationOpen && p.messages <= 3 && s.chance(60))
	var ag *agent
	teamID := s.teamIDs[tp.team]
	if !awaiting {
		if in := s.byTeam[teamID]; len(in) > 0 && s.chance(85) {
			ag = &s.agents[pick(r, in)]
		} else {
			ag = &s.agents[r.IntN(len(s.agents))]
		}
		conv.AssigneeID = ag.id
		team := ag.teamID
		conv.TeamID = &team
	} else if s.chance(50) {
		conv.TeamID = &teamID
	}
	agentName := ""
	if ag != nil {
		agentName = ag.name
	}
	v := s.newVars(p.start, agentName)
	conv.Subject = tp.name + "：" + fill(pick(r, tp.subjects), &v)
	if s.chance(70) {
		conv.Tags = append(conv.Tags, tp.tag)
	}
	if cust.vip {
		conv.Tags = append(conv.Tags, "VIP")
	}
	if priority == models.PriorityUrgent {
		conv.Tags = append(conv.Tags, "加急")
	}
	*sum = convSummary{customerID: *cust.id, createdAt: p.start, topic: ti, assignee: conv.AssigneeID, v: v}

	// Messages. The first is the customer's; then mostly alternating, with
	// the odd double message and private note. PENDING conversations end on
	// the agent (waiting for the customer), OPEN ones on the customer.
	at := p.start
	lastPub, lastDir := -1, models.DirectionInbound
	var firstResponse, waiting *time.Time
	answered := false
	prevIn, prevOut := "", "" // templates last used, not to repeat them
	for k := 0; k < p.messages; k++ {
		last := k == p.messages-1
		m := models.Message{
			TenantID: s.tenantID, ChannelID: conv.ChannelID, ContentType: "text/plain",
			Attachments: []models.Attachment{},
		}
		dir := models.DirectionInbound
		note := false
		switch {
		case k == 0 || awaiting:
		case k >= 2 && !last && s.chance(6):
			note = true
			dir = models.DirectionOutbound
		case last && status == models.ConversationPending:
			dir = models.DirectionOutbound
		case last && status == models.ConversationOpen:
			dir = models.DirectionInbound
		case lastDir == models.DirectionInbound && s.chance(15) && k > 1:
			dir = models.DirectionInbound // a second message before the answer
		case lastDir == models.DirectionInbound:
			dir = models.DirectionOutbound
		}
		if k > 0 {
			switch {
			case note:
				at = at.Add(s.between(time.Minute, 10*time.Minute))
			case dir == models.DirectionOutbound && lastDir == models.DirectionInbound:
				at = at.Add(s.between(20*time.Second, 15*time.Minute))
			case dir == models.DirectionInbound && lastDir == models.DirectionInbound:
				at = at.Add(s.between(10*time.Second, 2*time.Minute))
			default:
				at = at.Add(s.between(time.Minute, maxGap))
			}
		}
		m.CreatedAt = at
		m.Direction = dir
		switch {
		case note:
			m.SenderType, m.SenderUserID, m.IsPrivate, m.DeliveryStatus = models.SenderStaff, ag.id, true, models.DeliveryNone
			m.Text = fill(pick(r, notes), &v)
		case dir == models.DirectionOutbound:
			m.SenderType, m.SenderUserID, m.DeliveryStatus = models.SenderStaff, ag.id, models.DeliverySent
			var tpl string
			switch {
			case !answered:
				tpl = pick(r, tp.replies)
				m.Text = fill(pick(r, greetings), &v) + fill(tpl, &v)
			case last && status == models.ConversationResolved:
				tpl = pick(r, closings)
			case s.chance(70):
				tpl = pickNot(r, tp.replies, prevOut)
			default:
				tpl = pickNot(r, genericReplies, prevOut)
			}
			if m.Text == "" {
				m.Text = fill(tpl, &v)
			}
			prevOut = tpl
		default:
			m.SenderType, m.SenderCustomerID, m.DeliveryStatus = models.SenderCustomer, cust.id, models.DeliveryNone
			var tpl string
			switch {
			case k == 0:
				tpl = pick(r, tp.opens)
			case last && status == models.ConversationResolved:
				tpl = pick(r, thanks)
			case s.chance(75):
				tpl = pickNot(r, tp.follows, prevIn)
			default:
				tpl = pickNot(r, genericFollows, prevIn)
			}
			m.Text = fill(tpl, &v)
			prevIn = tpl
		}
		if !note {
			t := at
			if dir == models.DirectionOutbound {
				answered = true
				if firstResponse == nil {
					firstResponse = &t
				}
				waiting = nil
			} else if waiting == nil {
				waiting = &t
			}
			lastPub, lastDir = len(*msgs), dir
		}
		*msgs = append(*msgs, m)
	}
	lastAt := (*msgs)[lastPub].CreatedAt
	conv.LastMessageAt = &lastAt
	conv.LastActivityAt = at
	conv.UpdatedAt = at
	conv.FirstResponseAt = firstResponse
	if status != models.ConversationResolved {
		conv.WaitingSince = waiting
	}
	if status == models.ConversationSnoozed {
		until := s.now.Add(s.between(time.Hour, 72*time.Hour))
		conv.SnoozedUntil = &until
	}
	return lastPub
}

// --- tickets ----------------------------------------------------------------

var (
	ticketStatusWeights = []int{20, 30, 15, 20, 15}
	ticketStatuses      = []models.TicketStatus{models.TicketNew, models.TicketOpen, models.TicketPending, models.TicketResolved, models.TicketClosed}
)

func (s *seeder) seedTickets(ctx context.Context) error {
	total := s.opt.Tickets
	if total == 0 || len(s.convs) == 0 {
		return nil
	}
	// Distinct conversations while there are enough, in time order.
	var picks []int
	if total <= len(s.convs) {
		picks = s.rng.Perm(len(s.convs))[:total]
	} else {
		picks = make([]int, total)
		for i := range picks {
			picks[i] = s.rng.IntN(len(s.convs))
		}
	}
	slices.Sort(picks)
	first, err := s.reserve(counterTicket, firstTicketNumber-1, int64(total), &models.Ticket{})
	if err != nil {
		return err
	}
	tickets := make([]models.Ticket, total)
	for i, ci := range picks {
		tickets[i] = s.newTicket(&s.convs[ci], first+int64(i))
	}
	err = s.db.Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(&tickets, s.batch).Error; err != nil {
			return fmt.Errorf("seed: create tickets: %w", err)
		}
		links := make([]models.TicketConversation, total)
		for i, ci := range picks {
			links[i] = models.TicketConversation{TicketID: tickets[i].ID, ConversationID: s.convs[ci].id, TenantID: s.tenantID, CreatedAt: tickets[i].CreatedAt}
		}
		if err := tx.CreateInBatches(&links, s.batch).Error; err != nil {
			return fmt.Errorf("seed: link tickets: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.stats.Tickets = total
	s.progress("tickets", total, total)
	return ctx.Err()
}

func (s *seeder) newTicket(c *convSummary, number int64) models.Ticket {
	r := s.rng
	cat := topics[c.topic].category
	if cat == "" {
		cat = pick(r, ticketCategories)
	}
	tpl := ticketTemplates[cat]
	created := c.createdAt.Add(s.between(5*time.Minute, 2*time.Hour))
	if limit := s.now.Add(-time.Minute); created.After(limit) {
		created = limit
	}
	customerID := c.customerID
	t := models.Ticket{
		TenantID: s.tenantID, Number: number, Category: cat,
		Title:       fill(pick(r, tpl.titles), &c.v),
		Description: fill(pick(r, tpl.descriptions), &c.v),
		Priority:    models.AllPriorities[weighted(r, priorityWeights)],
		Status:      ticketStatuses[weighted(r, ticketStatusWeights)],
		CustomerID:  &customerID, ExternalRefs: []models.ExternalRef{},
		CreatedAt: created, UpdatedAt: created,
	}
	due := created.Add(time.Duration(24*(1+r.IntN(3))) * time.Hour)
	t.DueAt = &due
	team := s.teamIDs[teamAfterSale]
	switch cat {
	case catLogistics:
		team = s.teamIDs[teamLogistics]
	case catQuality:
		team = s.teamIDs[teamComplaint]
	}
	t.TeamID = &team
	if len(s.agents) > 0 {
		t.CreatedByID = c.assignee
		if t.CreatedByID == nil {
			t.CreatedByID = s.agents[r.IntN(len(s.agents))].id
		}
		if t.Status != models.TicketNew || s.chance(50) {
			if in := s.byTeam[team]; len(in) > 0 {
				t.AssigneeID = s.agents[pick(r, in)].id
			} else {
				t.AssigneeID = s.agents[r.IntN(len(s.agents))].id
			}
		}
	}
	if s.chance(25) {
		t.ExternalRefs = append(t.ExternalRefs, models.ExternalRef{
			System: "dingtalk_todo", ExternalID: "todo_" + alnumString(r, 16), CreatedAt: created.Add(time.Minute),
		})
	}
	capNow := func(x time.Time) time.Time {
		if x.After(s.now) {
			return s.now
		}
		return x
	}
	switch t.Status {
	case models.TicketOpen, models.TicketPending:
		t.UpdatedAt = capNow(created.Add(s.between(10*time.Minute, 24*time.Hour)))
	case models.TicketResolved, models.TicketClosed:
		resolved := capNow(created.Add(s.between(2*time.Hour, 72*time.Hour)))
		t.ResolvedAt, t.UpdatedAt = &resolved, resolved
		if t.Status == models.TicketClosed {
			closed := capNow(resolved.Add(s.between(time.Hour, 48*time.Hour)))
			t.ClosedAt, t.UpdatedAt = &closed, closed
		}
	}
	return t
}
