package oidc

import (
	"net/url"
)

// EndSessionURL returns the provider's end_session_endpoint carrying
// id_token_hint, client_id, post_logout_redirect_uri and state, as
// RP-Initiated Logout 1.0 describes. ok is false when the provider has no
// end_session_endpoint or its metadata is not loaded: only the local
// session can be ended then.
func (c *Client) EndSessionURL(idTokenHint, postLogoutRedirectURI, state string) (_ string, ok bool) {
	m, err := c.metadata()
	if err != nil || m.endSession == "" {
		return "", false
	}
	u, err := url.Parse(m.endSession)
	if err != nil {
		c.log.Error("end_session_endpoint is not a URL", "err", err)
		return "", false
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", c.s.ClientID)
	q.Set("post_logout_redirect_uri", postLogoutRedirectURI)
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), true
}
