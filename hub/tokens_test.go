package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
	"github.com/kefuhub/kefuhub/connectors/tokencache"
	"github.com/kefuhub/kefuhub/hub/secret"
	"github.com/kefuhub/kefuhub/store/storetest"
)

// TestTokensSharedBetweenReplicas: a platform token fetched on one replica
// is used by the other instead of fetching another; a refused token is
// dropped for both.
func TestTokensSharedBetweenReplicas(t *testing.T) {
	url := storetest.MySQLURL(t)
	key := make([]byte, secret.KeySize)
	got := [2]connectors.TokenStore{newHub(t, url, key).TokenStore(), newHub(t, url, key).TokenStore()}
	fetches := 0
	source := func(store connectors.TokenStore) *tokencache.Source {
		return &tokencache.Source{Cache: tokencache.New(), Key: tokencache.Key("test", "corp"), Now: time.Now, Store: store,
			Fetch: func(context.Context) (string, time.Duration, error) {
				fetches++
				return "token-" + string(rune('A'+fetches-1)), time.Hour, nil
			}}
	}
	a, b := source(got[0]), source(got[1])
	ctx := context.Background()
	ta, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ta != tb || fetches != 1 {
		t.Fatalf("replicas got %q and %q with %d fetches; want one shared token", ta, tb, fetches)
	}
	// The platform refuses the token on replica A: A fetches a new one,
	// shares it, and B sees the new one, not the refused one.
	if err := a.Do(ctx, func(tok string) (bool, error) { return tok == ta, nil }); err != nil {
		t.Fatal(err)
	}
	tok, _, ok, err := got[1].LoadToken(ctx, tokencache.Key("test", "corp"))
	if err != nil || !ok || tok == ta || fetches != 2 {
		t.Errorf("after the refusal: shared %q (ok %v, err %v), %d fetches", tok, ok, err, fetches)
	}
}
