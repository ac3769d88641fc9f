package deploy

import (
	"os"
	"testing"
)

// TestMain removes the programs the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range builds {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}
