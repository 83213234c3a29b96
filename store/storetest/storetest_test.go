package storetest

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

var urlRE = regexp.MustCompile(`^mysql://root@tcp\(127\.0\.0\.1:\d+\)/([a-z0-9_]+)\?parseTime=true&loc=UTC&charset=utf8mb4&multiStatements=false$`)

// openMySQL opens a MySQLURL with database/sql and returns it with the
// database name.
func openMySQL(t *testing.T, url string) (*sql.DB, string) {
	t.Helper()
	m := urlRE.FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("unexpected URL format: %q", url)
	}
	db, err := sql.Open("mysql", strings.TrimPrefix(url, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, m[1]
}

// Runs first, so the lazy start itself is exercised concurrently.
func TestMySQLURLParallelStart(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db, name := openMySQL(t, MySQLURL(t))
			var one int
			if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[name] {
				t.Errorf("database name %s handed out twice", name)
			}
			seen[name] = true
		})
	}
}

func TestMySQLURL(t *testing.T) {
	url1, url2 := MySQLURL(t), MySQLURL(t)
	db1, name1 := openMySQL(t, url1)
	db2, name2 := openMySQL(t, url2)
	if name1 == name2 {
		t.Fatalf("both calls returned database %s", name1)
	}
	for _, db := range []*sql.DB{db1, db2} {
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT 1 = %d, %v", one, err)
		}
		if _, err := db.Exec("CREATE TABLE widgets (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL)"); err != nil {
			t.Fatalf("CREATE TABLE: %v", err)
		}
		var cs, coll string
		if err := db.QueryRow("SELECT @@character_set_database, @@collation_database").Scan(&cs, &coll); err != nil {
			t.Fatal(err)
		}
		if cs != "utf8mb4" || coll != "utf8mb4_unicode_ci" {
			t.Errorf("database charset/collation = %s/%s, want utf8mb4/utf8mb4_unicode_ci", cs, coll)
		}
	}
	// The databases are separate: the table created in db1 is not visible in db2.
	if _, err := db1.Exec("INSERT INTO widgets VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db2.QueryRow("SELECT COUNT(*) FROM widgets").Scan(&n); err != nil || n != 0 {
		t.Fatalf("db2 widgets count = %d, %v; want 0", n, err)
	}

	schemaExists := func(name string) bool {
		t.Helper()
		var c int
		if err := db1.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c == 1
	}
	var subName string
	t.Run("sub", func(t *testing.T) {
		db, name := openMySQL(t, MySQLURL(t))
		subName = name
		if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if !schemaExists(name) {
			t.Fatalf("database %s does not exist during the test", name)
		}
	})
	if subName == "" {
		t.Fatal("subtest did not run")
	}
	if schemaExists(subName) {
		t.Errorf("database %s still exists after its test finished", subName)
	}
}

func TestSQLiteURL(t *testing.T) {
	url := SQLiteURL(t)
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok || filepath.Base(path) != "kefuhub.db" {
		t.Fatalf("SQLiteURL = %q", url)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		t.Fatalf("directory of %s: %v", path, err)
	}
}

func TestEngines(t *testing.T) {
	names := func() []string {
		var out []string
		for _, e := range Engines() {
			if e.URL == nil {
				t.Errorf("engine %s has no URL func", e.Name)
			}
			out = append(out, e.Name)
		}
		return out
	}
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"", []string{"sqlite", "mariadb"}},
		{"sqlite", []string{"sqlite"}},
		{"mariadb", []string{"mariadb"}},
		{"mysql", []string{"mariadb"}},
		{" MariaDB , sqlite ", []string{"sqlite", "mariadb"}},
	} {
		t.Setenv(EnvEngines, tc.env)
		if got := names(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s=%q: Engines() = %v, want %v", EnvEngines, tc.env, got, tc.want)
		}
	}

	t.Setenv(EnvEngines, "sqlite,postgres")
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "postgres") {
				t.Errorf("unknown engine: recover() = %v, want a panic naming it", r)
			}
		}()
		Engines()
	}()
}

func TestEnginesURL(t *testing.T) {
	t.Setenv(EnvEngines, "")
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			url := e.URL(t)
			if !strings.HasPrefix(url, map[string]string{"sqlite": "sqlite://", "mariadb": "mysql://"}[e.Name]) {
				t.Errorf("%s URL = %q", e.Name, url)
			}
		})
	}
}

func TestDBName(t *testing.T) {
	long := strings.Repeat("VeryLong/Test_Name-", 10)
	for _, in := range []string{"TestX", "TestX/sub#01", long, ""} {
		name := dbName(in)
		if len(name) > 64 || !regexp.MustCompile(`^kh\d+(_[a-z0-9]+)*$`).MatchString(name) {
			t.Errorf("dbName(%q) = %q", in, name)
		}
	}
}
