package main

import (
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/connector"
)

// tracing is the README's block on per-command spans, verbatim, so that
// it compiles with this module (the root's TestREADMEGoBlocks checks it).
func tracing(cfg *connector.Config) {
	cfg.OnNewClient = func(rdb redis.UniversalClient) error {
		return redisotel.InstrumentTracing(rdb, redisotel.WithDBStatement(false)) // the handshake carries the password
	}
}

var _ = tracing
