package circuit

import (
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
)

// judgeAll is the outcome of a pipeline or transaction: the worst outcome
// of its commands' results, so that a redis.Nil early in a pipeline does not
// hide a READONLY later, then err's (the error the pipeline returned).
func judgeAll(cmds []redis.Cmder, err error) breaker.Outcome {
	worst := breaker.Classify(err)
	for _, cmd := range cmds {
		if o := breaker.Classify(cmd.Err()); worse(o, worst) {
			worst = o
		}
	}
	return worst
}

// severity orders outcomes for judgeAll: a pipeline is as bad as its worst
// command.
var severity = [...]int8{breaker.Ignored: 0, breaker.Success: 1, breaker.Suspect: 2, breaker.Failure: 3, breaker.Fatal: 4}

func worse(o, than breaker.Outcome) bool { return severity[o] > severity[than] }
