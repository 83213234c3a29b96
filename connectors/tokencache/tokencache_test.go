package tokencache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

// counter is a Fetch that hands out tok-1, tok-2... valid for ttl.
type counter struct {
	n   atomic.Int32
	ttl time.Duration
}

func (f *counter) fetch(context.Context) (string, time.Duration, error) {
	return fmt.Sprintf("tok-%d", f.n.Add(1)), f.ttl, nil
}

func TestGetCachesUntilExpiry(t *testing.T) {
	c, clk, f := New(), newClock(), &counter{ttl: time.Hour}
	ctx := context.Background()
	for range 3 {
		if tok, err := c.Get(ctx, "k", clk.Now, f.fetch); err != nil || tok != "tok-1" {
			t.Fatalf("Get = %q, %v", tok, err)
		}
	}
	clk.Advance(time.Hour - time.Second)
	if tok, _ := c.Get(ctx, "k", clk.Now, f.fetch); tok != "tok-1" {
		t.Errorf("before expiry: %q", tok)
	}
	clk.Advance(time.Second)
	if tok, _ := c.Get(ctx, "k", clk.Now, f.fetch); tok != "tok-2" {
		t.Errorf("at expiry: %q, want a fresh token", tok)
	}
	if tok, _ := c.Get(ctx, "other", clk.Now, f.fetch); tok != "tok-3" {
		t.Errorf("another key: %q, want its own token", tok)
	}
	if n := f.n.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

func TestFetchError(t *testing.T) {
	c, clk := New(), newClock()
	boom := errors.New("boom")
	calls := 0
	fetch := func(context.Context) (string, time.Duration, error) {
		calls++
		if calls == 1 {
			return "", 0, boom
		}
		return "tok", time.Hour, nil
	}
	if _, err := c.Get(context.Background(), "k", clk.Now, fetch); err != boom {
		t.Fatalf("error %v, want the fetch's as it is", err)
	}
	if tok, err := c.Get(context.Background(), "k", clk.Now, fetch); err != nil || tok != "tok" {
		t.Fatalf("after a failed fetch: %q, %v", tok, err)
	}
}

// Concurrent callers of a key share one fetch.
func TestConcurrentGetsShareOneFetch(t *testing.T) {
	c, clk := New(), newClock()
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) (string, time.Duration, error) {
		fetches.Add(1)
		<-release
		return "shared", time.Hour, nil
	}
	const callers = 20
	var wg sync.WaitGroup
	toks := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { toks[i], errs[i] = c.Get(context.Background(), "k", clk.Now, fetch) })
	}
	// Let every caller reach the cache before the fetch answers.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || toks[i] != "shared" {
			t.Errorf("caller %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// Keys do not wait for each other.
func TestKeysFetchIndependently(t *testing.T) {
	c, clk := New(), newClock()
	block := make(chan struct{})
	defer close(block)
	slow := func(context.Context) (string, time.Duration, error) { <-block; return "slow", time.Hour, nil }
	go func() { _, _ = c.Get(context.Background(), "slow", clk.Now, slow) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f := &counter{ttl: time.Hour}
	if tok, err := c.Get(ctx, "fast", clk.Now, f.fetch); err != nil || tok != "tok-1" {
		t.Fatalf("Get(fast) = %q, %v while another key fetches", tok, err)
	}
}

// A caller whose context ends while another fetches gives up with ErrWait;
// the fetch goes on for the others.
func TestWaitRespectsContext(t *testing.T) {
	c, clk := New(), newClock()
	started, release := make(chan struct{}), make(chan struct{})
	fetch := func(context.Context) (string, time.Duration, error) {
		close(started)
		<-release
		return "tok", time.Hour, nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "k", clk.Now, fetch)
		done <- err
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, "k", clk.Now, fetch)
	if !errors.Is(err, ErrWait) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want ErrWait and context.Canceled", err)
	}

	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer tcancel()
	if _, err := c.Get(tctx, "k", clk.Now, fetch); !errors.Is(err, ErrWait) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want ErrWait and context.DeadlineExceeded", err)
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A cached token needs no waiting, even with a dead context.
	if tok, err := c.Get(ctx, "k", clk.Now, fetch); err != nil || tok != "tok" {
		t.Errorf("cached token with a canceled context: %q, %v", tok, err)
	}
}

func TestSetAndDrop(t *testing.T) {
	c, clk, f := New(), newClock(), &counter{ttl: time.Hour}
	ctx := context.Background()
	c.Set("k", "set", clk.Now().Add(time.Minute))
	if tok, _ := c.Get(ctx, "k", clk.Now, f.fetch); tok != "set" {
		t.Fatalf("after Set: %q", tok)
	}
	c.Drop("k", "not-the-cached-one")
	if tok, _ := c.Get(ctx, "k", clk.Now, f.fetch); tok != "set" {
		t.Fatalf("Drop of another token forgot the cached one: %q", tok)
	}
	c.Drop("k", "set")
	if tok, _ := c.Get(ctx, "k", clk.Now, f.fetch); tok != "tok-1" {
		t.Fatalf("after Drop: %q, want a fresh token", tok)
	}
	c.Drop("never-used", "x") // no panic
}

func TestLifetime(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{7200 * time.Second, 7200*time.Second - 5*time.Minute},
		{11 * time.Minute, 6 * time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{60 * time.Second, 30 * time.Second},
		{0, 10 * time.Minute},
		{-time.Second, 10 * time.Minute},
	} {
		if got := Lifetime(tt.in); got != tt.want {
			t.Errorf("Lifetime(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	a := Key("ch", "https://api", "id", "secret")
	if a != Key("ch", "https://api", "id", "secret") || len(a) != 64 {
		t.Errorf("Key is not a stable sha256 hex: %q", a)
	}
	for _, other := range []string{Key("ch", "https://api", "id", "secret2"), Key("ch", "https://api", "ids", "ecret"), Key("wechat-oa", "ch", "https://api", "id", "secret")} {
		if other == a {
			t.Errorf("distinct parts share key %s", a)
		}
	}
}

func TestSourceDo(t *testing.T) {
	tests := []struct {
		name        string
		refusals    int // how many calls in a row refuse their token
		wantErr     bool
		wantCalls   int
		wantFetches int32
	}{
		{"accepted", 0, false, 1, 1},
		{"refused once: fresh token, second call", 1, false, 2, 2},
		{"refused twice: retried only once", 2, true, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &counter{ttl: time.Hour}
			s := &Source{Cache: New(), Key: "k", Now: newClock().Now, Fetch: f.fetch}
			refused := errors.New("token refused")
			var calls int
			var used []string
			err := s.Do(context.Background(), func(tok string) (bool, error) {
				calls++
				used = append(used, tok)
				if calls <= tt.refusals {
					return true, refused
				}
				return false, nil
			})
			if (err != nil) != tt.wantErr || (err != nil && err != refused) {
				t.Errorf("Do: %v", err)
			}
			if calls != tt.wantCalls || f.n.Load() != tt.wantFetches {
				t.Errorf("%d calls with %v, %d fetches; want %d, %d", calls, used, f.n.Load(), tt.wantCalls, tt.wantFetches)
			}
			if len(used) == 2 && used[0] == used[1] {
				t.Errorf("the retry reused the refused token %q", used[0])
			}
			// Refused tokens are not kept.
			if tok, _ := s.Token(context.Background()); tt.wantErr && tok == used[len(used)-1] {
				t.Errorf("the refused token %q is still cached", tok)
			}
		})
	}
	t.Run("call errors that are no refusal come back as they are", func(t *testing.T) {
		f := &counter{ttl: time.Hour}
		s := &Source{Cache: New(), Key: "k", Now: newClock().Now, Fetch: f.fetch}
		other := errors.New("45009")
		calls := 0
		if err := s.Do(context.Background(), func(string) (bool, error) { calls++; return false, other }); err != other || calls != 1 {
			t.Errorf("Do: %v after %d calls", err, calls)
		}
	})
	t.Run("fetch errors come back as they are", func(t *testing.T) {
		boom := errors.New("gettoken: 40001")
		s := &Source{Cache: New(), Key: "k", Now: newClock().Now,
			Fetch: func(context.Context) (string, time.Duration, error) { return "", 0, boom }}
		if err := s.Do(context.Background(), func(string) (bool, error) { t.Fatal("called without a token"); return false, nil }); err != boom {
			t.Errorf("Do: %v", err)
		}
	})
}

func TestSourceWaitedAndKeep(t *testing.T) {
	clk := newClock()
	started, release := make(chan struct{}), make(chan struct{})
	s := &Source{Cache: New(), Key: "k", Now: clk.Now,
		Fetch: func(context.Context) (string, time.Duration, error) {
			close(started)
			<-release
			return "tok", time.Hour, nil
		},
		Waited: func(err error) error { return fmt.Errorf("wrapped: %w", err) },
	}
	first := make(chan struct{})
	go func() { _, _ = s.Token(context.Background()); close(first) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Token(ctx)
	if err == nil || err.Error() != "wrapped: context canceled" || errors.Is(err, ErrWait) {
		t.Errorf("Token: %v, want Waited's error around ctx.Err()", err)
	}
	close(release)
	<-first

	s.Keep("kept", time.Minute)
	if tok, err := s.Token(context.Background()); err != nil || tok != "kept" {
		t.Errorf("after Keep: %q, %v", tok, err)
	}
	clk.Advance(time.Minute)
	s.Fetch = func(context.Context) (string, time.Duration, error) { return "fresh", time.Hour, nil }
	if tok, _ := s.Token(context.Background()); tok != "fresh" {
		t.Errorf("after the kept token's ttl: %q", tok)
	}
}
