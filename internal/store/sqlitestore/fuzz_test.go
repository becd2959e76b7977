package sqlitestore

import (
	"testing"

	"github.com/intake-dev/intake/internal/store/storetest"
)

// FuzzDecodeCursor runs the stores' shared cursor fuzz target on this
// store's decoder.
func FuzzDecodeCursor(f *testing.F) { storetest.FuzzCursor(f, decodeCursor) }
