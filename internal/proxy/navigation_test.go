package proxy

import (
	"net/http"
	"testing"
)

func TestIsNavigation(t *testing.T) {
	chromium := func() http.Header {
		return http.Header{
			"Accept":                    {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
			"Sec-Fetch-Dest":            {"document"},
			"Sec-Fetch-Mode":            {"navigate"},
			"Sec-Fetch-Site":            {"none"},
			"Sec-Fetch-User":            {"?1"},
			"Upgrade-Insecure-Requests": {"1"},
			"User-Agent":                {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		}
	}
	with := func(k string, v ...string) http.Header {
		h := chromium()
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		method string
		h      http.Header
		want   bool
	}{
		{"Chromium navigation", "GET", chromium(), true},
		{"HEAD", "HEAD", chromium(), true},
		{"old browser without Sec-Fetch", "GET", http.Header{"Accept": {"text/html, */*"}}, true},
		{"Firefox Accept", "GET", with("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), true},
		{"upper-case media type", "GET", with("Accept", "TEXT/HTML"), true},
		{"POST form", "POST", chromium(), false},
		{"fetch()", "GET", http.Header{"Accept": {"*/*"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}}, false},
		{"fetch() asking for HTML", "GET", http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}}, false},
		{"XHR", "GET", with("X-Requested-With", "XMLHttpRequest"), false},
		{"iframe", "GET", with("Sec-Fetch-Dest", "iframe"), false},
		{"image", "GET", http.Header{"Accept": {"image/avif,image/webp,*/*"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"image"}}, false},
		{"WebSocket", "GET", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Fetch-Mode": {"websocket"}, "Sec-Fetch-Dest": {"websocket"}}, false},
		{"WebSocket without Sec-Fetch", "GET", http.Header{"Upgrade": {"websocket"}, "Accept": {"text/html"}}, false},
		{"API with JSON", "GET", http.Header{"Accept": {"application/json"}}, false},
		{"curl", "GET", http.Header{"Accept": {"*/*"}}, false},
		{"no Accept", "GET", with("Accept"), false},
		{"text/html refused with q=0", "GET", with("Accept", "text/html;q=0, */*"), false},
		{"text/html with q=0.5", "GET", with("Accept", "application/json, text/html; q=0.5"), true},
		{"text/html-ish type", "GET", with("Accept", "text/htmlx"), false},
		{"repeated Sec-Fetch-Mode", "GET", with("Sec-Fetch-Mode", "navigate", "cors"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsNavigation(tc.method, tc.h); got != tc.want {
				t.Errorf("IsNavigation = %v, want %v", got, tc.want)
			}
		})
	}
}
