package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// FuzzClassify: Classify never panics, whatever the error's shape and text,
// and a server reply is never Ignored (it proves the server answered).
// Every outcome may come of some error: Fatal and Suspect too.
func FuzzClassify(f *testing.F) {
	for _, seed := range []string{"", "LOADING Redis is loading", "MASTERDOWN", "ERR max number of clients reached",
		"BUSY Redis is busy", "WRONGTYPE Operation", "NOSCRIPT", "redis: nil", "i/o timeout", "READONLY x", "\x00\xff"} {
		for kind := range uint8(6) {
			f.Add(seed, kind)
		}
	}
	f.Fuzz(func(t *testing.T, msg string, kind uint8) {
		var err error
		switch kind % 6 {
		case 0:
			err = redistest.Reply(msg)
		case 1:
			err = errors.New(msg)
		case 2:
			err = fmt.Errorf("wrapped: %w", redistest.Reply(msg))
		case 3:
			err = &net.OpError{Op: "read", Net: "tcp", Err: errors.New(msg)}
		case 4:
			err = fmt.Errorf("%s: %w", msg, context.Canceled)
		case 5:
			err = &breaker.UnavailableError{Err: redistest.Reply(msg)}
		}
		o := breaker.Classify(err)
		switch o {
		case breaker.Success, breaker.Failure, breaker.Ignored, breaker.Fatal, breaker.Suspect:
		default:
			t.Fatalf("Classify(%v) = %v, not an outcome", err, o)
		}
		if kind%6 == 0 && o == breaker.Ignored && !errors.Is(err, redis.Nil) {
			t.Fatalf("a server reply %q was ignored", msg)
		}
		if kind%6 == 4 && o != breaker.Ignored {
			t.Fatalf("the caller's cancellation %v was counted as %v", err, o)
		}
	})
}
