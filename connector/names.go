package connector

import (
	"strconv"
	"sync"

	"github.com/ankitoon/redismw/internal/instrument"
)

// Name returns the connector's name: [breaker.Settings.Name], or by
// default the deployment's first address and database ("host:port/db").
// It is unique among the connectors of the process — a second connector
// of the same name gets "#2" appended — and tells the connector apart in
// every metric series and span (db.client.connection.pool.name) and log
// line.
func (c *Connector) Name() string { return c.name }

// names are the names of the connectors of the process that are not
// closed.
var names = struct {
	sync.Mutex
	used map[string]bool
}{used: map[string]bool{}}

// claimName returns base, or base with "#2", "#3"… appended if a connector
// of the process uses it.
func claimName(base string) string {
	names.Lock()
	defer names.Unlock()
	name := base
	for i := 2; names.used[name]; i++ {
		name = base + "#" + strconv.Itoa(i)
	}
	names.used[name] = true
	return name
}

// releaseName frees name for a later connector.
func releaseName(name string) {
	names.Lock()
	defer names.Unlock()
	delete(names.used, name)
}

// logAttrs are the attributes of every log line of a connector.
func logAttrs(s instrument.Server) []any {
	attrs := []any{"db.client.connection.pool.name", s.PoolName, "server.address", s.Address}
	if s.Port > 0 {
		attrs = append(attrs, "server.port", s.Port)
	}
	return attrs
}
