package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kefuhub/kefuhub/models"
)

// Migration is one step of the schema's history. Versions only grow; a step
// that shipped is never edited, a later one corrects it.
type Migration struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB) error
}

// SchemaMigration records an applied migration in the database.
type SchemaMigration struct {
	Version   int       `gorm:"primaryKey;autoIncrement:false"`
	Name      string    `gorm:"size:200;not null"`
	AppliedAt time.Time `gorm:"not null"`
}

// Migrations is kefuhub's schema history, oldest first.
var Migrations = []Migration{
	{Version: 1, Name: "initial schema", Up: func(tx *gorm.DB) error {
		return tx.AutoMigrate(models.All()...)
	}},
	// Additive changes since the first schema (platform tokens shared by
	// replicas, the channels' resolved-notice template...). AutoMigrate
	// only adds the tables, columns and indexes missing, so on a new
	// database this finds nothing to do.
	{Version: 2, Name: "platform tokens, resolved-notice templates", Up: func(tx *gorm.DB) error {
		return tx.AutoMigrate(models.All()...)
	}},
}

const migrationLock = "kefuhub_schema_migrations"

// Migrate applies the migrations this database lacks. Several replicas may
// call it at once: on MySQL they serialize on a named lock (GET_LOCK), on
// SQLite on the database's write lock (IMMEDIATE transactions), and each
// migration is recorded in schema_migrations, so every step runs once.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	db := s.DB.WithContext(ctx)
	switch s.Engine {
	case EngineMySQL:
		var applied []int
		err := db.Connection(func(conn *gorm.DB) error {
			var got *int
			if err := conn.Raw("SELECT GET_LOCK(?, ?)", migrationLock, 300).Scan(&got).Error; err != nil {
				return fmt.Errorf("store: migrate: lock: %w", err)
			}
			if got == nil || *got != 1 {
				return fmt.Errorf("store: migrate: timed out waiting for another replica's migration")
			}
			defer conn.Exec("SELECT RELEASE_LOCK(?)", migrationLock)
			var err error
			applied, err = apply(conn, false)
			return err
		})
		return applied, err
	default:
		var applied []int
		err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			applied, err = apply(tx, true)
			return err
		})
		return applied, err
	}
}

// apply runs the pending migrations on db. inTx says db is already a
// transaction (SQLite, whose DDL is transactional); otherwise each step
// runs and is recorded on its own (MySQL DDL commits implicitly).
func apply(conn *gorm.DB, inTx bool) ([]int, error) {
	// Every statement starts from a fresh session: GORM carries a chain's
	// table into the next call otherwise, and AutoMigrate would alter the
	// wrong table.
	db := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	if err := db().AutoMigrate(&SchemaMigration{}); err != nil {
		return nil, fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var done []int
	if err := db().Model(&SchemaMigration{}).Pluck("version", &done).Error; err != nil {
		return nil, fmt.Errorf("store: migrate: read applied versions: %w", err)
	}
	have := map[int]bool{}
	for _, v := range done {
		have[v] = true
	}
	var applied []int
	for _, m := range Migrations {
		if have[m.Version] {
			continue
		}
		step := func(tx *gorm.DB) error {
			if err := m.Up(tx.Session(&gorm.Session{NewDB: true})); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Name, err)
			}
			return tx.Session(&gorm.Session{NewDB: true}).Create(&SchemaMigration{Version: m.Version, Name: m.Name, AppliedAt: Now()}).Error
		}
		var err error
		if inTx {
			err = step(db())
		} else {
			err = db().Transaction(step)
		}
		if err != nil {
			return applied, err
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}
