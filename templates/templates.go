// Package templates holds rp's pages and stylesheet, embedded in the binary.
// No page loads anything from another origin, and none uses inline script.
package templates

import "embed"

// FS holds layout.html, one file per page, and static/.
//
//go:embed *.html static
var FS embed.FS
