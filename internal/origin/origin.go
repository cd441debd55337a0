// Package origin tells whether a state-changing request comes from a page of
// the site itself, by the headers browsers send with it.
package origin

import "net/http"

// Same reports whether r was sent by a page of origin (scheme://host[:port]).
//
// Browsers send Origin with every POST. Pages served with
// "Referrer-Policy: no-referrer" (as rp's and the development provider's
// are) make browsers send "Origin: null" even to their own origin; then
// Sec-Fetch-Site, which a page cannot forge, decides. A request with
// neither header did not come from a modern browser's cross-site form, and
// passes (the form's CSRF token still has to match).
func Same(r *http.Request, origin string) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	switch o := r.Header.Get("Origin"); o {
	case "":
		return site == "" || site == "same-origin"
	case "null":
		return site == "same-origin"
	default:
		return o == origin
	}
}
