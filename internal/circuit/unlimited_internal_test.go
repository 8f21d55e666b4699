package circuit

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestUnlimited(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		args []any
		want bool
	}{
		{[]any{"get", "k"}, false},
		{[]any{"set", "k", "v"}, false},
		{[]any{"blpop", "q", 0}, true},
		{[]any{"BRPOP", "q", 1}, true},
		{[]any{"bzmpop", 1, 1, "z", "min"}, true},
		{[]any{"bitcount", "k"}, false},
		{[]any{"WAIT", 1, 0}, true},
		{[]any{"xread", "STREAMS", "s", "0"}, false},
		{[]any{"XREAD", "BLOCK", 0, "STREAMS", "s", "$"}, true},
		{[]any{"xreadgroup", "GROUP", "g", "c", "block", 10, "STREAMS", "s", ">"}, true},
		{[]any{"exec"}, true},
		{[]any{"Unwatch"}, true},
		{[]any{"discard"}, true},
		{[]any{"select", 1}, true},
		{[]any{"reset"}, true},
		{[]any{"rpush", "q", "x"}, false},
		{[]any{""}, false},
		{[]any{}, false},
	} {
		if got := unlimited(redis.NewCmd(ctx, tt.args...)); got != tt.want {
			t.Errorf("unlimited(%v) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
