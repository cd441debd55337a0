// Package maildomain compares the domains of email addresses as the domain
// names they are written as, for RP_ALLOWED_EMAIL_DOMAINS.
//
// A domain name is taken as written or not at all: ASCII letter case is
// ignored (DNS ignores it), and a Unicode label must already be fit for
// registration (RFC 5891, section 4, as x/net/idna's Registration profile
// checks it: NFC, no character that UTS #46 would map, ignore or refuse).
// That profile lets pass a few symbols UTS #46 keeps but IDNA2008 refuses
// (emoji): harmless here, as they are compared exactly and cannot stand
// for another name. No Unicode case folding or mapping is applied.
//
// Mapping turns what a person typed into a domain name (RFC 5895); an
// email claim is not typing but an identifier the provider verified as
// that string, and mapping could make a string the provider never checked,
// such as "ſtaff.example" with the long s (U+017F), equal to an allowed one.
package maildomain

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// Canonical returns the ASCII form of domain (A-labels, lower case), or an
// error when domain is not a domain name as written: ASCII letters in any
// case and digits and hyphens (STD 3), U-labels fit for registration, or
// A-labels ("xn--") that decode to such and encode back to
// themselves. Two domains are the same when their canonical forms are
// equal. An empty label, a trailing dot included, is not a domain name.
func Canonical(domain string) (string, error) {
	if c, ok := ldhCanonical(domain); ok {
		return c, nil // the common case, without allocation
	}
	return idnaCanonical(domain)
}

// idnaCanonical is Canonical through the IDNA registration rules.
func idnaCanonical(domain string) (string, error) {
	if domain == "" {
		return "", errors.New("the domain is empty")
	}
	lower := asciiLower(domain)
	a, err := idna.Registration.ToASCII(lower)
	if err != nil {
		return "", fmt.Errorf("%s is not a domain name as written: %w", strquote(domain), err)
	}
	// An A-label must be the one its U-label encodes to: two spellings of
	// one label in DNS would be two names here. Labels in Unicode become
	// A-labels; ASCII ones stay as they are (x/net/idna re-encodes an
	// A-label, and this holds it to the input, should it ever differ). An
	// empty label is refused (the profile lets a trailing dot pass).
	in, out := strings.Split(lower, "."), strings.Split(a, ".")
	if len(in) != len(out) {
		return "", fmt.Errorf("%s is not a domain name as written", strquote(domain))
	}
	for i, l := range in {
		if l == "" {
			return "", fmt.Errorf("%s is not a domain name as written: it has an empty label", strquote(domain))
		}
		if isASCII(l) && l != out[i] {
			return "", fmt.Errorf("%s is not a domain name as written: %q is not an A-label in its own form", strquote(domain), l)
		}
	}
	return a, nil
}

// ldhCanonical is Canonical for a domain of ASCII letters, digits,
// hyphens and dots that has no A-label, as the registration rules read it:
// labels of 1 to 63 characters, no hyphen first or last or in positions 3
// and 4, at most 253 characters. ok is false for anything else, which the
// IDNA check then judges (FuzzLDHCanonical holds the two together).
func ldhCanonical(s string) (c string, ok bool) {
	if s == "" || len(s) > 253 {
		return "", false
	}
	upper := false
	for start, i := 0, 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			l := s[start:i]
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || len(l) >= 4 && l[2] == '-' && l[3] == '-' {
				return "", false
			}
			start = i + 1
			continue
		}
		switch b := s[i]; {
		case 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-':
		case 'A' <= b && b <= 'Z':
			upper = true
		default:
			return "", false
		}
	}
	if upper {
		return asciiLower(s), true
	}
	return s, true
}

// Mapped returns what UTS #46 mapping for lookup makes of domain, in
// Unicode, when that is a domain name as written other than domain itself:
// the name a person probably meant, for an error message. It returns ""
// otherwise. Never compare with it.
func Mapped(domain string) string {
	m, err := idna.Lookup.ToUnicode(domain)
	if err != nil || m == domain {
		return ""
	}
	if _, err := Canonical(m); err != nil {
		return ""
	}
	return m
}

// strquote quotes s with every non-ASCII rune escaped, so that a look-alike
// (the Kelvin sign for K) shows as what it is.
func strquote(s string) string { return fmt.Sprintf("%+q", s) }

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
