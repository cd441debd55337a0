package doctor

// cookieSecret says what seals the cookies of sign-ins in flight: a short
// client secret would then be open to guessing offline (the settings are
// read already; this adds what an admin should act on).
func (d *doctor) cookieSecret() Finding {
	f := Finding{Check: "cookie secret"}
	secrets, weak := d.cfg.SealingSecrets()
	switch {
	case len(d.cfg.CookieSecrets) > 0:
		f.Status, f.Detail = OK, "sign-ins in flight are sealed with RP_COOKIE_SECRET"
		if len(secrets) > 1 {
			f.Detail += " (and opened with the older secrets after it, until browsers no longer hold them: drop those after 10 minutes)"
		}
	case weak:
		f.Status = Warn
		f.Detail = "sign-ins in flight are sealed with a key derived from the client secret, which is short or does not look random: " +
			"anyone can get such a cookie from /login and try to guess the client secret offline (each guess costs 600,000 PBKDF2 rounds)"
		f.Fix = "set RP_COOKIE_SECRET (or RP_COOKIE_SECRET_FILE) to 32 random characters, the same on every instance: openssl rand -base64 32"
	default:
		f.Status, f.Detail = OK, "sign-ins in flight are sealed with a key derived from the client secret (set RP_COOKIE_SECRET to keep them apart)"
	}
	return f
}
