package proxy

import (
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tr, err := ParseTrusted(" 10.0.0.0/8, 192.168.1.7 ::1,2001:db8::/32\t172.16.5.9/12 ::ffff:203.0.113.0/120 fe80::1%eth0 ")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range tr {
		got = append(got, p.String())
	}
	want := "10.0.0.0/8 192.168.1.7/32 ::1/128 2001:db8::/32 172.16.0.0/12 203.0.113.0/24 fe80::1/128"
	if strings.Join(got, " ") != want {
		t.Errorf("parsed %q, want %q", got, want)
	}

	if tr, err := ParseTrusted(" , "); err != nil || len(tr) != 0 {
		t.Errorf("empty list: %v, %v", tr, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0", "1.2.3.4:80", "::ffff:1.2.3.4/64", "10.0.0.0/8/8"} {
		_, err := ParseTrusted("10.0.0.1, " + bad + " ::1")
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseTrusted with %q: error %v, want one naming it", bad, err)
		}
	}
}

func TestTrustedContains(t *testing.T) {
	tr, err := ParseTrusted("10.0.0.0/8 192.168.1.7 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.1.2.3:5000", true},
		{"10.1.2.3", true},
		{"192.168.1.7:1", true},
		{"192.168.1.8:1", false},
		{"[::ffff:10.1.2.3]:5000", true},
		{"::ffff:192.168.1.7", true},
		{"[2001:db8::5]:443", true},
		{"[2001:db8::5]", true},
		{"[fe80::1%eth0]:80", false},
		{"2001:db9::1", false},
		{"11.0.0.1:80", false},
		{"", false},
		{"garbage", false},
		{"10.1.2.3:", false},
	} {
		if got := tr.Contains(tc.addr); got != tc.ok {
			t.Errorf("Contains(%q) = %v, want %v", tc.addr, got, tc.ok)
		}
	}
	if (Trusted(nil)).Contains("10.1.2.3:1") {
		t.Error("nil Trusted trusts someone")
	}
	zoned, _ := ParseTrusted("fe80::1")
	if !zoned.Contains("[fe80::1%eth0]:80") {
		t.Error("zone not ignored")
	}
}
