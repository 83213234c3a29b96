package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// Several replicas start at once against one database: every migration
// must run exactly once and every replica must come up.
func TestMigrateConcurrently(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.URL(t)
			const replicas = 4
			stores := make([]*store.Store, replicas)
			for i := range stores {
				st, err := store.Open(ctx, url, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				stores[i] = st
			}
			applied := make([][]int, replicas)
			errs := make([]error, replicas)
			var wg sync.WaitGroup
			for i, st := range stores {
				wg.Go(func() { applied[i], errs[i] = st.Migrate(ctx) })
			}
			wg.Wait()
			total := 0
			for i := range stores {
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
				total += len(applied[i])
			}
			if want := len(store.Migrations); total != want {
				t.Fatalf("migrations applied %d times in all, want %d (once each)", total, want)
			}
			var rows []store.SchemaMigration
			if err := stores[0].DB.Order("version").Find(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(store.Migrations) {
				t.Fatalf("schema_migrations has %d rows, want %d", len(rows), len(store.Migrations))
			}
			// Applying again is a no-op.
			again, err := stores[1].Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second migrate: applied %v, err %v", again, err)
			}
			for _, m := range models.All() {
				if !stores[0].DB.Migrator().HasTable(m) {
					t.Errorf("table for %T missing", m)
				}
			}
		})
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, url := range []string{"postgres://x", "kefuhub.db", "sqlite://", "mysql://not a dsn"} {
		if st, err := store.Open(context.Background(), url, store.Options{}); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
}

func TestRedact(t *testing.T) {
	got := store.Redact("mysql://kefu:s3cret@tcp(db:3306)/kefuhub")
	if got != "mysql://kefu:***@tcp(db:3306)/kefuhub" {
		t.Errorf("got %q", got)
	}
}

func TestSQLiteSettings(t *testing.T) {
	st, err := store.Open(context.Background(), storetest.SQLiteURL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := st.DB.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// A database made by the first schema, before platform tokens and the
// channels' resolved-notice template, is brought up to date by the next
// migration.
func TestMigrateUpgradesFirstSchema(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, eng.URL(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// Back to what version 1 made before these existed.
			m := st.DB.Migrator()
			if err := m.DropTable(&models.PlatformToken{}); err != nil {
				t.Fatal(err)
			}
			if err := m.DropColumn(&models.Channel{}, "ResolvedNotice"); err != nil {
				t.Fatal(err)
			}
			if err := st.DB.Where("version > 1").Delete(&store.SchemaMigration{}).Error; err != nil {
				t.Fatal(err)
			}
			if m.HasColumn(&models.Channel{}, "ResolvedNotice") || m.HasTable(&models.PlatformToken{}) {
				t.Fatal("the old schema still has the new parts")
			}
			applied, err := st.Migrate(ctx)
			if err != nil || len(applied) != len(store.Migrations)-1 {
				t.Fatalf("upgrade applied %v, %v", applied, err)
			}
			if !m.HasTable(&models.PlatformToken{}) || !m.HasColumn(&models.Channel{}, "ResolvedNotice") {
				t.Error("upgrade left the token table or the template column out")
			}
		})
	}
}
