// Package storetest gives tests a real, empty database URL on each storage
// engine kefuhub supports (SQLite and MariaDB/MySQL).
//
// SQLite databases live in the test's TempDir. For MariaDB, one private
// mariadbd is started lazily per test binary (in a temp dir, on a free
// loopback port) and every MySQLURL call gets its own freshly created
// database, dropped again when the test ends.
//
// Typical use:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		for _, e := range storetest.Engines() {
//			t.Run(e.Name, func(t *testing.T) {
//				url := e.URL(t)
//				// open the store with url ...
//			})
//		}
//	}
//
// Environment:
//
//	KEFUHUB_TEST_ENGINES=sqlite,mariadb  restrict Engines() to these engines
//	KEFUHUB_REQUIRE_MARIADB=1            fail (instead of skip) when mariadbd is missing
package storetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Engine is one storage engine tests can run against.
type Engine struct {
	// Name is "sqlite" or "mariadb"; suitable as a t.Run name.
	Name string
	// URL returns a fresh, empty database URL for the given test.
	URL func(testing.TB) string
}

// EnvEngines names the environment variable that restricts Engines().
const EnvEngines = "KEFUHUB_TEST_ENGINES"

// EnvRequireMariaDB names the environment variable that turns a missing
// mariadbd into a test failure instead of a skip.
const EnvRequireMariaDB = "KEFUHUB_REQUIRE_MARIADB"

var allEngines = []Engine{
	{Name: "sqlite", URL: SQLiteURL},
	{Name: "mariadb", URL: MySQLURL},
}

// Engines returns the engines to test against: sqlite, then mariadb. If
// KEFUHUB_TEST_ENGINES is set to a comma separated list (e.g. "sqlite" or
// "mariadb"), only those are returned, still in that order. "mysql" is
// accepted as an alias of "mariadb". An unknown name panics, so that a typo
// cannot silently run zero engines.
func Engines() []Engine {
	spec := strings.TrimSpace(os.Getenv(EnvEngines))
	if spec == "" {
		return append([]Engine(nil), allEngines...)
	}
	want := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "":
			continue
		case "mysql":
			name = "mariadb"
		case "sqlite", "mariadb":
		default:
			panic(fmt.Sprintf("storetest: %s=%q: unknown engine %q (known: sqlite, mariadb)", EnvEngines, spec, name))
		}
		want[name] = true
	}
	var out []Engine
	for _, e := range allEngines {
		if want[e.Name] {
			out = append(out, e)
		}
	}
	return out
}

// SQLiteURL returns sqlite://<tb.TempDir()>/kefuhub.db. The file does not
// exist yet; the directory is removed when the test ends.
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	return "sqlite://" + filepath.Join(tb.TempDir(), "kefuhub.db")
}

// Main is meant to be the whole body of a package's TestMain. It runs the
// tests, stops the shared MariaDB server if one was started, and exits with
// the tests' exit code.
func Main(m *testing.M) {
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: stopping MariaDB: %v\n", err)
	}
	os.Exit(code)
}

// MySQLURL returns the URL of a new, empty database (utf8mb4,
// utf8mb4_unicode_ci) on the shared private MariaDB server, starting that
// server on first use. The database is dropped when the test ends. The URL
// has the form
//
//	mysql://root@tcp(127.0.0.1:PORT)/DBNAME?parseTime=true&loc=UTC&charset=utf8mb4&multiStatements=false
//
// If mariadbd is not installed the test is skipped, or fails when
// KEFUHUB_REQUIRE_MARIADB=1. If the server cannot be started the test fails,
// and so does every later call in the same test binary, with the same
// message.
func MySQLURL(tb testing.TB) string {
	tb.Helper()
	if !MariaDBAvailable() {
		if os.Getenv(EnvRequireMariaDB) == "1" {
			tb.Fatalf("storetest: mariadbd not found in PATH or /usr/sbin, but %s=1: apt-get install -y mariadb-server", EnvRequireMariaDB)
		}
		tb.Skip("mariadbd not installed: apt-get install -y mariadb-server (CI installs it)")
	}
	s, err := sharedServer(tb)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	name, err := s.createDatabase(tb.Name())
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.dropDatabase(name); err != nil {
			tb.Errorf("storetest: %v", err)
		}
	})
	return fmt.Sprintf("mysql://root@tcp(127.0.0.1:%d)/%s?parseTime=true&loc=UTC&charset=utf8mb4&multiStatements=false", s.port, name)
}

// MariaDBAvailable reports whether a mariadbd binary is installed (in PATH
// or /usr/sbin).
func MariaDBAvailable() bool {
	return mariadbdPath() != ""
}
