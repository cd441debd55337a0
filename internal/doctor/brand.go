package doctor

import (
	"fmt"
	"strings"
)

// bigLogo is the size above which a logo slows the first view of every
// page on a slow phone connection more than a logo should.
const bigLogo = 64 << 10

// brand says what the pages show as the organisation's name and logo. The
// logo was checked when the settings were read (config.ReadLogo); this adds
// what is worth an admin's look.
func (d *doctor) brand() Finding {
	name := d.cfg.BrandName
	if d.cfg.Logo == nil {
		return Finding{Status: OK, Check: "brand", Detail: fmt.Sprintf("pages are headed %q, without a logo", name)}
	}
	l := d.cfg.Logo
	detail := fmt.Sprintf("pages are headed %q with the logo %s (%s, %.1f KiB) at %s", name, l.Path, l.Type, float64(len(l.Data))/1024, d.cfg.Route("/static/logo"))
	switch {
	case len(l.Data) > bigLogo:
		return Finding{Status: Warn, Check: "brand", Detail: detail,
			Fix: "every page loads the logo (browsers keep it for an hour): an SVG, or a PNG about 64 px high, is a few KiB"}
	case l.Type == "image/svg+xml" && !strings.Contains(string(l.Data), "viewBox"):
		return Finding{Status: Warn, Check: "brand", Detail: detail,
			Fix: "the SVG has no viewBox, so it may not scale to the header's 32 px: save it with one"}
	}
	return Finding{Status: OK, Check: "brand", Detail: detail}
}
