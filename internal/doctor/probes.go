package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/rp-project/rp/internal/oidc"
)

// signIn asks the authorization endpoint for the sign-in rp will ask for
// (rp's redirect URI and scopes, PKCE S256) with prompt=none and no
// cookie. A provider must then send the browser straight back to the
// redirect URI, with login_required: that proves the redirect URI is
// registered, shows no login page and leaves no half-started sign-in
// behind (Keycloak keeps an authentication session for every login page
// it shows). Errors about the request itself come back the same way:
// Keycloak sends unauthorized_client when the client's standard flow is
// off, invalid_scope when the client may not ask for a scope rp asks for.
// An unknown client or redirect URI gets an error page instead.
//
// clientKnown reports that the provider took the client id.
func (d *doctor) signIn(ctx context.Context, doc oidc.Discovery) (out []Finding, clientKnown bool) {
	uri := d.cfg.RedirectURL()
	scope := strings.Join(doc.RequestScopes(d.cfg.Scopes, d.cfg.OfflineAccess), " ")
	q := url.Values{"client_id": {d.cfg.ClientID}, "redirect_uri": {uri}, "response_type": {"code"},
		"scope": {scope}, "state": {"rp-doctor"}, "nonce": {"rp-doctor"}, "prompt": {"none"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	f := Finding{Check: "redirect URI"}
	resp, body, err := d.get(ctx, d.fromHere(withQuery(doc.AuthorizationEndpoint, q)))
	if err != nil {
		f.Status, f.Detail = Warn, fmt.Sprintf("%s not checked: the provider could not be reached from here: %v", uri, err)
		f.Fix = "run rp doctor where it can reach the provider's browser-facing address"
		return []Finding{f}, false
	}
	if resp.StatusCode >= 400 {
		msg := pageText(resp, body)
		f.Status, f.Detail = Fail, fmt.Sprintf("%s refused: the authorization endpoint answered HTTP %d %q", uri, resp.StatusCode, msg)
		f.Fix = d.refusalFix(msg, "register it exactly as the client's redirect URI (Keycloak: Valid redirect URIs)")
		return []Finding{f}, false
	}
	back, err := resp.Location()
	if err != nil {
		f.Status = Warn
		f.Detail = fmt.Sprintf("%s not confirmed: asked for a sign-in without a session (prompt=none), the provider answered HTTP %d %q instead of sending the browser back",
			uri, resp.StatusCode, pageText(resp, body))
		f.Fix = "sign in once to check it"
		return []Finding{f}, false
	}
	if !sameEndpoint(back, uri) {
		f.Status = Warn
		f.Detail = fmt.Sprintf("%s not confirmed: asked for a sign-in without a session (prompt=none), the provider sent the browser to %s instead of back to it",
			uri, withoutQuery(back))
		f.Fix = "sign in once to check it; the provider should send such a request back to a registered redirect URI"
		return []Finding{f}, false
	}
	got := back.Query()
	answer := "a code"
	if e := got.Get("error"); e != "" {
		answer = e
	}
	f.Status, f.Detail = OK, fmt.Sprintf("%s accepted: a sign-in without a session (prompt=none) came back to it with %s", uri, answer)
	return []Finding{f, d.signInRequest(got, scope)}, true
}

// signInRequest judges the answer that came back to the redirect URI.
func (d *doctor) signInRequest(got url.Values, scope string) Finding {
	f := Finding{Check: "sign-in request"}
	e := got.Get("error")
	switch e {
	case "", "login_required", "interaction_required", "consent_required", "account_selection_required":
		// A code, or what prompt=none gets from a browser without a
		// session: the request itself was fine.
		f.Status, f.Detail = OK, fmt.Sprintf("the provider takes rp's sign-in request (scope %q, PKCE S256)", scope)
		return f
	}
	f.Status = Fail
	f.Detail = fmt.Sprintf("the provider refuses every sign-in of client %q: %q", d.cfg.ClientID, e)
	if desc := got.Get("error_description"); desc != "" {
		f.Detail += fmt.Sprintf(" (%q)", desc)
	}
	switch e {
	case "unauthorized_client":
		f.Fix = "allow the authorization code flow for the client (Keycloak: the client's Capability config, Standard flow On)"
	case "invalid_scope":
		f.Fix = fmt.Sprintf("let the client ask for every scope of %q (Keycloak: the client's Client scopes tab)", scope)
		if slices.Contains(strings.Fields(scope), "offline_access") {
			f.Fix += "; offline_access must be there as Optional, or set RP_OFFLINE_ACCESS=false to stop asking for it"
		}
		f.Fix += "; or leave the others out of RP_SCOPES"
	default:
		f.Fix = "check the client's settings at the provider (Keycloak: Standard flow On, PKCE method S256)"
	}
	return f
}

// postLogoutURI asks the end-session endpoint to take rp's
// post_logout_redirect_uri for client_id, without id_token_hint: there is
// no session to end, so Keycloak sends the browser straight back, or
// refuses an unregistered URI with an error page.
func (d *doctor) postLogoutURI(ctx context.Context, doc oidc.Discovery) Finding {
	f := Finding{Check: "post-logout URI"}
	uri := d.cfg.PostLogoutRedirectURL()
	if doc.EndSessionEndpoint == "" {
		f.Status, f.Detail = Warn, "not checked: no end_session_endpoint"
		return f
	}
	q := url.Values{"client_id": {d.cfg.ClientID}, "post_logout_redirect_uri": {uri}}
	resp, body, err := d.get(ctx, d.fromHere(withQuery(doc.EndSessionEndpoint, q)))
	switch {
	case err != nil:
		f.Status, f.Detail = Warn, fmt.Sprintf("%s not checked: the provider could not be reached from here: %v", uri, err)
		f.Fix = "run rp doctor where it can reach the provider's browser-facing address"
	case resp.StatusCode >= 400:
		msg := pageText(resp, body)
		f.Status, f.Detail = Fail, fmt.Sprintf("%s refused: the end-session endpoint answered HTTP %d %q", uri, resp.StatusCode, msg)
		f.Fix = d.refusalFix(msg, "register it as a post-logout redirect URI (Keycloak: Valid post logout redirect URIs, a list of its own)")
	case resp.Header.Get("Location") == "":
		f.Status, f.Detail = OK, uri+" accepted (the provider shows a page before it goes there)"
	default:
		back, err := resp.Location()
		if err != nil || !sameEndpoint(back, uri) {
			f.Status = Warn
			f.Detail = fmt.Sprintf("%s not confirmed: the provider sent the browser to %q instead", uri, resp.Header.Get("Location"))
			f.Fix = "log out once to check it"
			return f
		}
		f.Status, f.Detail = OK, uri+" accepted: the provider sends the browser back to it"
	}
	return f
}

// refusalFix is the fix for an endpoint's error page: the client id when
// the provider does not know the client (Keycloak: "Client not found.",
// "Client disabled."), fix otherwise.
func (d *doctor) refusalFix(msg, fix string) string {
	if m := strings.ToLower(msg); strings.Contains(m, "client not found") || strings.Contains(m, "client disabled") {
		return fmt.Sprintf("the provider does not know client %q or has it disabled: check RP_CLIENT_ID against the realm of RP_ISSUER (Keycloak: Clients; the client Enabled)", d.cfg.ClientID)
	}
	return fix
}

// sameEndpoint reports whether u goes to uri, whatever its query.
func sameEndpoint(u *url.URL, uri string) bool {
	want, err := url.Parse(uri)
	return err == nil && u.Scheme == want.Scheme && strings.EqualFold(u.Host, want.Host) && u.Path == want.Path
}

func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	return c.String()
}

// pageText is what an error page says, for quoting: Keycloak's message
// (#kc-error-message, its .instruction first), else the visible text of
// an HTML page, else the body itself; short, on one line.
func pageText(resp *http.Response, body []byte) string {
	if !strings.Contains(resp.Header.Get("Content-Type"), "html") {
		return trim(body, 160)
	}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		return trim(body, 160)
	}
	n := doc
	if m := find(doc, func(n *html.Node) bool { return attr(n, "id") == "kc-error-message" }); m != nil {
		n = m
		if p := find(m, func(n *html.Node) bool { return slices.Contains(strings.Fields(attr(n, "class")), "instruction") }); p != nil {
			n = p
		}
	} else if b := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "body" }); b != nil {
		n = b
	}
	var sb strings.Builder
	text(n, &sb)
	return trim([]byte(sb.String()), 160)
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := find(c, match); m != nil {
			return m
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text writes the visible text below n.
func text(n *html.Node, sb *strings.Builder) {
	switch {
	case n.Type == html.TextNode:
		sb.WriteString(n.Data)
		sb.WriteByte(' ')
		return
	case n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "head"):
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		text(c, sb)
	}
}
