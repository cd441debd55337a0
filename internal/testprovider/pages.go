package testprovider

import (
	"fmt"
	"html"
	"net/http"
)

// errorPage answers 400 with msg: in Keycloak's shape as Keycloak's login
// theme renders it (a head full of scripts and styles, the realm's name
// in the header, the message in #kc-error-message), otherwise as text.
func (p *Provider) errorPage(w http.ResponseWriter, msg string) {
	if p.keycloak == "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	realm := html.EscapeString(p.keycloak)
	fmt.Fprintf(w, `<!DOCTYPE html>
<html class="login-pf" lang="en">
<head>
    <meta charset="utf-8">
    <title>Sign in to %s</title>
    <link href="/resources/login/keycloak.v2/css/styles.css" rel="stylesheet" />
    <script type="module">
        import { startSessionPolling } from "/resources/login/keycloak.v2/js/authChecker.js";
        startSessionPolling("/realms/%s/login-actions/restart?skip_logout=true");
    </script>
</head>
<body id="keycloak-bg" class="" data-page-id="login-error">
<div class="pf-v5-c-login">
  <header id="kc-header" class="pf-v5-c-login__header"><div id="kc-header-wrapper" class="pf-v5-c-brand">%s</div></header>
  <main class="pf-v5-c-login__main">
    <h1 class="pf-v5-c-title pf-m-3xl" id="kc-page-title">        We are sorry...
</h1>
    <div id="kc-error-message">
        <p class="instruction">%s</p>
    </div>
  </main>
</div>
</body>
</html>
`, realm, realm, realm, html.EscapeString(msg))
}
