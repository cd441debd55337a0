package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// clientHeader is a request header, or a prefix of header names, that
// another proxy, gateway or server sets to tell its app who the user is
// (or which client certificate they showed). An app that was built for
// one of them trusts the header blindly, so rp never passes a client's.
type clientHeader struct {
	Name   string // as the README shows it; a prefix without its "*"
	Prefix bool   // every header whose name starts with Name
	From   string // who sets it, for the README
}

// clientIdentityHeaders is the documented list of identity headers that are
// not rp's own (those are HeaderUser and the others, removed by
// StripIdentity). In proxy mode rp removes every header that reads as one
// of them (sameHeaderName and hasHeaderPrefix: any case, any punctuation
// for '-', every duplicate, as trailers too) unless the admin lets it
// through by name (RP_PASS_CLIENT_HEADERS). The README's "Other products'
// identity headers" mirrors it, and a test checks that it does.
//
// Left out on purpose: Authorization (see Options.PassAccessToken), names
// that are also clients' own credentials elsewhere, such as X-Auth-Token
// and X-Auth-User (OpenStack, Swift), and names too generic to say who
// set them (X-User, X-Email).
var clientIdentityHeaders = []clientHeader{
	{"Remote-User", false, "Authelia; apps that take Apache's REMOTE_USER from a header (Django and others)"},
	{"Remote-Email", false, "Authelia"},
	{"Remote-Groups", false, "Authelia"},
	{"Remote-Name", false, "Authelia"},
	{"X-Remote-User", false, "Kubernetes authenticating proxy"},
	{"X-Remote-Group", false, "Kubernetes authenticating proxy"},
	{"X-Remote-Extra-", true, "Kubernetes authenticating proxy"},
	{"X-Remote-Groups", false, "kube-rbac-proxy (with X-Remote-User)"},
	{"Impersonate-", true, "Kubernetes impersonation (User, Group, Uid, Extra-...)"},
	{"X-Auth-Request-", true, "oauth2-proxy (User, Email, Preferred-Username, Groups, Access-Token)"},
	{"X-Forwarded-Access-Token", false, "oauth2-proxy"},
	{"Gap-Auth", false, "oauth2-proxy"},
	{"Gap-Signature", false, "oauth2-proxy"},
	{"X-Auth-Userid", false, "Keycloak Gatekeeper"},
	{"X-Auth-Username", false, "Keycloak Gatekeeper"},
	{"X-Auth-Email", false, "Keycloak Gatekeeper"},
	{"X-Auth-Groups", false, "Keycloak Gatekeeper"},
	{"X-Auth-Roles", false, "Keycloak Gatekeeper"},
	{"X-Auth-Subject", false, "Keycloak Gatekeeper"},
	{"X-Webauth-", true, "Grafana auth proxy, Gitea, Forgejo, Gogs (User, Email, Name, Fullname, Groups, Role)"},
	{"X-Authentik-", true, "authentik"},
	{"X-Pomerium-", true, "Pomerium (Jwt-Assertion, Claim-...)"},
	{"X-Vouch-", true, "Vouch Proxy"},
	{"Cf-Access-", true, "Cloudflare Access (Jwt-Assertion, Authenticated-User-Email)"},
	{"X-Goog-Authenticated-User-", true, "Google IAP"},
	{"X-Goog-Iap-Jwt-Assertion", false, "Google IAP"},
	{"X-Amzn-Oidc-", true, "AWS Application Load Balancer (Data, Identity, Accesstoken)"},
	{"X-Ms-Client-Principal", true, "Azure App Service"},
	{"X-Ms-Token-", true, "Azure App Service"},
	{"Tailscale-", true, "Tailscale Serve (User-Login, User-Name, ...)"},
	{"Teleport-Jwt-Assertion", false, "Teleport"},
	{"X-Jwt-Assertion", false, "WSO2, Grafana's JWT example"},
	{"X-Consumer-", true, "Kong, Apache APISIX"},
	{"X-Credential-Identifier", false, "Kong, Apache APISIX"},
	{"X-Credential-Username", false, "Kong"},
	{"X-Anonymous-Consumer", false, "Kong"},
	{"X-Authenticated-", true, "Kong (Userid, Scope, Groups)"},
	{"X-Userinfo", false, "openid-connect plugins of Apache APISIX and Kong (kong-oidc, on lua-resty-openidc)"},
	{"X-Id-Token", false, "openid-connect plugins of Apache APISIX and Kong (kong-oidc, on lua-resty-openidc)"},
	{"X-Access-Token", false, "openid-connect plugins of Apache APISIX and Kong (kong-oidc, on lua-resty-openidc)"},
	{"Oidc-", true, "Apache mod_auth_openidc (OIDC_CLAIM_email, OIDC_access_token, ...)"},
	{"Shib-", true, "Shibboleth"},
	{"Oam-Remote-User", false, "Oracle Access Manager"},
	{"Sm-User", false, "SiteMinder"},
	{"Smuser", false, "SiteMinder"},
	{"Sm-Universalid", false, "SiteMinder"},
	{"Iv-User", false, "IBM WebSEAL"},
	{"Iv-User-L", false, "IBM WebSEAL"},
	{"Iv-Groups", false, "IBM WebSEAL"},
	{"Iv-Creds", false, "IBM WebSEAL"},
	{"Client-Cert", false, "RFC 9440: the client's TLS certificate"},
	{"Client-Cert-Chain", false, "RFC 9440: the client's TLS certificate"},
	{"X-Forwarded-Client-Cert", false, "Envoy, Istio"},
	{"X-Forwarded-Tls-Client-Cert", true, "Traefik's passTLSClientCert"},
	{"X-Ssl-Client-", true, "nginx and HAProxy setups (Cert, Verify, Dn, S-Dn, ...)"},
	{"X-Client-Cert", true, "Google Cloud load balancer mTLS (-Present, -Chain-Verified, ...)"},
	{"X-Amzn-Mtls-Clientcert", true, "AWS Application Load Balancer mTLS"},
	{"X-Arr-Clientcert", false, "Azure App Service mTLS"},
}

// clientIdentityIndex is clientIdentityHeaders by indexKey of their
// names, so that each header of a request is compared with a few entries
// at most. It is built once and never changed.
var clientIdentityIndex = func() (idx [512][]clientHeader) {
	for _, c := range clientIdentityHeaders {
		k := indexKey(c.Name)
		idx[k] = append(idx[k], c)
	}
	return idx
}()

// indexKey is the first letter or digit of a header name, in lower case,
// or when that is 'x', 256 plus the second (X-Remote-User and x~remote_user
// both give 256+'r'). Names that sameHeaderName or hasHeaderPrefix match
// share their first letters and digits, so they share their key.
func indexKey(k string) int {
	i := nextAlnum(k, 0)
	if i == len(k) {
		return 0
	}
	c := alnumFold[k[i]]
	if j := nextAlnum(k, i+1); c == 'x' && j < len(k) {
		return 256 + int(alnumFold[k[j]])
	}
	return int(c)
}

// isClientIdentityHeader reports whether header name k reads as a name of
// clientIdentityHeaders, or starts with one of its prefixes.
func isClientIdentityHeader(k string) bool {
	for _, c := range clientIdentityIndex[indexKey(k)] {
		if c.Prefix && hasHeaderPrefix(k, c.Name) || !c.Prefix && sameHeaderName(k, c.Name) {
			return true
		}
	}
	return false
}

// stripClientIdentity deletes from h every header isClientIdentityHeader
// names, except those that read as one of pass.
func stripClientIdentity(h http.Header, pass []string) {
	for k := range h {
		if isClientIdentityHeader(k) && !readsAsOneOf(k, pass) {
			delete(h, k)
		}
	}
}

func readsAsOneOf(k string, names []string) bool {
	for _, n := range names {
		if sameHeaderName(k, n) {
			return true
		}
	}
	return false
}

// CheckPassClientHeaders checks the names an admin lets through from the
// client (RP_PASS_CLIENT_HEADERS): each must be a header name that rp
// would otherwise remove as another product's identity header, named in
// full. rp's own identity headers and Authorization are never the
// client's to set. The error names every bad one, on one line.
func CheckPassClientHeaders(names []string) error {
	var bad []string
	for _, n := range names {
		switch {
		case !validHeaderName(n):
			bad = append(bad, fmt.Sprintf("%q is not a header name", n))
		case strings.Contains(n, "*"):
			bad = append(bad, fmt.Sprintf("%q: name each header in full, without *", n))
		case isIdentityHeader(n):
			bad = append(bad, fmt.Sprintf("%s is rp's own identity header: rp always sets it, never the client", n))
		case sameHeaderName(n, "Authorization"):
			bad = append(bad, "Authorization is not on the list: RP_PASS_ACCESS_TOKEN decides it")
		case !isClientIdentityHeader(n):
			bad = append(bad, fmt.Sprintf("%s is not a header rp removes: it reaches the app already", n))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// urlHeaders name the request's URL or path. IIS, and Symfony, Laravel and
// Zend before their fixes, route by X-Original-URL and X-Rewrite-URL;
// nginx's auth_request examples set X-Original-URI, Traefik's forward auth
// X-Forwarded-Uri, Kong X-Forwarded-Path. An app that routes by one of them
// could serve a path the access rules never checked, so rp removes them
// from every request, a trusted proxy's included.
var urlHeaders = []string{"X-Original-Url", "X-Original-Uri", "X-Rewrite-Url", "X-Forwarded-Uri", "X-Forwarded-Path"}
