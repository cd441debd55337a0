package doctor

import "github.com/rp-project/rp/internal/oidc"

// frontchannel says whether GET /frontchannel-logout (RP_FRONTCHANNEL_LOGOUT)
// fits what the provider offers. Doctor cannot see which logout URL the
// client registered, so it warns and never fails.
func (d *doctor) frontchannel(doc oidc.Discovery) Finding {
	f := Finding{Check: "front-channel logout"}
	back, front := d.cfg.BackchannelLogoutURL(), d.cfg.FrontchannelLogoutURL()
	switch {
	case d.cfg.FrontchannelLogout && doc.BackchannelLogoutSupported:
		f.Status = Warn
		f.Detail = "on at " + front + ": whoever knows a session's sid can end that session from any site"
		f.Fix = "the provider offers back-channel logout: register " + back +
			" as the client's back-channel logout URL, remove the front-channel one, and set RP_FRONTCHANNEL_LOGOUT=false"
	case d.cfg.FrontchannelLogout:
		f.Status = OK
		f.Detail = "on at " + front + ": the provider offers no back-channel logout, so its logouts reach rp there (register it as the client's front-channel logout URL)"
	case doc.BackchannelLogoutSupported:
		f.Status = OK
		f.Detail = "off (RP_FRONTCHANNEL_LOGOUT=false): logouts at the provider reach rp by back-channel at " + back
	case doc.FrontchannelLogout:
		f.Status = Warn
		f.Detail = "off (RP_FRONTCHANNEL_LOGOUT=false), but the provider advertises front-channel logout only: its logouts will not reach rp"
		f.Fix = "set RP_FRONTCHANNEL_LOGOUT=true and register " + front + " as the client's front-channel logout URL"
	default:
		f.Status = OK
		f.Detail = "off (RP_FRONTCHANNEL_LOGOUT=false); the provider advertises neither back- nor front-channel logout"
	}
	return f
}
