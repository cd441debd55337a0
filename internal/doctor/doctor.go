// Package doctor checks rp's configuration against the live provider and
// says, for each problem, how to fix it. It backs the `rp doctor` command.
package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/config"

	"github.com/rp-project/rp/internal/oidc"
)

// Status of one check.
type Status int

// The statuses, from good to bad. Only Fail makes the run fail.
const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string { return [...]string{"ok", "WARN", "FAIL"}[s] }

// Finding is the outcome of one check.
type Finding struct {
	Status Status
	Check  string // short name, e.g. "issuer"
	Detail string // what was found
	Fix    string // what to do, for Warn and Fail
}

// Options carry what tests replace.
type Options struct {
	Transport http.RoundTripper // default http.DefaultTransport
	Now       func() time.Time  // default time.Now
	// UpstreamTransport reaches RP_UPSTREAM; default http.DefaultTransport.
	UpstreamTransport http.RoundTripper
}

// Check runs every check against the provider cfg names. It stops early
// only when discovery itself fails, since every other check needs it.
func Check(ctx context.Context, cfg config.Config, o Options) []Finding {
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &doctor{
		cfg:  cfg,
		http: &http.Client{Transport: o.Transport, Timeout: cfg.ProviderTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:  o.Now,
	}
	if o.UpstreamTransport == nil {
		o.UpstreamTransport = http.DefaultTransport
	}
	d.upstreamClient = &http.Client{Transport: o.UpstreamTransport, CheckRedirect: d.http.CheckRedirect}
	doc, date, f := d.discovery(ctx)
	out := []Finding{f}
	if f.Status == Fail {
		return redact(append(append(out, d.upstream(ctx)...), d.cookieSecret(), d.brand()), cfg)
	}
	out = append(out, d.issuer(doc), d.clock(date))
	out = append(out, d.metadata(doc)...)
	out = append(out, d.frontchannel(doc))
	out = append(out, d.refresh(doc)...)
	signIn, clientKnown := d.signIn(ctx, doc)
	out = append(out, d.client(ctx, doc, clientKnown))
	out = append(out, signIn...)
	out = append(out, d.postLogoutURI(ctx, doc))
	out = append(out, d.upstream(ctx)...)
	return redact(append(out, d.cookieSecret(), d.brand()), cfg)
}

// redact takes every secret of cfg out of the findings: a provider may
// repeat what it was sent in the error it answers.
func redact(findings []Finding, cfg config.Config) []Finding {
	secrets := append([]string{cfg.ClientSecret, cfg.ForwardAuthSecret}, cfg.CookieSecrets...)
	var pairs []string
	for _, s := range secrets {
		// Shorter ones would blank out ordinary words; config and the
		// cookie-secret check already warn about them.
		if len(s) >= 6 {
			pairs = append(pairs, s, "[secret]")
		}
	}
	if len(pairs) == 0 {
		return findings
	}
	r := strings.NewReplacer(pairs...)
	for i := range findings {
		findings[i].Detail, findings[i].Fix = r.Replace(findings[i].Detail), r.Replace(findings[i].Fix)
	}
	return findings
}

// Print writes the findings and returns whether none failed.
func Print(w io.Writer, cfg config.Config, findings []Finding) bool {
	fmt.Fprintf(w, "rp doctor: client %q at %s\n\n", cfg.ClientID, cfg.Issuer)
	failed := 0
	for _, f := range findings {
		fmt.Fprintf(w, "  %-4s  %-22s %s\n", f.Status, f.Check, f.Detail)
		if f.Fix != "" && f.Status != OK {
			fmt.Fprintf(w, "        %-22s fix: %s\n", "", f.Fix)
		}
		if f.Status == Fail {
			failed++
		}
	}
	fmt.Fprintln(w)
	if failed == 0 {
		fmt.Fprintln(w, "No problems found.")
		return true
	}
	fmt.Fprintf(w, "%d problem(s) found.\n", failed)
	return false
}

type doctor struct {
	cfg            config.Config
	http           *http.Client
	upstreamClient *http.Client
	now            func() time.Time
}

// fromHere rewrites a browser-facing URL to the address rp reaches the
// provider by, when RP_DISCOVERY_URL differs from RP_ISSUER (docker
// compose: localhost for browsers, the service name for rp).
func (d *doctor) fromHere(u string) string {
	return oidc.FromHere(d.cfg.Issuer, d.cfg.DiscoveryURL, u)
}

func trim(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
