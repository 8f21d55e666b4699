package circuit

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/errkind"
)

// What the hook's admission (HookEvents.Admit) takes a permit for, what it
// never refuses, and which outcomes it measures.

// exempt reports whether a command whose context is ctx must not be
// refused for overload: the connector's own asks, and what the caller
// marked (admit.Exempt).
func exempt(ctx context.Context) bool { return isUnjudged(ctx) || admit.IsExempt(ctx) }

// measured reports whether a command that ended with err (its context
// ctx) says how fast Redis serves: Redis answered, or the connection's own
// deadline passed; not when its caller gave up, nor after a network
// error, a pool without a free connection or a closed client.
func measured(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch errkind.Of(err) {
	case errkind.None, errkind.NilReply, errkind.Reply, errkind.Timeout:
		return true
	}
	return false
}

// answered reports whether a command that ended with err got Redis'
// answer (an error reply included): proof that Redis is not stalled.
func answered(err error) bool {
	switch errkind.Of(err) {
	case errkind.None, errkind.NilReply, errkind.Reply:
		return true
	}
	return false
}

// unlimited reports whether cmd takes no permit (see HookEvents.Admit),
// whatever its case: a command that blocks on the server by design
// (BLPOP, BRPOP, BLMOVE, BLMPOP, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BZMPOP,
// WAIT, WAITAOF, XREAD and XREADGROUP with BLOCK), whose time is its
// caller's and whose latency says nothing of how fast Redis serves; and
// one that ends a connection's state (leavesState: UNWATCH, EXEC, DISCARD,
// SELECT, RESET), which a refusal would leave behind for an unrelated
// command. It looks at the first letter first: most commands cost one
// switch.
func unlimited(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) == 0 {
		return false
	}
	name, _ := args[0].(string)
	if name == "" {
		return false
	}
	switch name[0] | 0x20 { // lower case
	case 'b', 'w':
		for _, s := range [...]string{"blpop", "brpop", "blmove", "blmpop", "brpoplpush", "bzpopmin", "bzpopmax", "bzmpop", "wait", "waitaof"} {
			if strings.EqualFold(name, s) {
				return true
			}
		}
	case 'x':
		if strings.EqualFold(name, "xread") || strings.EqualFold(name, "xreadgroup") {
			for _, a := range args[1:] {
				if s, ok := a.(string); ok && strings.EqualFold(s, "block") {
					return true
				}
			}
		}
	case 'u', 'e', 'd', 's', 'r':
		return leavesState(cmd)
	}
	return false
}

// openTx tells whether a MULTI sent on one Conn (or client) is open:
// until its EXEC, DISCARD or RESET, the commands sent on it take no permit
// and are never shed. Redis only queues them (an answer of QUEUED costs
// it nothing), and a shed command between MULTI and EXEC would make EXEC
// commit the rest of the transaction without it. (A MULTI sent with Do on
// a client rather than a Conn, which go-redis does not support, lifts the
// limit from that client's commands until its EXEC, DISCARD or RESET.)
type openTx struct{ open atomic.Bool }

// saw notes a command that ended with err.
func (t *openTx) saw(cmd redis.Cmder, err error) {
	args := cmd.Args()
	if len(args) == 0 {
		return
	}
	name, _ := args[0].(string)
	if name == "" {
		return
	}
	switch name[0] | 0x20 {
	case 'm':
		if strings.EqualFold(name, "multi") {
			t.open.Store(err == nil)
		}
	case 'e', 'd', 'r':
		if strings.EqualFold(name, "exec") || strings.EqualFold(name, "discard") || strings.EqualFold(name, "reset") {
			t.open.Store(false)
		}
	}
}
