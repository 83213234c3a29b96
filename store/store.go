// Package store opens kefuhub's database (embedded SQLite by default, MySQL or
// MariaDB in production), applies the versioned schema migrations and holds
// the small query helpers every package that touches SQL shares.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Engines kefuhub runs on.
const (
	EngineSQLite = "sqlite"
	EngineMySQL  = "mysql"
)

// DefaultURL is the embedded database used when nothing else is configured.
const DefaultURL = "sqlite://kefuhub.db"

// Store is an open database.
type Store struct {
	DB     *gorm.DB
	Engine string
	// SQLitePath is the database file for the SQLite engine, empty otherwise.
	SQLitePath string
	// writer serializes this process's write transactions on SQLite, which
	// has one writer at a time: waiting here is fair and cheap, where
	// waiting in SQLite's busy handler means sleeping and retrying.
	writer chan struct{}
}

// Tx runs fn in a transaction. On SQLite, write transactions of this
// process take turns (the single-writer path); on MySQL they run at once
// and rely on row locks.
func (s *Store) Tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.DB.WithContext(ctx).Transaction(fn)
}

// Options tune Open.
type Options struct {
	// MaxOpenConns caps the connection pool (0 picks a default per engine).
	MaxOpenConns int
	// Logger receives GORM's slow-query and error logs; nil silences them.
	Logger logger.Interface
}

// Open connects to the database named by rawURL: sqlite://path/to/file.db
// or mysql://user:pass@tcp(host:3306)/db?params. It does not migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("store: database url %q has no scheme (want sqlite:// or mysql://)", redact(rawURL))
	}
	cfg := &gorm.Config{
		Logger:                 opts.Logger,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// Statements are prepared once per connection and reused: SQLite
		// then skips parsing, MySQL a round of planning. The cache is
		// bounded because IN lists of different lengths are different
		// statements.
		PrepareStmt:        true,
		PrepareStmtMaxSize: 512,
		PrepareStmtTTL:     time.Hour,
		NowFunc:            func() time.Time { return Now() },
	}
	if cfg.Logger == nil {
		cfg.Logger = logger.Discard
	}
	var (
		st  = &Store{}
		err error
	)
	switch scheme {
	case "sqlite":
		st.Engine = EngineSQLite
		st.SQLitePath, err = sqlitePath(rest)
		if err != nil {
			return nil, err
		}
		if dir := filepath.Dir(st.SQLitePath); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store: create database directory: %w", err)
			}
		}
		st.DB, err = gorm.Open(sqlite.Open(sqliteDSN(st.SQLitePath)), cfg)
		st.writer = make(chan struct{}, 1)
	case "mysql":
		st.Engine = EngineMySQL
		dsn, derr := mysqlDSN(rest)
		if derr != nil {
			return nil, derr
		}
		st.DB, err = gorm.Open(mysql.New(mysql.Config{
			DSN:                       dsn,
			DefaultStringSize:         191,
			DefaultDatetimePrecision:  ptr(6),
			DontSupportRenameIndex:    false,
			SkipInitializeWithVersion: false,
		}), cfg)
	default:
		return nil, fmt.Errorf("store: unsupported database scheme %q (want sqlite or mysql)", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", st.Engine, err)
	}
	sqlDB, err := st.DB.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	maxConns := opts.MaxOpenConns
	if maxConns == 0 {
		maxConns = 32
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: ping %s: %w", st.Engine, err)
	}
	registerStatementCounter(st.DB)
	return st, nil
}

// Close releases the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func sqlitePath(rest string) (string, error) {
	path, _, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", errors.New("store: sqlite url needs a file path, e.g. sqlite://kefuhub.db")
	}
	return path, nil
}

// sqliteDSN turns on what kefuhub relies on: WAL so readers never block the
// writer, a busy timeout so concurrent writers queue instead of failing,
// foreign keys, and IMMEDIATE transactions so that a transaction takes the
// write lock up front (the single-writer path; no deadlocking upgrades).
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// A 64 MiB page cache per connection keeps hot pages in memory instead
	// of reading them back from the file for every statement.
	q.Add("_pragma", "cache_size(-65536)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// mysqlDSN normalizes a go-sql-driver DSN with the parameters kefuhub needs:
// parsed times in UTC and full Unicode.
func mysqlDSN(rest string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(rest)
	if err != nil {
		return "", fmt.Errorf("store: mysql url: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}
	if cfg.Collation == "" {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	// Start every session in UTC so that NOW() and stored times agree.
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg.FormatDSN(), nil
}

// redact hides a password in a database URL for error messages and logs.
func redact(raw string) string {
	at := strings.LastIndex(raw, "@")
	scheme := strings.Index(raw, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return raw
	}
	creds := raw[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return raw[:scheme+3] + user + ":***" + raw[at:]
	}
	return raw
}

// Redact hides the password of a database URL.
func Redact(raw string) string { return redact(raw) }

// Now is the time as stored: UTC, to the microsecond (MySQL DATETIME(6)), so
// that a value read back compares equal to the one written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Tenant scopes a query to one tenant's rows of the statement's table.
func Tenant(tenantID uint64) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where(clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: "tenant_id"}, Value: tenantID})
	}
}

// TenantCheck also scopes a query to one tenant's rows, but where another
// condition already picks the rows (a primary key IN list) it keeps the
// planner off the tenant index: the unary plus makes the column an
// expression, which SQLite and MySQL both evaluate as a filter, not an
// index key. Without it SQLite scans every row of the tenant.
func TenantCheck(tenantID uint64) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("+? = ?", clause.Column{Table: clause.CurrentTable, Name: "tenant_id"}, tenantID)
	}
}

// IsDuplicate reports whether err is a unique-constraint violation.
func IsDuplicate(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsNotFound reports whether err means no row matched.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

func ptr[T any](v T) *T { return &v }
