package maildomain

import (
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":             "example.com",
		"Example.COM":             "example.com",
		"bücher.example":          "xn--bcher-kva.example",
		"xn--bcher-kva.example":   "xn--bcher-kva.example",
		"XN--BCHER-KVA.Example":   "xn--bcher-kva.example",
		"faß.example":             "xn--fa-hia.example", // IDNA2008: ß is a letter of its own, not "ss"
		"a-b.example":             "a-b.example",
		"\u0628\u064a\u062a.test": "xn--ngbe9g.test", // right to left
	} {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%+q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"",
		"\u017ftaff.example",   // long s: UTS #46 maps it to s
		"\u212aiosk.example",   // Kelvin sign: NFC and UTS #46 make it K
		"\uff53taff.example",   // fullwidth s
		"B\u00dcCHER.example",  // Unicode capitals are mapped, not folded
		"bu\u0308cher.example", // not NFC
		"xn--taff-pbb.example", // an A-label of "ſtaff"
		"xn--abc.example",      // an A-label of nothing valid
		"staff\u200b.example",  // a zero-width space: UTS #46 ignores it
		"example.com.",         // an empty label
		".example.com",
		"a..example",
		"exa_mple.com",  // not STD 3
		"[192.0.2.1]",   // an address literal
		"-a.example",    // leading hyphen
		"ab--c.example", // hyphens in positions 3 and 4 of a label that is not an A-label
		"a@example.com",
		"example.com/",
		"example.com:443",
		"xn--.example",
	} {
		if got, err := Canonical(in); err == nil {
			t.Errorf("Canonical(%+q) = %q, want an error", in, got)
		}
	}
}

func TestMapped(t *testing.T) {
	for in, want := range map[string]string{
		"\u017ftaff.example":  "staff.example",
		"\u212aiosk.example":  "kiosk.example",
		"B\u00dcCHER.example": "bücher.example",
		"example.com":         "", // already as written
		"exa_mple.com":        "", // mapping does not make it a domain name
	} {
		if got := Mapped(in); got != want {
			t.Errorf("Mapped(%+q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLDHCanonical: the fast path for plain ASCII domains answers exactly
// as the IDNA2008 registration check does, wherever it answers.
func FuzzLDHCanonical(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM", "a-b.example", "-a.example", "a-.example", "ab--c.example",
		"xn--bcher-kva.example", "a..b", "example.com.", ".", "a", "1.2.3.4", "exa_mple.com", "a.b-", "bücher.example",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := ldhCanonical(s)
		slow, err := idnaCanonical(s)
		if ok && (err != nil || fast != slow) {
			t.Fatalf("%+q: fast path %q, IDNA check %q, %v", s, fast, slow, err)
		}
		if !ok && err == nil && isASCII(s) && !strings.Contains(slow, "xn--") {
			t.Fatalf("%+q: the fast path refused what the IDNA check accepts as %q", s, slow)
		}
	})
}
