package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Trusted is the set of proxies whose X-Forwarded-* headers rp believes.
// The nil Trusted trusts no one.
type Trusted []netip.Prefix

// ParseTrusted parses a list of CIDRs and single IP addresses separated by
// commas and/or spaces, as in "10.0.0.0/8, 192.168.1.7 ::1". A single
// address stands for itself (/32 or /128); IPv4-mapped IPv6 entries are
// read as IPv4, and zones are dropped. The empty string gives an empty set.
// The error names the first entry that is neither.
func ParseTrusted(s string) (Trusted, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	var t Trusted
	for _, f := range fields {
		p, err := parseTrustedEntry(f)
		if err != nil {
			return nil, fmt.Errorf("proxy: trusted proxies: %q is not an IP address or CIDR: %w", f, err)
		}
		t = append(t, p)
	}
	return t, nil
}

func parseTrustedEntry(f string) (netip.Prefix, error) {
	if !strings.Contains(f, "/") {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(f)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("an IPv4-mapped prefix needs at least 96 bits")
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Contains reports whether remoteAddr is trusted: "ip:port" as in
// http.Request.RemoteAddr, or a bare IP; an IPv4-mapped IPv6 address is
// taken as its IPv4 address, and a zone is ignored.
func (t Trusted) Contains(remoteAddr string) bool {
	if len(t) == 0 {
		return false
	}
	a, ok := peerAddr(remoteAddr)
	if !ok {
		return false
	}
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses "ip:port", "[ipv6]:port", "[ipv6]" or a bare IP.
func peerAddr(remoteAddr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s := strings.TrimSuffix(strings.TrimPrefix(remoteAddr, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
