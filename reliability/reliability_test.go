// Package reliability checks that work orders reach their target exactly
// once while the target misbehaves and kefuhub replicas die: two kefuhub
// processes share one MariaDB, an OA system fails 30% of deliveries, times
// out on 10% and drops 5% of its answers after applying them, and one
// process is killed and restarted mid-run.
//
// CI runs it with 60 tickets; KEFUHUB_RELIABILITY_TICKETS=1000 runs the
// full version.
package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors/dingtalk/dingtalkfake"
	"github.com/kefuhub/kefuhub/connectors/oa/oafake"
	"github.com/kefuhub/kefuhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	token     = "khb_reliabilityreliabilityreliabilityreliab"
	oaSecret  = "reliability-oa-secret-0123"
	secretKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// replica is one kefuhub process.
type replica struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	log  logBuffer
}

// logBuffer collects a replica's output; the process's output copier
// writes while the test may read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (r *replica) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin)
	r.cmd.Env = append(os.Environ(), append(r.env, "KEFUHUB_ADDR="+r.addr)...)
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %s did not start: %s", r.addr, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *replica) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		// Wait, not Process.Wait: it also waits for the output copier, so
		// the next process starts with the old one's output all written.
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *replica) gql(query string, vars map[string]any) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		return nil, fmt.Errorf("graphql: %s", raw)
	}
	return out.Data, nil
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildKefuhub(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	bin := filepath.Join(t.TempDir(), "kefuhub")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestWorkOrdersExactlyOnce(t *testing.T) {
	n := 60
	if v, err := strconv.Atoi(os.Getenv("KEFUHUB_RELIABILITY_TICKETS")); err == nil && v > 0 {
		n = v
	}
	url := storetest.MySQLURL(t)
	bin := buildKefuhub(t)
	oa := oafake.New(oaSecret)
	defer oa.Close()
	oa.SetChaos(1, 0.30, 0.10, 0.05, 1500*time.Millisecond)
	ding := dingtalkfake.New(dingtalkfake.App{AppKey: "dingreliability", AppSecret: "dingtalk-reliability-secret", AgentID: 3001}, dingtalkfake.Robot{})
	defer ding.Close()
	ding.SetChaos(2, 0.30, 0.10, 0.05, 1500*time.Millisecond, dingtalkfake.PathTodoTasks)

	env := []string{
		"KEFUHUB_DATABASE_URL=" + url, "KEFUHUB_SECRET_KEY=" + secretKey, "KEFUHUB_BOOTSTRAP_TOKEN=" + token,
		"KEFUHUB_LOG_LEVEL=error", "KEFUHUB_PLATFORM_TIMEOUT=1s", "KEFUHUB_DISPATCH_BASE_BACKOFF=50ms",
		"KEFUHUB_DISPATCH_MAX_BACKOFF=500ms", "KEFUHUB_DISPATCH_MAX_ATTEMPTS=200", "KEFUHUB_DISPATCH_CLAIM_TTL=3s",
		"KEFUHUB_RESPONSE_CACHE=0", "KEFUHUB_DINGTALK_OAPI_BASE=" + ding.URL, "KEFUHUB_DINGTALK_API_BASE=" + ding.URL,
	}
	a := &replica{t: t, bin: bin, env: env, addr: freeAddr(t)}
	b := &replica{t: t, bin: bin, env: env, addr: freeAddr(t)}
	a.start()
	defer a.kill()
	b.start()
	defer b.kill()

	for _, target := range []map[string]any{
		{"kind": "OA_WEBHOOK", "name": "OA", "settings": map[string]any{"url": oa.URL, "secret": oaSecret}},
		{"kind": "DINGTALK_TODO", "name": "钉钉待办", "settings": map[string]any{"appKey": "dingreliability",
			"appSecret": "dingtalk-reliability-secret", "operatorUnionId": "unionOperator", "executorUnionIds": "unionA,unionB"}},
	} {
		d, err := a.gql(`mutation($in: CreateTargetInput!) { createTarget(input: $in) { target { id } } }`, map[string]any{"in": target})
		if err != nil {
			t.Fatal(err)
		}
		id := d["createTarget"].(map[string]any)["target"].(map[string]any)["id"]
		if _, err := a.gql(`mutation($in: CreateDispatchRuleInput!) { createDispatchRule(input: $in) { dispatchRule { id } } }`,
			map[string]any{"in": map[string]any{"name": "全部工单 → " + target["name"].(string), "targetId": id, "events": []string{"TICKET_CREATED"}}}); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				if _, err := a.gql(`mutation($in: CreateTicketInput!) { createTicket(input: $in) { ticket { id } } }`,
					map[string]any{"in": map[string]any{"title": fmt.Sprintf("可靠性工单 %d", i)}}); err != nil {
					errs <- err
				}
				if i == n/2 {
					// Kill the other replica in the middle of its work, and bring it back.
					b.kill()
					time.Sleep(200 * time.Millisecond)
					b.start()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Minute)
	for {
		d, err := a.gql(`{ sent: deliveries(filter: {status: "SENT"}) { totalCount } pending: deliveries(filter: {status: "PENDING"}) { totalCount }
			failed: deliveries(filter: {status: "FAILED"}) { totalCount } }`, nil)
		if err != nil {
			t.Fatal(err)
		}
		count := func(k string) int { return int(d[k].(map[string]any)["totalCount"].(float64)) }
		if count("failed") > 0 {
			t.Fatalf("%d deliveries failed for good", count("failed"))
		}
		if count("sent") == 2*n && count("pending") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes: %d sent, %d pending of %d", count("sent"), count("pending"), 2*n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)

	orders := oa.Orders()
	titles := map[string]int{}
	received := 0
	for _, o := range orders {
		ticket, _ := o.Document["ticket"].(map[string]any)
		title, _ := ticket["title"].(string)
		titles[title]++
		received += o.Received
	}
	if len(orders) != n || len(titles) != n {
		t.Fatalf("the OA system holds %d work orders for %d tickets, want exactly %d", len(orders), len(titles), n)
	}
	for title, c := range titles {
		if c != 1 {
			t.Errorf("%q arrived as %d work orders", title, c)
		}
	}
	todos := ding.Todos()
	sources := map[string]int{}
	todoRequests := 0
	for _, td := range todos {
		sources[td.SourceID]++
		todoRequests += td.Received
	}
	if len(todos) != n || len(sources) != n {
		t.Fatalf("DingTalk holds %d to-dos for %d tickets, want exactly %d", len(todos), len(sources), n)
	}
	failed, timedOut, dropped := oa.ChaosCounts()
	t.Logf("%d tickets → %d OA work orders, each exactly once, in %s; the OA system answered 503 %d times, timed out %d times, "+
		"dropped %d answers after applying; %d repeated deliveries were recognised by their delivery id",
		n, len(orders), elapsed.Round(time.Millisecond), failed, timedOut, dropped, received-len(orders))
	failed, timedOut, dropped = ding.ChaosCounts()
	t.Logf("%d tickets → %d DingTalk to-dos, each exactly once; DingTalk answered 503 %d times, timed out %d times, "+
		"dropped %d answers after creating; %d repeated creates named an existing to-do by sourceId",
		n, len(todos), failed, timedOut, dropped, todoRequests-len(todos))
}
