package proxy

import (
	"net/http"
	"testing"
)

func TestForwardedRequestFromEachProxy(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want Forwarded
	}{
		{
			// location = /_rp/auth { internal; proxy_pass http://rp/_rp/auth?status=401;
			//   proxy_set_header X-Forwarded-Method $request_method;
			//   proxy_set_header X-Forwarded-Proto $scheme;
			//   proxy_set_header X-Forwarded-Host $http_host;
			//   proxy_set_header X-Forwarded-Uri $request_uri;
			//   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
			name: "nginx auth_request",
			h: http.Header{
				"X-Forwarded-Method": {"GET"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Host":   {"app.example.com"},
				"X-Forwarded-Uri":    {"/reports/q1?year=2025&tags=a,b"},
				"X-Forwarded-For":    {"203.0.113.9"},
				"Cookie":             {"rp_session=x"},
				"Accept":             {"text/html"},
			},
			want: Forwarded{"GET", "https", "app.example.com", "/reports/q1?year=2025&tags=a,b"},
		},
		{
			// Traefik ForwardAuth sets these (and X-Forwarded-Port,
			// -Server, X-Real-Ip) on the request to the auth server.
			name: "Traefik ForwardAuth",
			h: http.Header{
				"X-Forwarded-Method": {"POST"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Host":   {"App.Example.com:8443"},
				"X-Forwarded-Uri":    {"/api/items/1,2,3"},
				"X-Forwarded-For":    {"203.0.113.9"},
				"X-Forwarded-Port":   {"8443"},
				"X-Forwarded-Server": {"traefik-1"},
				"X-Real-Ip":          {"203.0.113.9"},
			},
			want: Forwarded{"POST", "https", "app.example.com:8443", "/api/items/1,2,3"},
		},
		{
			// Caddy's forward_auth sets X-Forwarded-Method and -Uri; its
			// reverse_proxy adds X-Forwarded-For, -Proto and -Host.
			name: "Caddy forward_auth",
			h: http.Header{
				"X-Forwarded-Method": {"HEAD"},
				"X-Forwarded-Uri":    {"/"},
				"X-Forwarded-For":    {"2001:db8::9"},
				"X-Forwarded-Proto":  {"http"},
				"X-Forwarded-Host":   {"[2001:db8::1]:8080"},
			},
			want: Forwarded{"HEAD", "http", "[2001:db8::1]:8080", "/"},
		},
		{
			name: "upper-case proto, IPv4 host",
			h: http.Header{
				"X-Forwarded-Method": {"PROPFIND"},
				"X-Forwarded-Proto":  {"HTTPS"},
				"X-Forwarded-Host":   {"192.0.2.1"},
				"X-Forwarded-Uri":    {"/dav/"},
			},
			want: Forwarded{"PROPFIND", "https", "192.0.2.1", "/dav/"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ForwardedRequest(tc.h)
			if !ok || got != tc.want {
				t.Errorf("got %+v %v, want %+v", got, ok, tc.want)
			}
		})
	}
}

func TestForwardedRequestRefuses(t *testing.T) {
	good := func() http.Header {
		return http.Header{
			"X-Forwarded-Method": {"GET"},
			"X-Forwarded-Proto":  {"https"},
			"X-Forwarded-Host":   {"app.example.com"},
			"X-Forwarded-Uri":    {"/x"},
		}
	}
	if _, ok := ForwardedRequest(good()); !ok {
		t.Fatal("the good header is refused")
	}
	for _, tc := range []struct {
		name   string
		key    string
		values []string // nil: header removed
	}{
		{"no method", "X-Forwarded-Method", nil},
		{"no proto", "X-Forwarded-Proto", nil},
		{"no host", "X-Forwarded-Host", nil},
		{"no uri", "X-Forwarded-Uri", nil},
		{"two method lines", "X-Forwarded-Method", []string{"GET", "GET"}},
		{"method list", "X-Forwarded-Method", []string{"GET, POST"}},
		{"method not a token", "X-Forwarded-Method", []string{"G ET"}},
		{"method with a slash", "X-Forwarded-Method", []string{"GET/"}},
		{"empty method", "X-Forwarded-Method", []string{""}},
		{"two proto lines", "X-Forwarded-Proto", []string{"https", "https"}},
		{"proto list", "X-Forwarded-Proto", []string{"https,http"}},
		{"other proto", "X-Forwarded-Proto", []string{"ws"}},
		{"two host lines", "X-Forwarded-Host", []string{"app.example.com", "evil.example"}},
		{"host list", "X-Forwarded-Host", []string{"app.example.com, evil.example"}},
		{"empty host", "X-Forwarded-Host", []string{" "}},
		{"host with userinfo", "X-Forwarded-Host", []string{"evil.example@app.example.com"}},
		{"host with a path", "X-Forwarded-Host", []string{"app.example.com/x"}},
		{"host with a space", "X-Forwarded-Host", []string{"app example.com"}},
		{"host with a bad port", "X-Forwarded-Host", []string{"app.example.com:99999"}},
		{"host with an empty port", "X-Forwarded-Host", []string{"app.example.com:"}},
		{"host with a signed port", "X-Forwarded-Host", []string{"app.example.com:+80"}},
		{"host with an empty label", "X-Forwarded-Host", []string{"app..example.com"}},
		{"unbracketed IPv6", "X-Forwarded-Host", []string{"2001:db8::1"}},
		{"bracketed non-IPv6", "X-Forwarded-Host", []string{"[app.example.com]"}},
		{"IPv6 with a zone", "X-Forwarded-Host", []string{"[fe80::1%25eth0]"}},
		{"two uri lines", "X-Forwarded-Uri", []string{"/a", "/b"}},
		{"uri list as proxies append", "X-Forwarded-Uri", []string{"/a, /b"}},
		{"uri without a slash", "X-Forwarded-Uri", []string{"a"}},
		{"absolute uri", "X-Forwarded-Uri", []string{"https://evil.example/"}},
		{"scheme-relative uri", "X-Forwarded-Uri", []string{"//evil.example/"}},
		{"uri with a space", "X-Forwarded-Uri", []string{"/a b"}},
		{"uri with a control", "X-Forwarded-Uri", []string{"/a\x01b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := good()
			if tc.values == nil {
				delete(h, tc.key)
			} else {
				h[tc.key] = tc.values
			}
			if f, ok := ForwardedRequest(h); ok {
				t.Errorf("accepted %+v", f)
			}
		})
	}
}
