package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Page sizes for every connection.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageArgs are Relay's connection arguments.
type PageArgs struct {
	First  *int
	After  *string
	Last   *int
	Before *string
	// WithTotal asks for totalCount, which costs a COUNT query.
	WithTotal bool
}

// Page is one page of a connection.
type Page[T any] struct {
	Items           []*T
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
	TotalCount      int
}

type keyKind int

const (
	keyInt keyKind = iota
	keyTime
	keyString
)

// sortKey is the column a connection is ordered by. Rows are ordered by
// (column, id) so the order is total and a cursor names one position.
type sortKey[T any] struct {
	table  string
	column string
	kind   keyKind
	desc   bool
	value  func(*T) any
	id     func(*T) uint64
}

// cursor is the opaque position of a row in an ordering.
type cursor struct {
	V string `json:"v"`
	I uint64 `json:"i"`
}

func (k sortKey[T]) encode(item *T) string {
	var v string
	switch x := k.value(item).(type) {
	case time.Time:
		v = x.UTC().Format(time.RFC3339Nano)
	case int64:
		v = strconv.FormatInt(x, 10)
	case uint64:
		v = strconv.FormatUint(x, 10)
	case string:
		v = x
	default:
		v = fmt.Sprint(x)
	}
	b, _ := json.Marshal(cursor{V: v, I: k.id(item)})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (k sortKey[T]) decode(arg, s string) (any, uint64, error) {
	bad := errBadInput("", "%s is not a valid cursor", arg)
	bad.Field = []string{arg}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, 0, bad
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.I == 0 {
		return nil, 0, bad
	}
	switch k.kind {
	case keyTime:
		t, err := time.Parse(time.RFC3339Nano, c.V)
		if err != nil {
			return nil, 0, bad
		}
		return t, c.I, nil
	case keyInt:
		n, err := strconv.ParseInt(c.V, 10, 64)
		if err != nil {
			return nil, 0, bad
		}
		return n, c.I, nil
	default:
		return c.V, c.I, nil
	}
}

// after restricts q to rows strictly after (v, id) in the direction desc.
func (k sortKey[T]) after(q *gorm.DB, v any, id uint64, desc bool) *gorm.DB {
	col := clause.Column{Table: k.table, Name: k.column}
	idCol := clause.Column{Table: k.table, Name: "id"}
	op := ">"
	if desc {
		op = "<"
	}
	return q.Where(fmt.Sprintf("(? %s ?) OR (? = ? AND ? %s ?)", op, op), col, v, col, v, idCol, id)
}

func (k sortKey[T]) order(q *gorm.DB, desc bool) *gorm.DB {
	return q.Order(clause.OrderBy{Columns: []clause.OrderByColumn{
		{Column: clause.Column{Table: k.table, Name: k.column}, Desc: desc},
		{Column: clause.Column{Table: k.table, Name: "id"}, Desc: desc},
	}})
}

func pageSize(name string, n *int) (int, error) {
	if n == nil {
		return DefaultPageSize, nil
	}
	if *n < 0 || *n > MaxPageSize {
		e := errBadInput("", "%s must be between 0 and %d", name, MaxPageSize)
		e.Field = []string{name}
		return 0, e
	}
	return *n, nil
}

// paginate runs q (already filtered and scoped) as one page of a Relay
// connection ordered by key. first/after walks forward, last/before walks
// backward; one extra row is fetched to tell whether more exist.
func paginate[T any](ctx context.Context, q *gorm.DB, args PageArgs, key sortKey[T]) (*Page[T], error) {
	return paginateCounted(ctx, q, q, args, key)
}

// paginateCounted is paginate with a separate query for totalCount, for
// lists whose page query is shaped for reading in index order and whose
// count is shaped for a covering index.
func paginateCounted[T any](ctx context.Context, q, count *gorm.DB, args PageArgs, key sortKey[T]) (*Page[T], error) {
	if args.First != nil && args.Last != nil {
		return nil, &Error{Code: CodeBadInput, Message: "pass first or last, not both", Field: []string{"last"}}
	}
	backward := args.Last != nil
	limit, err := pageSize("first", args.First)
	if backward {
		limit, err = pageSize("last", args.Last)
	}
	if err != nil {
		return nil, err
	}
	find := q.Session(&gorm.Session{})
	if args.After != nil {
		v, id, err := key.decode("after", *args.After)
		if err != nil {
			return nil, err
		}
		find = key.after(find, v, id, key.desc)
	}
	if args.Before != nil {
		v, id, err := key.decode("before", *args.Before)
		if err != nil {
			return nil, err
		}
		find = key.after(find, v, id, !key.desc)
	}

	// totalCount runs beside the page query: on a large tenant the count is
	// the slower of the two, and neither needs the other.
	page := &Page[T]{}
	var total int64
	counted := make(chan error, 1)
	if args.WithTotal {
		go func() { counted <- count.Session(&gorm.Session{}).Count(&total).Error }()
	} else {
		counted <- nil
	}
	var items []*T
	if limit > 0 {
		err = key.order(find, key.desc != backward).Limit(limit + 1).Find(&items).Error
	}
	if cerr := <-counted; cerr != nil {
		return nil, fmt.Errorf("hub: count: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("hub: page: %w", err)
	}
	page.TotalCount = int(total)
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	if backward {
		slices.Reverse(items)
		page.HasPreviousPage = more
		page.HasNextPage = args.Before != nil
	} else {
		page.HasNextPage = more
		page.HasPreviousPage = args.After != nil
	}
	page.Items = items
	page.Cursors = make([]string, len(items))
	for i, it := range items {
		page.Cursors[i] = key.encode(it)
	}
	return page, nil
}
