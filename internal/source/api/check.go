package api

import (
	"net/url"
	"strconv"
	"strings"
)

// checkURL parses and checks a page URL: http or https, a host the egress
// policy does not refuse outright, no credentials, no fragment games. It
// returns a message for the caller when the URL is unacceptable.
func (s *Source) checkURL(raw string) (*url.URL, string) {
	if len(raw) > maxURLLen {
		return nil, "must be at most " + strconv.Itoa(maxURLLen) + " characters"
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return nil, "must not contain spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "must be an absolute http or https URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "must use http or https"
	case u.Opaque != "" || u.Host == "":
		return nil, "must be an absolute http or https URL with a host"
	case u.User != nil:
		return nil, "must not contain credentials; use secret_headers"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, "has an invalid port"
		}
	}
	if _, err := s.policy.CheckHost(u.Hostname()); err != nil {
		return nil, "host refused: " + err.Error()
	}
	u.Fragment, u.RawFragment = "", ""
	return u, ""
}

// checkHeaderName returns a message when name is not an RFC 9110 token.
func checkHeaderName(name string) string {
	if name == "" || len(name) > 256 {
		return "header names must be 1 to 256 characters"
	}
	for _, c := range []byte(name) {
		token := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !token {
			return "is not a valid header name"
		}
	}
	return ""
}

// checkHeaderValue returns a message when v is not a safe header value.
func checkHeaderValue(v string) string {
	if len(v) > maxHeaderValue {
		return "must be at most 8 KiB"
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		return "must not contain control characters"
	}
	return ""
}
