package nginxconf

import (
	"slices"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	conf, err := Parse(`
# comment
events { worker_connections 10; }
http {
    log_format x '$remote_addr "$uri" # not a comment';
    upstream u { server a:1 max_fails=2; server b:2; }
    server {
        listen 8080;
        location / { proxy_set_header Host "${http_host}"; proxy_read_timeout 1m30s; }
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	http := conf.All("http")
	if len(http) != 1 {
		t.Fatalf("http blocks: %d", len(http))
	}
	if lf := http[0].All("log_format"); len(lf) != 1 || !slices.Equal(lf[0].Args, []string{"x", `$remote_addr "$uri" # not a comment`}) {
		t.Errorf("log_format: %+v", lf)
	}
	up := http[0].All("upstream")[0].All("server")
	if len(up) != 2 || !slices.Equal(up[0].Args, []string{"a:1", "max_fails=2"}) {
		t.Errorf("upstream servers: %+v", up)
	}
	loc := http[0].All("server")[0].All("location")[0]
	if h := loc.Inherited("proxy_set_header"); len(h) != 1 || !slices.Equal(h[0].Args, []string{"Host", "${http_host}"}) {
		t.Errorf("proxy_set_header: %+v", h)
	}
	if l := loc.Inherited("worker_connections"); l != nil {
		t.Errorf("events' directives leak into http: %+v", l)
	}
	if d, err := Duration(loc.Inherited("proxy_read_timeout")[0].Args[0]); err != nil || d != 90*time.Second {
		t.Errorf("proxy_read_timeout: %v, %v", d, err)
	}
	for _, bad := range []string{"http {", "}", "listen 80", "a { b; } }", `x "unterminated;`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for in, want := range map[string]time.Duration{"60": time.Minute, "75s": 75 * time.Second, "500ms": 500 * time.Millisecond, "1h": time.Hour} {
		if got, err := Duration(in); err != nil || got != want {
			t.Errorf("Duration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1x", "-1s"} {
		if _, err := Duration(in); err == nil {
			t.Errorf("Duration(%q) passed", in)
		}
	}
}

// --- writing a configuration back, and finding directives ---
