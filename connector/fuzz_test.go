package connector_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ankitoon/redismw/connector"
)

// FuzzURL: whatever the URL, New never panics, and its error never contains
// the password — raw, or as the URL carries it.
func FuzzURL(f *testing.F) {
	for _, seed := range []struct{ pass, rest string }{
		{"s3cret", "localhost:6379/0"},
		{"p@ss:w%rd", "127.0.0.1:6379/abc"},
		{"pw", "localhost:6379?pool_size=x"},
		{"pw", "[::1]:6379?dial_timeout=1s&read_timeout=-1"},
		{"%zz", "host:port"},
		{"", "localhost:notaport"},
		{"pass", "/tmp/redis.sock?db=1"},
	} {
		f.Add("redis", "user", seed.pass, seed.rest, true)
		f.Add("unix", "", seed.pass, seed.rest, false)
	}
	f.Fuzz(func(t *testing.T, scheme, user, pass, rest string, escape bool) {
		pass = "Xq7" + pass // a marker no message template contains
		userinfo := user + ":" + pass
		if escape {
			userinfo = url.UserPassword(user, pass).String()
		}
		raw := scheme + "://" + userinfo + "@" + rest
		c, err := connector.New(connector.Config{URL: raw})
		if err == nil {
			_ = c.Close()
			return
		}
		msg := err.Error()
		for _, form := range []string{pass, url.QueryEscape(pass), url.PathEscape(pass)} {
			if len(form) > 3 && strings.Contains(msg, form) {
				t.Fatalf("error %q contains the password %q", msg, form)
			}
		}
		if !strings.HasPrefix(msg, "redismw: ") {
			t.Fatalf("error %q lacks the package prefix", msg)
		}
	})
}
