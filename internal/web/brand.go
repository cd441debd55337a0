package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// Brand is how rp's pages name the organisation: a name in every header
// and title, and an optional logo beside it.
type Brand struct {
	Name     string // "" shows rp
	Logo     []byte // the image as rp serves it; nil for none
	LogoType string // its Content-Type, e.g. image/svg+xml
}

// logoCSP is the Content-Security-Policy of the logo's own response. An
// <img> never runs an SVG's script, but a user who opens the logo's URL gets
// it as a document of rp's origin: sandbox gives it an opaque origin and no
// script, and default-src 'none' lets it load nothing. The logo was checked
// for script at start as well (config.ReadLogo).
const logoCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; sandbox"

// logoRoute is where rp serves the logo, under the prefix.
const logoRoute = "/static/logo"

// logoETag names the logo's bytes, so that browsers revalidate cheaply.
func logoETag(logo []byte) string {
	sum := sha256.Sum256(logo)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// handleLogo serves GET /static/logo: the RP_BRAND_LOGO file read at
// start, with its own type, cacheable, never sniffed and never able to run
// script.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", s.brand.LogoType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", logoCSP)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", s.logoETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.brand.Logo))
}
