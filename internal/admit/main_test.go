package admit_test

import (
	"testing"

	"github.com/ankitoon/redismw/internal/testkit/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m) }
