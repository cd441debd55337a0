package proxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// cgiVar is the variable a gateway that maps every byte of a header name
// that is not a letter or digit to '_' gives header k: lighttpd's mod_cgi,
// mod_fastcgi and mod_scgi, and Apache httpd before 2.4. The tests use it
// as the app's reading, independent of the code under test.
func cgiVar(k string) string {
	b := []byte("HTTP_" + k)
	for i := len("HTTP_"); i < len(b); i++ {
		switch c := b[i]; {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// punctuatedHead sends, with values containing "evil", the identity, URL
// and forwarding headers spelt with the other punctuation HTTP allows in a
// name ("!#$%&'*+^`|~"), each of which such a gateway turns into '_'.
const punctuatedHead = `GET /page HTTP/1.1
Host: app.example.com
X~Forwarded~User: evil-tilde
X-Forwarded+User: evil-plus
X-Forwarded!User: evil-bang
X|Forwarded|Email: evil@evil.example
X^Forwarded^Preferred^Username: evil-caret
X#Forwarded#Groups: evil-admins
Remote!User: evil-admin
Remote~Email: evil@evil.example
X-Auth-Request~Email: evil@evil.example
X-Auth-Request+User: evil
X~Remote~User: evil
Oidc&Claim&Email: evil@evil.example
X%Original%URL: /evil
X'Rewrite'Url: /evil
X*Original*Uri: /evil
X` + "`" + `Forwarded` + "`" + `Uri: /evil
X~Forwarded~Path: /evil
X~Forwarded~For: 6.6.6.6-evil
X~Forwarded~Host: evil.example
X~Forwarded~Proto: evil
X~Real~Ip: 6.6.6.6-evil
X+Forwarded+Prefix: /evil
X-App: kept`

// TestServeRemovesPunctuatedSpellings: a header name spelt with any
// punctuation in place of '-' reaches a CGI or FastCGI app behind
// lighttpd, or behind Apache httpd before 2.4, as the name itself
// (X~Forwarded~User as HTTP_X_FORWARDED_USER), so rp removes it.
func TestServeRemovesPunctuatedSpellings(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
	}{
		{"signed in", alice()},
		{"no identity", Identity{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := throughProxy(t, tc.id, punctuatedHead)
			for k, vs := range s.Header {
				if slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, "evil") }) {
					t.Errorf("%s: %q reached the app (a CGI app reads it as %s)", k, vs, cgiVar(k))
				}
			}
			// What the app reads as HTTP_X_FORWARDED_USER is rp's header alone.
			var users []string
			for k, vs := range s.Header {
				if cgiVar(k) == "HTTP_X_FORWARDED_USER" {
					users = append(users, k)
					if k != HeaderUser || !slices.Equal(vs, []string{tc.id.User}) {
						t.Errorf("%s: %q at the app, want rp's only", k, vs)
					}
				}
			}
			if tc.id.User != "" && len(users) != 1 {
				t.Errorf("HTTP_X_FORWARDED_USER from %q, want rp's %s only", users, HeaderUser)
			}
			if got := s.Header["X-App"]; !slices.Equal(got, []string{"kept"}) {
				t.Errorf("X-App = %q, want the client's", got)
			}
		})
	}
}

// TestStripIdentityPunctuation: rp's own names and Authorization in any
// punctuation go; names that differ in a letter or digit stay.
func TestStripIdentityPunctuation(t *testing.T) {
	h := http.Header{
		"X~Forwarded~User":               {"a"},
		"X-Forwarded+User":               {"b"},
		"X!forwarded!email":              {"c"},
		"X-Forwarded-Preferred^Username": {"d"},
		"X|Forwarded|Groups":             {"e"},
		"Authorization":                  {"f"},
		"X-Forwarded-Users":              {"kept"},
		"X-Forwarded-Use":                {"kept"},
		"X-Forwarded-User2":              {"kept"},
		"Authorizations":                 {"kept"},
	}
	StripIdentity(h, true)
	if want := []string{"X-Forwarded-Users", "X-Forwarded-Use", "X-Forwarded-User2", "Authorizations"}; !sameKeys(h, want) {
		t.Errorf("left %v, want %v", keys(h), want)
	}
}

// TestClientIdentityPrefixes: a prefix matches with any punctuation, but
// one listed with a trailing '-' still needs a separator there, so that
// Oidcfoo or X-Consumers (other names, to a CGI app too) are not taken
// for Oidc-* or X-Consumer-*.
func TestClientIdentityPrefixes(t *testing.T) {
	for k, want := range map[string]bool{
		"Oidc-Claim-Email":           true,
		"Oidc~Claim~Email":           true,
		"OIDC_access_token":          true,
		"Oidc-":                      true,
		"Oidcfoo":                    false,
		"Oidc":                       false,
		"X-Consumer!Username":        true,
		"X-Consumers":                false,
		"X~Auth~Request~Email":       true,
		"X-Auth-Requests":            false,
		"X-Ms-Client-Principal":      true,
		"X-Ms-Client-Principal-Name": true,
		"X-Ms-Client-PrincipalName":  true,
		"X~Ms~Client~Principal~Id":   true,
		"X-Remote-Extra+Scopes":      true,
		"X-Remote-Extras":            false,
		"Remote!User":                true,
		"Remote-Username":            false,
		"Shibboleth":                 false,
		"Tailscaled":                 false,
	} {
		if got := isClientIdentityHeader(k); got != want {
			t.Errorf("isClientIdentityHeader(%q) = %v, want %v", k, got, want)
		}
	}
}

// ordinaryHeaders are request headers that browsers, API clients, tracing
// and CDNs send: none may be taken for an identity, URL or forwarding
// header once punctuation is ignored.
var ordinaryHeaders = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Access-Control-Request-Headers",
	"Access-Control-Request-Method", "Baggage", "Cache-Control", "Cdn-Loop", "Content-Digest",
	"Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Device-Memory", "Dnt", "Downlink",
	"Early-Data", "Ect", "Idempotency-Key", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
	"If-Unmodified-Since", "Origin", "Pragma", "Priority", "Range", "Referer", "Rtt", "Save-Data",
	"Sec-Ch-Ua", "Sec-Ch-Ua-Arch", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
	"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Gpc", "Sec-Purpose", "Sec-Websocket-Key",
	"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Signature", "Signature-Input", "Traceparent",
	"Tracestate", "Upgrade-Insecure-Requests", "User-Agent", "Via", "Want-Digest", "X-Amz-Content-Sha256",
	"X-Amz-Date", "X-Amz-Security-Token", "X-Amzn-Trace-Id", "X-Api-Key", "X-B3-Traceid", "X-Cloud-Trace-Context",
	"X-Correlation-Id", "X-Csrf-Token", "X-Forwarded-Users", "X-Http-Method-Override", "X-Request-Id",
	"X-Requested-With", "X-Xsrf-Token", "X-Auth-Token", "X-Auth-User", "X-User-Agent", "X-Client-Data",
	"X-Client-Version", "X-Original-Method", "X-Remote-Addr", "X-Ms-Client-Request-Id", "X-Goog-Api-Key",
	"X-Goog-User-Project", "X-Oidc-Foo", "Oidcfoo", "Remote-Addr", "Remote-Host", "Shibboleth-Version",
	"Tailscaled", "Impersonated", "Sm-Users",
}

// TestOrdinaryHeadersPass: every removal rp makes for a request from an
// untrusted peer leaves ordinary headers alone.
func TestOrdinaryHeadersPass(t *testing.T) {
	h := http.Header{}
	for _, k := range ordinaryHeaders {
		h[k] = []string{"kept"}
	}
	stripSpellings(h, "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto")
	stripSpellings(h, urlHeaders...)
	stripSpellings(h, forwardingHeaders...)
	StripIdentity(h, true)
	stripClientIdentity(h, nil)
	for _, k := range ordinaryHeaders {
		if _, ok := h[k]; !ok {
			t.Errorf("%s was removed", k)
		}
	}
}
