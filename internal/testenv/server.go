package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Server is a server the integration tests talk to, found through the
// variable that scripts/test-services.sh env exports.
type Server struct {
	// Variable holds the server's URL (a connection string for Azurite).
	Variable string
	// Name says what the server is, for the skip message.
	Name string
}

// The test servers.
var (
	Postgres = Server{Variable: "INTAKE_TEST_POSTGRES_URL", Name: "PostgreSQL"}
	Redis    = Server{Variable: "INTAKE_TEST_REDIS_URL", Name: "Redis"}
	Mongo    = Server{Variable: "INTAKE_TEST_MONGO_URL", Name: "MongoDB wire protocol (FerretDB)"}
	Azurite  = Server{Variable: "INTAKE_TEST_AZURITE_CONN", Name: "Azurite"}
)

// URL returns the server's URL, or calls Missing when its variable is
// unset.
func (s Server) URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(s.Variable)
	if u == "" {
		Missing(t, s.Name+" ("+s.Variable+")", ServicesHow)
	}
	return u
}

// ServicesCache returns the directory where scripts/test-services.sh keeps
// the tools it builds or installs: $INTAKE_TEST_SERVICES_CACHE, else
// intake/test-services in the user's cache directory.
func ServicesCache() string {
	if dir := os.Getenv("INTAKE_TEST_SERVICES_CACHE"); dir != "" {
		return dir
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "intake", "test-services")
}

// Tool returns the newest file matching pattern (a filepath.Glob pattern
// relative to ServicesCache, such as "ferretdb-*/ferretdb"), or calls
// Missing naming what.
func Tool(t testing.TB, pattern, what string) string {
	t.Helper()
	cache := ServicesCache()
	matches, _ := filepath.Glob(filepath.Join(cache, pattern))
	if len(matches) == 0 {
		Missing(t, what+" ("+pattern+" under "+cache+")", "run: scripts/test-services.sh up")
	}
	slices.Sort(matches)
	return matches[len(matches)-1]
}
