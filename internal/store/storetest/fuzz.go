package storetest

import (
	"encoding/base64"
	"testing"

	"github.com/intake-dev/intake"
)

// FuzzCursor is the body of every store's FuzzDecodeCursor: any list
// cursor decodes to a valid job id or an EINVALID error, and the id
// round-trips through a cursor. decode is the store's cursor decoder.
func FuzzCursor(f *testing.F, decode func(string) (string, error)) {
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(intake.NewID())))
	for _, s := range []string{"", "AAAA", "====", "%00", "MDFhMjMxN2EtOWUyZi03ODM4LTgxNzctZWMwZDdiMGMwMzAz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decode(c)
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("decodeCursor(%q): %v, want EINVALID", c, err)
			}
			return
		}
		// The decoder skips line breaks, so only the id round-trips.
		again, err := decode(base64.RawURLEncoding.EncodeToString([]byte(id)))
		if !intake.ValidID(id) || err != nil || again != id {
			t.Fatalf("decodeCursor(%q) = %q, which does not round-trip (%q, %v)", c, id, again, err)
		}
	})
}
