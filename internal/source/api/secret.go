package api

import (
	"net/http"
	"strings"

	"github.com/intake-dev/intake/internal/egress"
)

// Secret is an operator-configured value (INTAKE_SECRET_<NAME>) that job
// configs reference by name in secret_headers, and the hosts it may be sent
// to. A secret with no hosts is never sent.
type Secret struct {
	Value string
	// Hosts are host names (case-insensitive, without port), or "*.suffix"
	// for the subdomains of suffix.
	Hosts []string
}

// allows reports whether the secret may be sent to host.
func (s Secret) allows(host string) bool { return egress.HostMatches(s.Hosts, host) }

// secret returns the configured secret called name.
func (s *Source) secret(name string) (Secret, bool) {
	sec, ok := s.secrets[strings.ToUpper(name)]
	return sec, ok
}

// setSecrets sets each secret header whose secret may be sent to the
// request's host and removes the others. It is applied to every request,
// redirects included.
func (s *Source) setSecrets(cfg *config, req *http.Request) {
	host := req.URL.Hostname()
	for name, secretName := range cfg.SecretHeaders {
		sec, ok := s.secret(secretName)
		if ok && sec.allows(host) {
			req.Header.Set(name, sec.Value)
			continue
		}
		if req.Header.Get(name) != "" || ok {
			s.logger.WarnContext(req.Context(), "secret header not sent: the secret is not bound to this host",
				"header", name, "secret", secretName, "host", host)
		}
		req.Header.Del(name)
	}
}
