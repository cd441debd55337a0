package doctor

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/rp-project/rp/internal/oidc"
)

// refresh says whether sessions will get refresh tokens, and whether a
// logout can revoke them.
func (d *doctor) refresh(doc oidc.Discovery) []Finding {
	var out []Finding
	switch {
	case !slices.Contains(doc.GrantTypesSupported, "refresh_token"):
		out = append(out, Finding{Status: Warn, Check: "refresh tokens",
			Detail: "the provider advertises no refresh_token grant",
			Fix:    "sessions last as configured, but access tokens are not renewed and a user disabled at the provider keeps access until the session ends; enable refresh tokens for the client if the app needs fresh tokens"})
	case !d.cfg.OfflineAccess:
		// The advice is in Detail: the fix of an OK finding is not shown.
		out = append(out, Finding{Status: OK, Check: "refresh tokens", Detail: "offline_access not asked for (RP_OFFLINE_ACCESS=false, the default); " +
			"a refresh token the provider sends anyway is used (Keycloak sends one, tied to its SSO session). " +
			"A provider that gives refresh tokens only with offline_access (oidc-provider, Okta, Auth0, Entra) needs RP_OFFLINE_ACCESS=true " +
			"for fresh tokens and for a user disabled there to lose access before the session ends; with Keycloak leave it off"})
	case doc.OfflineAccess():
		out = append(out, Finding{Status: OK, Check: "refresh tokens", Detail: "offline_access offered: asked for with prompt=consent"})
	default:
		out = append(out, Finding{Status: Warn, Check: "refresh tokens",
			Detail: "the provider advertises no offline_access scope or refresh_token grant",
			Fix:    "sessions last as configured, but access tokens are not renewed and a user disabled at the provider keeps access until the session ends; enable refresh tokens for the client if the app needs fresh tokens"})
	}
	if doc.RevocationEndpoint != "" {
		out = append(out, Finding{Status: OK, Check: "revocation", Detail: doc.RevocationEndpoint})
	} else {
		out = append(out, Finding{Status: Warn, Check: "revocation", Detail: "no revocation_endpoint: refresh tokens are not revoked at logout",
			Fix: "the provider's own logout must end its refresh tokens; check that it does"})
	}
	return out
}

// upstream checks that the app behind rp answers (any HTTP answer will
// do: the app may want its own sign-in on its front page).
func (d *doctor) upstream(ctx context.Context) []Finding {
	if d.cfg.Upstream == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.UpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.cfg.Upstream, nil)
	if err != nil {
		return []Finding{{Status: Fail, Check: "upstream", Detail: err.Error(), Fix: "set RP_UPSTREAM to the app's URL, e.g. http://app:3000"}}
	}
	resp, err := d.upstreamClient.Do(req)
	if err != nil {
		return []Finding{{Status: Fail, Check: "upstream", Detail: fmt.Sprintf("%s does not answer: %v", d.cfg.Upstream, err),
			Fix: "start the app, or set RP_UPSTREAM to the address rp reaches it by (in compose: the service name)"}}
	}
	resp.Body.Close()
	return []Finding{{Status: OK, Check: "upstream", Detail: fmt.Sprintf("%s answers (HTTP %d)", d.cfg.Upstream, resp.StatusCode)}}
}
