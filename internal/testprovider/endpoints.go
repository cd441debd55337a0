package testprovider

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func (p *Provider) routes(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/.well-known/openid-configuration", p.count("discovery", p.discovery))
	mux.HandleFunc("GET "+p.paths.authorize, p.count("authorize", p.authorize))
	mux.HandleFunc("POST "+p.paths.token, p.count("token", p.token))
	mux.HandleFunc("GET "+p.paths.userinfo, p.count("userinfo", p.userinfo))
	mux.HandleFunc("GET "+p.paths.jwks, p.count("jwks", p.jwks))
	mux.HandleFunc("GET "+p.paths.endSession, p.count("end_session", p.endSession))
	mux.HandleFunc("POST "+p.paths.revoke, p.count("revoke", p.revoke))
	return mux
}

// serverToServer are the endpoints only rp calls, never a browser.
var serverToServer = []string{"token", "userinfo", "jwks", "revoke"}

func (p *Provider) count(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p.keycloak != "" && r.Host == strings.TrimPrefix(p.front, "http://") && slices.Contains(serverToServer, name) {
			// In compose the browser-facing localhost:8080 is rp's own
			// container: a call there never reaches Keycloak.
			p.mu.Lock()
			p.counts["front:"+name]++
			p.mu.Unlock()
			http.Error(w, "the browser-facing address does not reach the provider from rp", http.StatusBadGateway)
			return
		}
		p.mu.Lock()
		p.counts[name]++
		k := p.knobs
		p.mu.Unlock()
		if k.Seen != nil {
			k.Seen(r)
		}
		if k.Down || (name == "jwks" && k.JWKSDown) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

func (p *Provider) knobsNow() Knobs {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.knobs
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	k := p.knobsNow()
	iss, front, back := p.Issuer, p.front, p.back
	if k.IssuerFromRequest {
		front, back = "http://"+r.Host, "http://"+r.Host
		iss = front + strings.TrimPrefix(p.Issuer, p.front)
	}
	if k.DiscoveryIss != "" {
		iss = k.DiscoveryIss
	}
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                front + p.paths.authorize,
		"token_endpoint":                        back + p.paths.token,
		"userinfo_endpoint":                     back + p.paths.userinfo,
		"jwks_uri":                              back + p.paths.jwks,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"backchannel_logout_supported":          !k.NoBackchannelLogout,
		"backchannel_logout_session_supported":  !k.NoBackchannelLogout,
		"frontchannel_logout_supported":         !k.NoFrontchannelLogout,
		"frontchannel_logout_session_supported": !k.NoFrontchannelLogout,
	}
	if !k.NoOffline {
		doc["scopes_supported"] = []string{"openid", "profile", "email", "offline_access"}
		doc["grant_types_supported"] = []string{"authorization_code", "refresh_token"}
	}
	if !k.NoRevocation {
		doc["revocation_endpoint"] = back + p.paths.revoke
		if p.keycloak != "" {
			// Keycloak 26 (hostname v2) names it at the front-end URL,
			// even with KC_HOSTNAME_BACKCHANNEL_DYNAMIC.
			doc["revocation_endpoint"] = front + p.paths.revoke
		}
	}
	if k.PadDiscovery > 0 {
		doc["padding"] = strings.Repeat("x", k.PadDiscovery)
	}
	if !k.NoIssParam {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if !k.NoEndSession {
		doc["end_session_endpoint"] = front + p.paths.endSession
		if p.keycloak == "" {
			doc["end_session_endpoint"] = front + p.paths.endSession + "?tenant=t1"
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

// authorize approves at once, as a provider with a live session would;
// with prompt=none it answers login_required, as to a browser without a
// session (rp never sends prompt=none; rp doctor does). Like Keycloak it
// checks the client, then the redirect URI (an error page: it cannot send
// the browser back to a URI it does not know), then sends errors about
// the request back to the redirect URI.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k := p.knobsNow()
	if q.Get("client_id") != p.ClientID {
		p.errorPage(w, "Client not found.")
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || len(k.RedirectURIs) > 0 && !slices.Contains(k.RedirectURIs, redirect) {
		p.errorPage(w, "Invalid parameter: redirect_uri")
		return
	}
	if k.NoStandardFlow {
		p.sendBack(w, r, "unauthorized_client", "Client is not allowed to initiate browser login with given response_type. Standard flow is disabled for the client.")
		return
	}
	if len(k.Scopes) > 0 && slices.ContainsFunc(strings.Fields(q.Get("scope")), func(s string) bool { return !slices.Contains(k.Scopes, s) }) {
		p.sendBack(w, r, "invalid_scope", "Invalid scopes: "+q.Get("scope"))
		return
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	if q.Get("prompt") == "none" {
		p.sendBack(w, r, "login_required", "")
		return
	}
	sub := k.Subject
	if sub == "" {
		sub = "alice"
	}
	sid := k.SID
	if sid == "" {
		sid = "sid-" + rand.Text()[:10]
	} else if sid == "-" {
		sid = ""
	}
	code := rand.Text()
	p.mu.Lock()
	p.scopes = append(p.scopes, q.Get("scope"))
	p.grants[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"),
		redirectURI: q.Get("redirect_uri"), sub: sub, sid: sid, scope: q.Get("scope")}
	p.mu.Unlock()

	p.redirectBack(w, r, k, url.Values{"code": {code}})
}

// sendBack answers an authorization request with an OAuth error at its
// redirect URI.
func (p *Provider) sendBack(w http.ResponseWriter, r *http.Request, code, description string) {
	back := url.Values{"error": {code}}
	if description != "" {
		back.Set("error_description", description)
	}
	p.redirectBack(w, r, p.knobsNow(), back)
}

// redirectBack sends the browser to the request's redirect URI with back,
// its state and (RFC 9207) iss.
func (p *Provider) redirectBack(w http.ResponseWriter, r *http.Request, k Knobs, back url.Values) {
	q := r.URL.Query()
	back.Set("state", q.Get("state"))
	switch {
	case k.IssParam == "-": // advertised, but left out
	case k.IssParam != "":
		back.Set("iss", k.IssParam)
	case !k.NoIssParam:
		back.Set("iss", p.Issuer)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": "test provider says " + code})
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	k := p.knobsNow()
	// Reading the body first lets the server notice a client that gives up.
	_ = r.ParseForm()
	if k.TokenDelay > 0 {
		select {
		case <-time.After(k.TokenDelay):
		case <-r.Context().Done():
			return
		}
	}
	if k.CodeFirst {
		p.mu.Lock()
		g, ok := p.grants[r.PostFormValue("code")]
		p.mu.Unlock()
		if !ok || g.used {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: both are form-urlencoded before Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if !basic && !k.RequireBasic {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if !p.authenticated(w, k, id, secret) {
		return
	}
	if k.TokenError != "" {
		oauthError(w, http.StatusBadRequest, k.TokenError)
		return
	}
	if r.PostFormValue("grant_type") == "refresh_token" {
		p.refreshGrant(w, r, k)
		return
	}
	code := r.PostFormValue("code")
	p.mu.Lock()
	g, ok := p.grants[code]
	if ok && !k.ReuseCodes {
		p.grants[code] = grant{used: true}
	}
	p.mu.Unlock()
	if !ok || g.used || r.PostFormValue("grant_type") != "authorization_code" ||
		r.PostFormValue("redirect_uri") != g.redirectURI ||
		s256(r.PostFormValue("code_verifier")) != g.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	if k.RefuseOffline && slices.Contains(strings.Fields(g.scope), "offline_access") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not_allowed",
			"error_description": "Offline tokens not allowed for the user or client"})
		return
	}

	p.issue(w, k, g, k.IDTokenClaims, !k.OmitIDToken, true)
}

// authenticated checks the client's id and secret, and answers the
// refusal when they are wrong: invalid_client, or, in Keycloak's shape,
// unauthorized_client for a known client with a wrong secret (both 401,
// "Invalid client or Invalid client credentials").
func (p *Provider) authenticated(w http.ResponseWriter, k Knobs, id, secret string) bool {
	if subtle.ConstantTimeCompare([]byte(id), []byte(p.ClientID)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return false
	}
	if k.PublicClient || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1 {
		return true
	}
	if p.keycloak != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
	} else {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
	}
	return false
}

// issue answers a token request for grant g: a new access token, a new
// refresh token when newRT, and an ID token when withID.
func (p *Provider) issue(w http.ResponseWriter, k Knobs, g grant, edit func(map[string]any), withID, newRT bool) {
	now := p.now()
	ttl := cmp.Or(k.AccessTTL, 5*time.Minute)
	claims := map[string]any{
		"iss": p.Issuer, "sub": g.sub, "aud": p.ClientID, "exp": now.Add(ttl).Unix(),
		"iat": now.Unix(), "nonce": g.nonce, "name": "Alice Example",
		"preferred_username": g.sub, "email": g.sub + "@example.com",
	}
	if g.sid != "" {
		claims["sid"] = g.sid
	}
	maps.Copy(claims, k.ExtraIDClaims)
	if edit != nil {
		edit(claims)
	}
	resp := map[string]any{
		"access_token": "at-" + rand.Text(), "token_type": cmp.Or(k.TokenType, "Bearer"), "expires_in": int(ttl.Seconds()),
	}
	if newRT {
		rt := "rt-" + rand.Text()
		p.mu.Lock()
		p.refresh[rt] = grant{nonce: g.nonce, sub: g.sub, sid: g.sid}
		p.mu.Unlock()
		resp["refresh_token"] = rt
	}
	if withID {
		p.mu.Lock()
		key, kid, alg := p.keys[0].priv, p.keys[0].kid, "RS256"
		p.mu.Unlock()
		if k.SignWith != nil {
			key = k.SignWith
		}
		if k.SignKID != "" {
			kid = k.SignKID
		}
		if k.SignAlg != "" {
			alg = k.SignAlg
		}
		resp["id_token"] = p.sign(claims, key, kid, alg)
	}
	writeJSON(w, http.StatusOK, resp)
}

// refreshGrant redeems a refresh token (the client is authenticated).
func (p *Provider) refreshGrant(w http.ResponseWriter, r *http.Request, k Knobs) {
	if k.RefreshDelay > 0 {
		select {
		case <-time.After(k.RefreshDelay):
		case <-r.Context().Done():
			return
		}
	}
	rt := r.PostFormValue("refresh_token")
	p.mu.Lock()
	g, ok := p.refresh[rt]
	disabled := ok && p.disabled[g.sub]
	if ok && !k.NoRotate && !g.stale && !disabled {
		delete(p.refresh, rt)
	}
	p.mu.Unlock()
	if disabled {
		// Keycloak's words (TokenManager), as its token endpoint sends them.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "User disabled"})
		return
	}
	if !ok || k.RefuseRefresh || g.stale {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	// Without rotation the same refresh token stays valid, and the answer
	// has none.
	p.issue(w, k, g, k.RefreshIDTokenClaims, !k.NoRefreshIDToken, !k.NoRotate)
}

// revoke is RFC 7009's endpoint: it forgets the token and answers 200.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	id, secret, _ := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !p.authenticated(w, p.knobsNow(), id, secret) {
		return
	}
	tok := r.PostFormValue("token")
	p.mu.Lock()
	p.revoked = append(p.revoked, tok)
	delete(p.refresh, tok)
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	k := p.knobsNow()
	if r.Header.Get("Authorization") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	sub := k.UserInfoSub
	if sub == "" {
		sub = k.Subject
		if sub == "" {
			sub = "alice"
		}
	}
	claims := map[string]any{"sub": sub}
	maps.Copy(claims, k.UserInfo)
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// endSession records the request and, like Keycloak, needs id_token_hint or
// client_id before it honours post_logout_redirect_uri.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k := p.knobsNow()
	p.mu.Lock()
	p.logouts = append(p.logouts, q)
	p.mu.Unlock()
	redirect := q.Get("post_logout_redirect_uri")
	if redirect == "" {
		_, _ = w.Write([]byte("signed out at the provider"))
		return
	}
	hint := q.Get("id_token_hint")
	if hint == "" && q.Get("client_id") == "" {
		p.errorPage(w, "Missing parameters: id_token_hint")
		return
	}
	if hint != "" && !p.issuedByUs(hint) {
		p.errorPage(w, "Invalid parameter: id_token_hint")
		return
	}
	if id := q.Get("client_id"); id != "" && id != p.ClientID {
		p.errorPage(w, "Client not found.")
		return
	}
	if len(k.PostLogoutRedirectURIs) > 0 && !slices.Contains(k.PostLogoutRedirectURIs, redirect) {
		p.errorPage(w, "Invalid redirect uri")
		return
	}
	if p.keycloak != "" && hint == "" {
		_, _ = w.Write([]byte("<h1>Logging out</h1><p>Do you want to log out?</p>"))
		return
	}
	back := url.Values{}
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	http.Redirect(w, r, redirect+"?"+back.Encode(), http.StatusFound)
}

// issuedByUs reports whether raw is a token signed with one of the
// provider's current keys.
func (p *Provider) issuedByUs(raw string) bool {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		if _, err := jws.Verify(k.priv.Public()); err == nil {
			return true
		}
	}
	return false
}
