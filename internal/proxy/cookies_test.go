package proxy

import (
	"net/http"
	"slices"
	"testing"
)

func TestStripCookie(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string // nil: no Cookie header left
	}{
		{"first", []string{"rp_session=x; a=1; b=2"}, []string{"a=1; b=2"}},
		{"middle", []string{"a=1; rp_session=x; b=2"}, []string{"a=1; b=2"}},
		{"last", []string{"a=1; b=2; rp_session=x"}, []string{"a=1; b=2"}},
		{"only", []string{"rp_session=x"}, nil},
		{"case", []string{"RP_Session=x; a=1"}, []string{"a=1"}},
		{"duplicates", []string{"rp_session=x; a=1; rp_session=y"}, []string{"a=1"}},
		{"spaces around the name", []string{"a=1;  rp_session =x ;b=2"}, []string{"a=1; b=2"}},
		{"values kept byte for byte", []string{`a="q v"; rp_session=x; b=c=d; e`}, []string{`a="q v"; b=c=d; e`}},
		{"similar names kept", []string{"rp_session2=1; xrp_session=2; rp_sessio=3"}, []string{"rp_session2=1; xrp_session=2; rp_sessio=3"}},
		{"value equal to the name kept", []string{"a=rp_session"}, []string{"a=rp_session"}},
		{"untouched line kept as is", []string{"a=1;b=2", "rp_session=x"}, []string{"a=1;b=2"}},
		{"several lines, order kept", []string{"z=0", "rp_session=x", "a=1; rp_session=y; c=3", "d=4"}, []string{"z=0", "a=1; c=3", "d=4"}},
		{"all lines emptied", []string{"rp_session=x", "RP_SESSION=y"}, nil},
		{"sign-ins in flight and the logout notice", []string{"rp_session_signin_ABC=s; a=1; rp_session_logout=n; RP_SESSION_SIGNIN_D=t"}, []string{"a=1"}},
		{"a name that only begins like rp's kept", []string{"rp_sessionx=1; rp_session-x=2"}, []string{"rp_sessionx=1; rp_session-x=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.lines)
			h := http.Header{"Cookie": tc.lines, "Accept": {"*/*"}}
			StripCookie(h, "rp_session")
			got, ok := h["Cookie"]
			if tc.want == nil && ok || !slices.Equal(got, tc.want) {
				t.Errorf("Cookie = %q (present %v), want %q", got, ok, tc.want)
			}
			if !slices.Equal(tc.lines, orig) {
				t.Errorf("the original slice was modified: %q", tc.lines)
			}
		})
	}
	t.Run("empty name does nothing", func(t *testing.T) {
		h := http.Header{"Cookie": {"=x; a=1"}}
		StripCookie(h, "")
		if got := h["Cookie"]; !slices.Equal(got, []string{"=x; a=1"}) {
			t.Errorf("Cookie = %q", got)
		}
	})
}

func TestDropSetCookie(t *testing.T) {
	h := http.Header{"Set-Cookie": {
		"app=1; Path=/",
		"rp_session=evil; Path=/; HttpOnly",
		"RP_SESSION=; Max-Age=0",
		"rp_session",
		"rp_session_x=2",
		"b=rp_session=3",
		"=rp_session=fixed; Path=/", // nameless: browsers send it back as rp_session=fixed
		" = RP_SESSION=fixed",
	}}
	dropSetCookie(h, "rp_session")
	want := []string{"app=1; Path=/", "b=rp_session=3"} // rp_session_x is rp's: a sign-in in flight or the logout notice
	if got := h["Set-Cookie"]; !slices.Equal(got, want) {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
	h = http.Header{"Set-Cookie": {"rp_session=x"}}
	dropSetCookie(h, "rp_session")
	if _, ok := h["Set-Cookie"]; ok {
		t.Errorf("Set-Cookie left: %q", h["Set-Cookie"])
	}
}
