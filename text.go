package intake

import (
	"math"
	"strings"
	"unicode/utf8"
)

// MaxSeq is the largest document sequence number: every store keeps Seq
// (and the documents cursor) in 32 bits. GetDocument treats a larger seq
// as not found and ListDocuments a larger cursor as past the end.
const MaxSeq = math.MaxInt32

// ValidText reports whether s can be stored as it is: valid UTF-8 without
// NUL. Every string a store receives is such text. PostgreSQL refuses
// the others (and NUL even in jsonb), SQLite and MongoDB would keep them,
// so the API refuses them with a field error and the worker sanitises what
// sources supply before recording it.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// SanitizeText returns s with each run of bytes that are not UTF-8, and each NUL,
// replaced by U+FFFD, or s itself when it is valid text.
func SanitizeText(s string) string {
	if ValidText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
