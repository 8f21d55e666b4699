package redistest

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// DialCounter is a go-redis hook that counts the dial attempts of the
// clients it is added to, refused ones included.
type DialCounter struct{ n atomic.Int64 }

var _ redis.Hook = (*DialCounter)(nil)

// Dials returns the dial attempts counted so far.
func (d *DialCounter) Dials() int64 { return d.n.Load() }

// DialHook counts, then dials.
func (d *DialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.n.Add(1)
		return next(ctx, network, addr)
	}
}

// ProcessHook returns next unchanged.
func (d *DialCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook returns next unchanged.
func (d *DialCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
