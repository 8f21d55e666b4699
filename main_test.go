package redismw_test

import (
	"testing"

	"github.com/ankitoon/redismw/internal/testkit/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m) }

// eventually is testmain.Eventually.
var eventually = testmain.Eventually
