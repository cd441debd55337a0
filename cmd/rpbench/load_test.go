package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fixed":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write(upstreamBody)
		case "/chunked":
			_, _ = w.Write(upstreamBody[:40])
			w.(http.Flusher).Flush()
			_, _ = w.Write(upstreamBody[40:])
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write(upstreamBody)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/cookie":
			if r.Header.Get("Cookie") != "a=b" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write(upstreamBody)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestParser(t *testing.T) {
	srv := testServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := dial(context.Background(), host, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		path   string
		status int
		ok     bool
		close  bool
	}{
		{"/fixed", 200, true, false},
		{"/chunked", 200, true, false},
		{"/empty", 204, false, false},
		{"/nope", 404, false, false},
		{"/fixed", 200, true, false}, // still in sync after the others
		{"/close", 200, true, true},
	} {
		a, err := c.Do(Request{Host: host, Path: tc.path}.Bytes(), upstreamBody)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if a.Status != tc.status || a.BodyOK != tc.ok || a.Close != tc.close {
			t.Errorf("%s: got status %d, body ok %v, close %v; want %d, %v, %v", tc.path, a.Status, a.BodyOK, a.Close, tc.status, tc.ok, tc.close)
		}
	}
}

func TestProbeKeepsHeadersAndBody(t *testing.T) {
	srv := testServer(t)
	a, err := Probe(context.Background(), Request{Host: strings.TrimPrefix(srv.URL, "http://"), Path: "/nope"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != 404 || !strings.HasPrefix(a.Header["content-type"], "text/plain") || !strings.Contains(string(a.Body), "not found") {
		t.Errorf("got %d %v %q", a.Status, a.Header, a.Body)
	}
}

func TestLoadCountsOnlyTheExpectedAnswer(t *testing.T) {
	srv := testServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	o := LoadOptions{Connections: 4, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}
	var phases []bool
	o.Phase = func(m bool) { phases = append(phases, m) }
	good, err := Load(context.Background(), Request{Host: host, Path: "/cookie", Header: [][2]string{{"Cookie", "a=b"}}}, upstreamBody, o)
	if err != nil {
		t.Fatal(err)
	}
	if good.OK == 0 || good.Errors != 0 || good.P50 <= 0 || good.P99 < good.P50 || good.Max < good.P99 {
		t.Errorf("with the cookie: %+v", good)
	}
	if len(phases) != 2 || !phases[0] || phases[1] {
		t.Errorf("phases %v, want [true false]", phases)
	}
	o.Phase = nil
	bad, err := Load(context.Background(), Request{Host: host, Path: "/cookie"}, upstreamBody, o)
	if err != nil {
		t.Fatal(err)
	}
	if bad.OK != 0 || bad.Errors == 0 || len(bad.Samples) == 0 || bad.Samples[0] != "status 401" {
		t.Errorf("without the cookie: OK %d, errors %d, samples %q", bad.OK, bad.Errors, bad.Samples)
	}
	closing, err := Load(context.Background(), Request{Host: host, Path: "/close"}, upstreamBody, o)
	if err != nil {
		t.Fatal(err)
	}
	if closing.OK == 0 || closing.Errors != 0 || closing.Reconnects == 0 {
		t.Errorf("Connection: close: %+v", closing)
	}
}

func TestLoadOfANumberOfRequests(t *testing.T) {
	srv := testServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	o := LoadOptions{Connections: 4, Duration: time.Minute, Requests: 57, Accept: func(s int) bool { return s == 404 }}
	res, err := Load(context.Background(), Request{Host: host, Path: "/nope"}, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 57 || res.Errors != 0 || res.Statuses[404] != 57 || len(res.Statuses) != 1 || res.Window <= 0 || res.Window >= time.Minute {
		t.Errorf("57 requests answered 404: %+v", res)
	}
	// Each request its own: every other one is refused.
	var paths [2]int
	o.Accept = func(s int) bool { return s == 200 }
	o.Next = func(n int64) []byte {
		paths[n%2]++ // Next is called on the connections' goroutines: only read after Load
		if n%2 == 0 {
			return Request{Host: host, Path: "/fixed"}.Bytes()
		}
		return Request{Host: host, Path: "/nope"}.Bytes()
	}
	o.Connections = 1
	res, err = Load(context.Background(), Request{Host: host}, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 29 || res.Errors != 28 || res.Statuses[200] != 29 || res.Statuses[404] != 28 || res.Samples[0] != "status 404" || paths != [2]int{29, 28} {
		t.Errorf("alternating requests: %+v, paths %v", res, paths)
	}
	if _, err := Load(context.Background(), Request{Host: host}, nil, LoadOptions{Connections: 1, Requests: 1, Warmup: time.Second, Duration: time.Second}); err == nil {
		t.Error("a number of requests with a warm-up: no error")
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 200; i++ {
		s = append(s, time.Duration(i))
	}
	if p := percentile(s, 50); p != 100 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(s, 99); p != 198 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(s[:1], 99); p != 1 {
		t.Errorf("p99 of one = %d", p)
	}
}

func TestRequestBytes(t *testing.T) {
	r := Request{Host: "127.0.0.1:1", Path: "/", Header: [][2]string{{"Cookie", "a=b"}}}
	want := "GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUser-Agent: rpbench\r\nAccept: */*\r\nCookie: a=b\r\n\r\n"
	if got := string(r.Bytes()); got != want {
		t.Errorf("got %q", got)
	}
	if got := string(r.WithoutHeader("Cookie").Bytes()); strings.Contains(got, "Cookie") || len(r.Header) != 1 {
		t.Errorf("WithoutHeader: %q (original %v)", got, r.Header)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtRate(1234567.4), "1,234,567"}, {fmtRate(999), "999"}, {fmtRate(1000), "1,000"},
		{fmtDur(850 * time.Microsecond), "850 µs"}, {fmtDur(2410 * time.Microsecond), "2.41 ms"},
		{fmtDur(41800 * time.Microsecond), "41.8 ms"}, {Goal{"memory", "bare", 0.7}.String(), "≥ 0.7× bare"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
