// Package redact removes secrets from URLs, connection strings and error
// texts, so that configuration can be logged and errors returned to
// callers. It is the one place that decides what a secret looks like:
// every package that logs a URL or wraps a driver's error uses it.
//
// The rules assume the worst of malformed input: when a secret cannot be
// told from the text around it, the text goes too.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every secret.
const Mask = "xxxxx"

// secretWords are the substrings that make a query parameter, keyword or
// connection-string field a secret: passwords, tokens, keys (AccountKey,
// apikey), SAS signatures (sig, SharedAccessSignature) and MongoDB's
// authMechanismProperties (which may carry an AWS session token).
var secretWords = []string{"pass", "pwd", "secret", "token", "key", "sig", "credential", "authmechanismproperties"}

// IsSecretName reports whether a query parameter, keyword or field of
// this name holds a secret.
func IsSecretName(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// userinfo matches "user:secret@" inside a string that is no URL.
var userinfo = regexp.MustCompile(`[^\s=:/@]*:[^\s@]*@`)

// keywordSecret matches a secret-looking keyword of a keyword/value
// connection string ("host=db password=secret") and its value: unquoted up
// to the next space, or single-quoted with backslash escapes (to the end
// when the quote is not closed).
var keywordSecret = regexp.MustCompile(`(?i)([a-z0-9_]*(?:pass|pwd|secret|token|key|sig)[a-z0-9_]*)\s*=\s*(?:'(?:\\.|[^'\\])*'?|\S*)`)

// String returns s with its secrets replaced by Mask. s may be a URL
// (the password of its userinfo and every secret-named query parameter),
// a libpq keyword/value DSN ("password=…"), a semicolon-separated
// connection string (Azure's AccountKey and SharedAccessSignature, ODBC's
// Pwd) or anything else: a string that is neither URL nor path is taken
// for a bare secret and replaced whole.
func String(s string) string {
	if s == "" {
		return s
	}
	eq, sep := strings.Index(s, "="), strings.Index(s, "://")
	if strings.Contains(s, ";") && eq >= 0 && (sep < 0 || eq < sep) {
		return connectionString(s)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		switch {
		case eq >= 0: // libpq's keyword/value form
			return userinfo.ReplaceAllString(keywordSecret.ReplaceAllString(s, "${1}="+Mask), Mask+"@")
		case strings.Contains(s, "@"):
			return Mask + s[strings.LastIndex(s, "@"):]
		case !strings.ContainsAny(s, "/?"):
			return Mask // no URL or path at all: a bare password, say
		}
		return query(s)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			if strings.ContainsAny(user, "/?#") { // not a plain user name
				user = Mask
			}
			rest = user + ":" + Mask + rest[at:]
		}
	}
	// A keyword's value before the query ("scheme://password=secret") is a
	// secret too.
	base, q, hasQuery := strings.Cut(rest, "?")
	rest = keywordSecret.ReplaceAllString(base, "${1}="+Mask)
	if hasQuery {
		rest += "?" + q
	}
	return scheme + "://" + query(rest)
}

// Location returns only the scheme, host and path of the URL raw: no user
// information, query or fragment. It is for URLs whose query may carry a
// credential under any name (an API's key, a SAS token).
func Location(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// connectionString masks the secret fields of a "Name=value;…" string; a
// field without "=" could be anything and is masked whole.
func connectionString(s string) string {
	fields := strings.Split(s, ";")
	for i, f := range fields {
		name, _, ok := strings.Cut(f, "=")
		switch {
		case !ok && strings.TrimSpace(f) != "":
			fields[i] = Mask
		case ok && IsSecretName(name):
			fields[i] = name + "=" + Mask
		case ok:
			// "=Password=…", "Endpoint=…?sig=…", "u:secret@…=".
			fields[i] = userinfo.ReplaceAllString(keywordSecret.ReplaceAllString(f, "${1}="+Mask), Mask+"@")
		}
	}
	return strings.Join(fields, ";")
}

// query masks the values of secret-named query parameters, keeping their
// order and encoding.
func query(s string) string {
	base, q, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	params := strings.Split(q, "&")
	for i, p := range params {
		if name, _, hasValue := strings.Cut(p, "="); hasValue && IsSecretName(name) {
			params[i] = name + "=" + Mask
		}
	}
	return base + "?" + strings.Join(params, "&")
}

// Secrets returns the secret values in s (a URL, keyword/value DSN or
// connection string), raw and percent-decoded, longest first, so that an
// error text that quotes them can be scrubbed. Values shorter than three
// bytes are left out: replacing them would mangle the message.
func Secrets(s string) []string {
	var out []string
	add := func(v string) {
		v = strings.Trim(v, "'")
		if len(v) < 3 {
			return
		}
		out = append(out, v)
		for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
			if dec, err := unescape(v); err == nil && dec != v {
				out = append(out, dec)
			}
		}
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		authority, q, _ := strings.Cut(rest, "?")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
				add(pw)
			}
		}
		for _, p := range strings.Split(q, "&") {
			if name, v, ok := strings.Cut(p, "="); ok && IsSecretName(name) {
				add(v)
			}
		}
	} else {
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ' ' }) {
			if name, v, ok := strings.Cut(f, "="); ok && IsSecretName(name) {
				add(v)
			}
		}
	}
	for i := 1; i < len(out); i++ { // longest first: a secret containing another goes whole
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Error returns err with every secret of each source (see Secrets)
// replaced by Mask in its text. The result still unwraps to err, so that
// errors.As and errors.Is classify it. It returns err itself when its text
// holds no secret, and nil for nil.
func Error(err error, sources ...string) error {
	if err == nil {
		return nil
	}
	var secrets []string
	for _, s := range sources {
		secrets = append(secrets, Secrets(s)...)
	}
	msg := err.Error()
	clean := Text(msg, secrets)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// Text replaces every secret in s by Mask; secrets should be longest first
// (as Secrets returns them).
func Text(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	return s
}

// redactedError is an error whose text had secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
