package e2e

import (
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/doctor"
)

// TestDoctorAgainstCertifiedProvider: rp doctor finds nothing wrong with
// rp's registration at oidc-provider, and names what a wrong secret or an
// unregistered base URL breaks.
func TestDoctorAgainstCertifiedProvider(t *testing.T) {
	t.Parallel()
	s := start(t)

	findings := doctor.Check(t.Context(), s.cfg, doctor.Options{})
	var out strings.Builder
	if !doctor.Print(&out, s.cfg, findings) {
		t.Fatalf("rp doctor reports problems with a correct setup:\n%s", out.String())
	}

	wrongSecret := s.cfg
	wrongSecret.ClientSecret = "not-the-secret"
	if f := find(doctor.Check(t.Context(), wrongSecret, doctor.Options{}), "client credentials"); f.Status != doctor.Fail {
		t.Errorf("wrong secret: %+v", f)
	}

	elsewhere := s.cfg
	elsewhere.BaseURL = "http://127.0.0.1:1"
	got := doctor.Check(t.Context(), elsewhere, doctor.Options{})
	for _, name := range []string{"redirect URI", "post-logout URI"} {
		if f := find(got, name); f.Status != doctor.Fail {
			t.Errorf("unregistered %s: %+v", name, f)
		}
	}
}

func find(findings []doctor.Finding, check string) doctor.Finding {
	for _, f := range findings {
		if f.Check == check {
			return f
		}
	}
	return doctor.Finding{Check: check, Detail: "not run"}
}
