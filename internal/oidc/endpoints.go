package oidc

import (
	"net/url"
	"strings"
)

// EndpointName names the provider endpoint u is, for metrics: discovery,
// token, userinfo, jwks, revocation, or other. The set is fixed: a name is
// never built from the URL.
func (c *Client) EndpointName(u *url.URL) string {
	if strings.HasSuffix(u.Path, "/.well-known/openid-configuration") {
		return "discovery"
	}
	m, err := c.metadata()
	if err != nil {
		return "other"
	}
	at := u.Scheme + "://" + u.Host + u.Path
	same := func(endpoint string) bool {
		e, err := url.Parse(endpoint)
		return err == nil && endpoint != "" && e.Scheme+"://"+e.Host+e.Path == at
	}
	switch {
	case same(m.doc.TokenEndpoint):
		return "token"
	case same(m.doc.UserInfoEndpoint):
		return "userinfo"
	case same(m.doc.JWKSURI):
		return "jwks"
	case same(m.doc.RevocationEndpoint):
		return "revocation"
	}
	return "other"
}
