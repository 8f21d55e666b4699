package connector

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Everything that keeps a password out of errors, logs, spans and Stats:
// what the secrets of a URL or of go-redis options are, and their removal
// from any text.

// urlSecrets are the secrets of a Redis URL: its userinfo's password and
// a password= parameter (go-redis reads both).
func urlSecrets(u *url.URL) []string {
	return []string{password(u), u.Query().Get("password")}
}

// optionSecrets are the secrets of go-redis options: the server's
// password and the sentinels'.
func optionSecrets(o *redis.UniversalOptions) []string {
	return []string{o.Password, o.SentinelPassword}
}

// password returns the password of u's userinfo, or "".
func password(u *url.URL) string {
	if u == nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// redact removes each secret from s, raw or percent-encoded. A secret of
// at least minBareSecret bytes is replaced wherever it occurs; a shorter
// one is also a common substring (a one-digit password is in every IP
// address), so it is replaced only where it stands as a password: between
// ':' and '@' of a userinfo, or as the value of password= or AUTH.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), url.UserPassword("", secret).String()[1:]} {
			switch {
			case form == "":
			case len(secret) >= minBareSecret:
				s = strings.ReplaceAll(s, form, "xxxxx")
			default:
				re := regexp.MustCompile(`(:|password=|(?i:auth) )` + regexp.QuoteMeta(form) + `(@|&|\s|"|$)`)
				s = re.ReplaceAllString(s, "${1}xxxxx${2}")
			}
		}
	}
	return s
}

// minBareSecret is the length from which a secret is redacted wherever it
// occurs; see redact.
const minBareSecret = 4

// redactedError hides a secret from an error's text and keeps the error
// reachable through errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with the secrets removed from its text.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return err
	}
	msg := err.Error()
	if clean := redact(msg, secrets...); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// goRedisProblem returns the text of a go-redis URL error. go-redis quotes
// pieces of the URL (path, option names and values), and a password with
// unescaped special characters spills into any of them: when the URL
// carries credentials, only the kind of problem is kept.
func goRedisProblem(raw string, err error) string {
	msg := err.Error()
	if !strings.Contains(raw, "@") && !strings.Contains(raw, "password=") {
		return msg
	}
	const prefix = "redis: "
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "invalid URL (details withheld: the URL carries credentials)"
	}
	problem, _, _ := strings.Cut(rest, ":")
	return prefix + problem + " (details withheld: the URL carries credentials)"
}
