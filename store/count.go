package store

import (
	"context"
	"sync/atomic"

	"gorm.io/gorm"
)

// StatementCounter counts the SQL statements run under a context; tests and
// benchmarks use it to prove that a query does not grow with its page.
type StatementCounter struct{ n atomic.Int64 }

// Count returns the statements counted so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

type counterKey struct{}

// CountStatements returns a context under which every statement GORM runs is
// counted in the returned counter.
func CountStatements(ctx context.Context) (context.Context, *StatementCounter) {
	c := &StatementCounter{}
	return context.WithValue(ctx, counterKey{}, c), c
}

func registerStatementCounter(db *gorm.DB) {
	count := func(tx *gorm.DB) {
		if tx.Statement == nil || tx.Statement.Context == nil {
			return
		}
		if c, ok := tx.Statement.Context.Value(counterKey{}).(*StatementCounter); ok {
			c.n.Add(1)
		}
	}
	cb := db.Callback()
	_ = cb.Create().After("gorm:create").Register("kefuhub:count", count)
	_ = cb.Query().After("gorm:query").Register("kefuhub:count", count)
	_ = cb.Update().After("gorm:update").Register("kefuhub:count", count)
	_ = cb.Delete().After("gorm:delete").Register("kefuhub:count", count)
	_ = cb.Row().After("gorm:row").Register("kefuhub:count", count)
	_ = cb.Raw().After("gorm:raw").Register("kefuhub:count", count)
}
