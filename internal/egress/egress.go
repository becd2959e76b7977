// Package egress is the policy on the addresses that intake's outbound
// HTTP clients (the api source, webhook deliveries) may connect to, and a
// transport that enforces it when it dials: it refuses the IANA
// special-purpose blocks (loopback, private, link-local incl.
// 169.254.169.254, CGNAT, documentation, multicast, NAT64, 6to4, Teredo,
// IPv4-mapped forms, …) unless the operator's allow list
// (INTAKE_SOURCE_HTTP_ALLOW) opens them. Names are resolved by the
// transport itself and the address it checked is the one it dials, so
// DNS rebinding cannot reach a refused address.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is the cause of every error the egress policy returns: the
// address or host is special-purpose (or malformed) and not allowed.
var ErrRefused = errors.New("refused by the egress policy")

// specialPurpose lists the IANA IPv4 and IPv6 special-purpose address
// blocks (and a few deprecated ones) that the api source never dials unless
// an operator allows them. IPv4-mapped IPv6 addresses are unmapped before
// they are checked, and any IPv6 address outside 2000::/3 (global unicast)
// is refused as well.
var specialPurpose = mustPrefixes(
	// IPv4 (RFC 6890 and the IANA IPv4 Special-Purpose Address Registry).
	"0.0.0.0/8",          // "this network"
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // shared address space (CGNAT)
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local, incl. cloud metadata 169.254.169.254
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // TEST-NET-1
	"192.31.196.0/24",    // AS112-v4
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // deprecated 6to4 relay anycast
	"192.168.0.0/16",     // private
	"192.175.48.0/24",    // direct delegation AS112
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // TEST-NET-2
	"203.0.113.0/24",     // TEST-NET-3
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // limited broadcast
	// IPv6 (the IANA IPv6 Special-Purpose Address Registry).
	"::/96",             // unspecified, loopback, deprecated IPv4-compatible
	"::ffff:0:0/96",     // IPv4-mapped (checked unmapped too)
	"64:ff9b::/96",      // NAT64 well-known prefix
	"64:ff9b:1::/48",    // local-use NAT64
	"100::/64",          // discard-only
	"2001::/23",         // IETF protocol assignments, incl. Teredo 2001::/32
	"2001:db8::/32",     // documentation
	"2002::/16",         // 6to4
	"2620:4f:8000::/48", // direct delegation AS112
	"3fff::/20",         // documentation
	"5f00::/16",         // segment routing SIDs
	"fc00::/7",          // unique local
	"fe80::/10",         // link-local
	"fec0::/10",         // deprecated site-local
	"ff00::/8",          // multicast
)

// globalUnicast6 is the only IPv6 block the policy dials by default.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Policy decides which addresses and hosts may be connected to.
// By default it refuses every special-purpose address; the operator's allow
// list (INTAKE_SOURCE_HTTP_ALLOW) opens CIDRs, single addresses and host
// names. A Policy is immutable and safe for concurrent use.
type Policy struct {
	prefixes []netip.Prefix
	hosts    map[string]bool // exact names, lower case
	suffixes []string        // from "*.example.com": ".example.com"
}

// NewPolicy returns a Policy that also allows the entries of allow: CIDRs
// ("10.1.0.0/16"), addresses ("127.0.0.1", "::1"), host names
// ("api.internal") and wildcard names ("*.corp.example", which matches
// subdomains only). An allowed host name may resolve to any address.
func NewPolicy(allow []string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}}
	for _, raw := range allow {
		s := strings.TrimSpace(raw)
		switch {
		case s == "":
			continue
		case strings.Contains(s, "/"):
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("egress allow entry %q: %w", raw, err)
			}
			p.prefixes = append(p.prefixes, pfx.Masked())
		default:
			if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
				if a.Zone() != "" {
					return nil, fmt.Errorf("egress allow entry %q: zones are not supported", raw)
				}
				a = a.Unmap()
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			name := strings.ToLower(strings.TrimSuffix(s, "."))
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if !validHostName(rest) {
					return nil, fmt.Errorf("egress allow entry %q: not a CIDR, address or host name", raw)
				}
				p.suffixes = append(p.suffixes, "."+rest)
				continue
			}
			if !validHostName(name) {
				return nil, fmt.Errorf("egress allow entry %q: not a CIDR, address or host name", raw)
			}
			p.hosts[name] = true
		}
	}
	return p, nil
}

// HostAllowed reports whether the operator allowed the host name itself
// (so that it may resolve to any address).
func (p *Policy) HostAllowed(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if p.hosts[h] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// CheckAddr returns nil when the policy allows connecting to a, and
// an error wrapping ErrRefused otherwise. IPv4-mapped IPv6 addresses are
// judged as the IPv4 address they carry; zoned addresses are refused.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("invalid address: %w", ErrRefused)
	}
	if a.Zone() != "" {
		return fmt.Errorf("zoned address %s: %w", a, ErrRefused)
	}
	u := a.Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(u) || pfx.Contains(a) {
			return nil
		}
	}
	if u.Is6() && !globalUnicast6.Contains(u) {
		return fmt.Errorf("address %s is not global unicast: %w", a, ErrRefused)
	}
	for _, pfx := range specialPurpose {
		if pfx.Contains(u) {
			return fmt.Errorf("address %s is in special-purpose block %s: %w", a, pfx, ErrRefused)
		}
	}
	return nil
}

// CheckHost judges the host part of a URL before anything is resolved. An
// IP literal is checked with CheckAddr. A host that reads as a number to
// some URL parser — a last label made of digits or 0x-hex, as in
// "2130706433", "0x7f.1" or "017700000001" — is refused unless it is a
// canonical dotted-quad, because resolvers and browsers disagree on what
// such spellings mean. It returns the literal address, if host is one.
func (p *Policy) CheckHost(host string) (netip.Addr, error) {
	if host == "" {
		return netip.Addr{}, fmt.Errorf("empty host: %w", ErrRefused)
	}
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil {
			return netip.Addr{}, fmt.Errorf("malformed IPv6 literal %q: %w", host, ErrRefused)
		}
		return a, p.CheckAddr(a)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a, p.CheckAddr(a)
	}
	if numericLooking(host) {
		if a, ok := parseLooseIPv4(strings.TrimSuffix(host, ".")); ok {
			return netip.Addr{}, fmt.Errorf("host %q is a non-canonical spelling of %s; write the dotted-quad form: %w", host, a, ErrRefused)
		}
		return netip.Addr{}, fmt.Errorf("host %q looks numeric but is not an IPv4 address: %w", host, ErrRefused)
	}
	if !validHostName(strings.TrimSuffix(host, ".")) {
		return netip.Addr{}, fmt.Errorf("malformed host name %q: %w", host, ErrRefused)
	}
	return netip.Addr{}, nil
}

// numericLooking reports whether the WHATWG URL standard would parse host
// as an IPv4 address: its last non-empty label is decimal digits or 0x-hex.
func numericLooking(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// parseLooseIPv4 parses the legacy inet_aton spellings of an IPv4 address:
// one to four parts, each decimal, octal (leading 0) or hex (0x), the last
// filling the remaining bytes.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		base, digits := 10, part
		switch {
		case strings.HasPrefix(strings.ToLower(part), "0x"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// validHostName reports whether s is a syntactically valid DNS name made of
// letters, digits, hyphens and underscores (internationalised names must be
// given in their ASCII "xn--" form).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// Resolver looks up the addresses of a host; *net.Resolver implements it.
// Tests inject their own so that no real DNS query is made.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Dialer connects only to addresses the policy allows. It resolves the host
// itself with the injected resolver and dials the checked address, and its
// net.Dialer's Control hook checks the address actually dialled again, so
// that neither DNS rebinding nor a redirect can reach a refused address.
type Dialer struct {
	policy   *Policy
	resolver Resolver
	timeout  time.Duration
}

// NewDialer returns a Dialer that enforces policy, resolving names with
// resolver (net.DefaultResolver when nil) and giving up a connection
// attempt after timeout.
func NewDialer(policy *Policy, resolver Resolver, timeout time.Duration) *Dialer {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &Dialer{policy: policy, resolver: resolver, timeout: timeout}
}

// NewTransport returns an HTTP transport that dials through d and never
// uses a proxy (the policy judges the address actually dialled).
func NewTransport(d *Dialer) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// DialContext implements the transport's dial function.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	hostAllowed := d.policy.HostAllowed(host)
	nd := &net.Dialer{
		Timeout: d.timeout,
		Control: d.control(hostAllowed),
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// control returns the net.Dialer Control hook, which checks the address
// actually dialled (unless the host name itself is allowed).
func (d *Dialer) control(hostAllowed bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		if hostAllowed {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dialled address %q: %w", address, ErrRefused)
		}
		return d.policy.CheckAddr(ap.Addr())
	}
}

// resolve returns the addresses of host, refusing it when the policy
// refuses any of them (unless the host name itself is allowed).
func (d *Dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := d.policy.CheckHost(host); err != nil {
		return nil, err
	} else if a.IsValid() {
		return []netip.Addr{a}, nil
	}
	ips, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	hostAllowed := d.policy.HostAllowed(host)
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok {
			return nil, fmt.Errorf("resolve %s: malformed address %v: %w", host, ip.IP, ErrRefused)
		}
		if ip.Zone != "" {
			a = a.WithZone(ip.Zone)
		}
		if !hostAllowed {
			if err := d.policy.CheckAddr(a); err != nil {
				return nil, fmt.Errorf("host %s: %w", host, err)
			}
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// HostMatches reports whether host (case-insensitive, without port) is one
// of patterns: a host name, or "*.suffix" for the subdomains of suffix. It
// binds a secret to the hosts it may be sent to (or sign requests for).
func HostMatches(patterns []string, host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range patterns {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if a == h {
			return true
		}
		if suffix, ok := strings.CutPrefix(a, "*"); ok && strings.HasPrefix(suffix, ".") && strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}
