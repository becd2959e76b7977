package intake

import (
	"slices"
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new UUIDv7 string: unique and sortable by creation time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s is a canonical UUID string.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

func sortStrings(s []string) { slices.Sort(s) }

func joinKeys(r Sources) string { return strings.Join(r.Types(), ", ") }
