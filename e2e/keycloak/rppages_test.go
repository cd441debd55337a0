package keycloak

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// profileClaims reads the claims table of rp's profile page: claim name to
// the value as shown (lists joined with ", ").
func profileClaims(t testing.TB, p page) map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	claims := map[string]string{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" {
			var name, value string
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				switch {
				case c.Type == html.ElementNode && c.Data == "th":
					name = nodeText(c)
				case c.Type == html.ElementNode && c.Data == "td":
					value = nodeText(c)
				}
			}
			if name != "" && name != "Claim" {
				claims[name] = value
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(claims) == 0 {
		t.Fatalf("%s: no claims table:\n%s", p, p.Body)
	}
	return claims
}

// nodeText is the text content of n, trimmed.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// logoutCSRF is the CSRF token of the first form on p that posts to
// rp's /logout (the profile page's, the 403 page's, /logout's own).
func logoutCSRF(t testing.TB, p page) string {
	t.Helper()
	for _, f := range forms(p.Body) {
		if f.Method == "post" && strings.HasSuffix(f.Action, "/logout") && f.Value("csrf_token") != "" {
			return f.Value("csrf_token")
		}
	}
	t.Fatalf("%s: no logout form with a CSRF token:\n%s", p, p.Body)
	return ""
}

// pageText is the text of p's body as a reader sees it: no tags, runs of
// white space as one space.
func pageText(t testing.TB, p page) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return strings.Join(strings.Fields(nodeText(doc)), " ")
}
