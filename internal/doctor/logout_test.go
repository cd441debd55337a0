package doctor_test

import (
	"strings"
	"testing"

	"github.com/rp-project/rp/internal/doctor"
	"github.com/rp-project/rp/internal/testprovider"
)

// TestFrontchannelLogout: doctor says whether GET /frontchannel-logout
// should be on, from what discovery advertises: on while the provider
// offers back-channel logout is a warning (anyone who knows a sid can end
// that session there); off while it offers front-channel only is a
// warning too (logouts at the provider would not reach rp). Neither fails
// the run: doctor cannot see what the client registered.
func TestFrontchannelLogout(t *testing.T) {
	for _, c := range []struct {
		name          string
		setting       string
		noBack        bool
		noFront       bool
		status        doctor.Status
		detail, fix   string
		fixNotContain string
	}{
		{name: "on, back-channel offered", setting: "", status: doctor.Warn,
			detail: "whoever knows a session's sid", fix: "http://localhost:8000/backchannel-logout"},
		{name: "on, back-channel offered, fix", setting: "true", status: doctor.Warn,
			fix: "RP_FRONTCHANNEL_LOGOUT=false"},
		{name: "on, front-channel only", setting: "true", noBack: true, status: doctor.OK,
			detail: "http://localhost:8000/frontchannel-logout"},
		{name: "off, back-channel offered", setting: "false", status: doctor.OK,
			detail: "http://localhost:8000/backchannel-logout"},
		{name: "off, front-channel only", setting: "false", noBack: true, status: doctor.Warn,
			detail: "front-channel logout only", fix: "RP_FRONTCHANNEL_LOGOUT=true"},
		{name: "off, neither offered", setting: "false", noBack: true, noFront: true, status: doctor.OK,
			detail: "advertises neither"},
	} {
		t.Run(c.name, func(t *testing.T) {
			op := testprovider.New(t, testprovider.Keycloak("demo"))
			registered(op)
			op.Set(func(k *testprovider.Knobs) { k.NoBackchannelLogout, k.NoFrontchannelLogout = c.noBack, c.noFront })
			env := map[string]string{}
			if c.setting != "" {
				env["RP_FRONTCHANNEL_LOGOUT"] = c.setting
			}
			findings, ok, out := run(t, configFor(t, op, env), doctor.Options{})
			if !ok {
				t.Fatalf("the run failed:\n%s", out)
			}
			f, found := findings["front-channel logout"]
			if !found || f.Status != c.status || !strings.Contains(f.Detail, c.detail) || !strings.Contains(f.Fix, c.fix) {
				t.Fatalf("front-channel logout = %+v, want %s with detail %q and fix %q\n%s", f, c.status, c.detail, c.fix, out)
			}
			if c.status == doctor.Warn && f.Fix == "" {
				t.Errorf("a warning without a fix: %+v", f)
			}
		})
	}
}
