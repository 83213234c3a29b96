package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
)

const (
	readyTimeout   = 30 * time.Second
	installTimeout = 2 * time.Minute
	stopTimeout    = 30 * time.Second
	maxBindRetries = 5
)

// server is the one private mariadbd of this test binary.
type server struct {
	dir     string // temp dir holding data/, sock, error.log
	port    int
	version string
	admin   *sql.DB // root@tcp(127.0.0.1:port)/ for CREATE/DROP DATABASE

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

var (
	mu       sync.Mutex
	shared   *server
	startErr error // remembered so later calls fail fast with the same message
	dbSeq    atomic.Int64
)

var errBind = errors.New("TCP port already in use")

func sharedServer(tb testing.TB) (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		return shared, nil
	}
	if startErr != nil {
		return nil, startErr
	}
	s, err := startServer()
	if err != nil {
		startErr = err
		return nil, err
	}
	shared = s
	tb.Logf("storetest: started MariaDB %s on 127.0.0.1:%d (dir %s)", s.version, s.port, s.dir)
	return s, nil
}

func stopShared() error {
	mu.Lock()
	defer mu.Unlock()
	s := shared
	shared = nil
	if s == nil {
		return nil
	}
	startErr = errors.New("storetest: shared MariaDB was already stopped by storetest.Main")
	return s.stop()
}

// lookBinary finds name in PATH, then in the given directories.
func lookBinary(name string, dirs ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func mariadbdPath() string { return lookBinary("mariadbd", "/usr/sbin") }

func toolPath(name string) string {
	return lookBinary(name, "/usr/bin", "/usr/sbin", "/usr/local/bin")
}

// makeTempDir returns a temp dir short enough for a unix socket path.
func makeTempDir() (string, error) {
	dir, err := os.MkdirTemp("", "khdb-")
	if err == nil && len(filepath.Join(dir, "sock")) <= 90 {
		return dir, nil
	}
	if err == nil {
		os.RemoveAll(dir)
	}
	return os.MkdirTemp("/tmp", "khdb-")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startServer() (_ *server, err error) {
	bin := mariadbdPath()
	if bin == "" {
		return nil, errors.New("storetest: mariadbd not found")
	}
	installDB := toolPath("mariadb-install-db")
	if installDB == "" {
		return nil, errors.New("storetest: mariadb-install-db not found (apt-get install -y mariadb-server)")
	}
	dir, err := makeTempDir()
	if err != nil {
		return nil, fmt.Errorf("storetest: temp dir for MariaDB: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	// Each server gets a temp dir of its own: servers of test binaries
	// that run at once otherwise share /tmp, and one's start-up cleanup can
	// remove another's temporary tables.
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("storetest: %w", err)
	}
	install := exec.CommandContext(ctx, installDB,
		"--no-defaults",
		"--datadir="+filepath.Join(dir, "data"),
		"--tmpdir="+tmp,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
	)
	install.SysProcAttr = serverProcAttr()
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("storetest: mariadb-install-db failed: %v\n--- output (tail) ---\n%s", err, tailLines(string(out), 40))
	}

	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("storetest: finding a free port: %w", err)
		}
		s, err := launch(bin, dir, port)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errBind) || attempt >= maxBindRetries {
			return nil, err
		}
	}
}

// launch starts mariadbd on port and waits until it answers.
func launch(bin, dir string, port int) (*server, error) {
	errLog := filepath.Join(dir, "error.log")
	consoleLog := filepath.Join(dir, "console.log")
	os.Remove(errLog)
	args := []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(dir, "data"),
		"--socket=" + filepath.Join(dir, "sock"),
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		fmt.Sprintf("--port=%d", port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=256M",
		"--innodb-flush-log-at-trx-commit=2",
		"--skip-log-bin",
		"--max-connections=500",
		"--log-error=" + errLog,
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	console, err := os.Create(consoleLog)
	if err != nil {
		return nil, fmt.Errorf("storetest: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.SysProcAttr = serverProcAttr()

	s := &server{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}

	// Pdeathsig fires when the OS thread that forked the child exits, not
	// the process. Go may retire a thread (when a goroutine locked to it
	// exits), so fork from a goroutine that holds its thread locked until
	// the server has exited.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(s.done)
	}()
	err = <-started
	console.Close()
	if err != nil {
		return nil, fmt.Errorf("storetest: starting %s: %w", bin, err)
	}

	failed := func(format string, a ...any) error {
		s.kill()
		logs := s.logTail()
		var err error = fmt.Errorf("storetest: mariadbd failed to start: %s\n%s", fmt.Sprintf(format, a...), logs)
		if strings.Contains(logs, "Address already in use") || strings.Contains(logs, "Bind on TCP/IP port") {
			err = fmt.Errorf("%w: %w", errBind, err)
		}
		return err
	}

	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/?timeout=5s&lock_wait_timeout=30", port))
	if err != nil {
		return nil, failed("%v", err)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			db.Close()
			return nil, failed("not answering on 127.0.0.1:%d after %v: %v", port, readyTimeout, err)
		}
		select {
		case <-s.done:
			db.Close()
			return nil, failed("process exited: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := db.QueryRow("SELECT VERSION()").Scan(&s.version); err != nil {
		db.Close()
		return nil, failed("SELECT VERSION(): %v", err)
	}
	db.SetMaxIdleConns(4)
	s.admin = db
	return s, nil
}

// logTail returns the last lines of the server's error and console logs.
func (s *server) logTail() string {
	var b strings.Builder
	for _, name := range []string{"error.log", "console.log"} {
		p := filepath.Join(s.dir, name)
		data, err := os.ReadFile(p)
		if err != nil || len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- tail of %s ---\n%s\n", p, tailLines(string(data), 40))
	}
	if b.Len() == 0 {
		return "(mariadbd wrote no log output)"
	}
	return b.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kill ends the process and waits for it to be reaped.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// stop shuts the server down cleanly (killing it if that fails) and removes
// its directory.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	var stopErr error
	if admin := toolPath("mariadb-admin"); admin == "" {
		stopErr = errors.New("mariadb-admin not found; killed mariadbd")
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		out, err := exec.CommandContext(ctx, admin, "--no-defaults", "-S", filepath.Join(s.dir, "sock"), "-uroot", "shutdown").CombinedOutput()
		cancel()
		if err != nil {
			stopErr = fmt.Errorf("mariadb-admin shutdown: %v: %s; killed mariadbd", err, strings.TrimSpace(string(out)))
		} else {
			select {
			case <-s.done:
			case <-time.After(stopTimeout):
				stopErr = fmt.Errorf("mariadbd still running %v after shutdown; killed it", stopTimeout)
			}
		}
	}
	s.kill()
	if err := os.RemoveAll(s.dir); err != nil && stopErr == nil {
		stopErr = err
	}
	return stopErr
}

// dbName makes a unique, valid database name that hints at the test.
func dbName(testName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kh%d_", dbSeq.Add(1))
	lastUnderscore := true
	for _, r := range strings.ToLower(testName) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		switch {
		case ok:
			b.WriteRune(r)
			lastUnderscore = false
		case !lastUnderscore:
			b.WriteByte('_')
			lastUnderscore = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	return strings.TrimRight(b.String(), "_")
}

func (s *server) createDatabase(testName string) (string, error) {
	name := dbName(testName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, nil
}

func (s *server) dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}
