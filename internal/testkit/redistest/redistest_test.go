package redistest_test

import (
	"net"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testkit/testmain"

	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

func TestMain(m *testing.M) { testmain.Run(m) }

func TestKillRestart(t *testing.T) {
	s := redistest.Start(t)
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err != nil {
		t.Fatalf("started server does not accept: %v", err)
	} else {
		_ = c.Close()
	}
	s.Kill()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("killed server still accepts")
	}
	s.Restart() // waits for PONG on the same port
	s.Kill()
	s.Kill() // idempotent
}
