package redismwtest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/ankitoon/redismw/internal/testkit/testmain"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/redismwtest"
)

func TestMain(m *testing.M) { testmain.Run(m) }

func TestNewConnector(t *testing.T) {
	var c *connector.Connector
	t.Run("inner", func(t *testing.T) {
		var mr interface{ Get(string) (string, error) }
		var rdb redis.UniversalClient
		cc, m := redismwtest.NewConnector(t, func(cfg *connector.Config) { cfg.MaxAttempts = 2 })
		c, mr = cc, m
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, _ := mr.Get("k"); got != "v" {
			t.Errorf("miniredis holds %q, want v", got)
		}
	})
	if _, err := c.Client(t.Context()); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("after the test ended Client returned %v, want ErrClosed (cleaned up)", err)
	}
}

func TestWithClient(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r2 := redismwtest.WithClient(r, rdb)
	if got, ok := redismw.FromContext(r2.Context()); !ok || got != rdb {
		t.Errorf("FromContext = %v, %v; want the injected client", got, ok)
	}
	if _, ok := redismw.FromContext(r.Context()); ok {
		t.Error("WithClient mutated the original request")
	}
}

// A handler under test gets its client the way the middleware gives it.
// In a test, get the client from NewConnector(t); here an in-process
// miniredis stands in.
func ExampleWithClient() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()

	handler := func(w http.ResponseWriter, r *http.Request) {
		rdb, _ := redismw.FromContext(r.Context())
		n, _ := rdb.Incr(r.Context(), "hits").Result()
		_, _ = fmt.Fprint(w, n)
	}
	rec := httptest.NewRecorder()
	handler(rec, redismwtest.WithClient(httptest.NewRequest(http.MethodGet, "/", nil), rdb))
	got, _ := mr.Get("hits")
	fmt.Println(rec.Body, got)
	// Output: 1 1
}
