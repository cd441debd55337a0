package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// withServerTimeouts gives rp's server the short timeouts meant for its own
// pages; proxied requests must outlive them.
func withServerTimeouts(s *http.Server) {
	s.ReadTimeout = time.Second
	s.WriteTimeout = time.Second
}

// randomStream is n deterministic pseudo-random bytes.
func randomStream(seed byte, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
}

func sha256Hex(tb testing.TB, r io.Reader) string {
	tb.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestServeEventStream checks that events reach the client as they are
// sent (the client reads the first before the upstream sends the second)
// and that a stream longer than the server's WriteTimeout is not cut.
func TestServeEventStream(t *testing.T) {
	firstRead := make(chan struct{})
	upstreamErr := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: 1\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-firstRead:
		case <-time.After(5 * time.Second):
			upstreamErr <- fmt.Errorf("the client did not get the first event before the second was sent: buffered")
			return
		}
		for i := 2; i <= 4; i++ {
			time.Sleep(time.Second)
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
		upstreamErr <- nil
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL)})
	front := frontServer(t, u, alice(), withServerTimeouts)

	start := time.Now()
	res, err := http.Get(front.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	var events []string
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %v and events %q: %v", time.Since(start), events, err)
		}
		if strings.HasPrefix(line, "data: ") {
			events = append(events, strings.TrimSpace(strings.TrimPrefix(line, "data: ")))
			if len(events) == 1 {
				close(firstRead)
			}
		}
	}
	if err := <-upstreamErr; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events, ","); got != "1,2,3,4" {
		t.Errorf("events %q, want 1,2,3,4", got)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("stream took %v; the test needs it to outlast the 1s WriteTimeout", took)
	}
}

// hashingUpstream answers with the SHA-256 of the request body.
func hashingUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	}))
	t.Cleanup(up.Close)
	return up
}

// TestServeSlowUpload sends a body over 3 seconds to a server whose
// ReadTimeout is 1 second.
func TestServeSlowUpload(t *testing.T) {
	u := New(Options{URL: mustURL(t, hashingUpstream(t).URL)})
	front := frontServer(t, u, alice(), withServerTimeouts)

	pr, pw := io.Pipe()
	sent := sha256.New()
	go func() {
		chunk := make([]byte, 64<<10)
		for i := range 7 {
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			sent.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		pw.Close()
	}()
	res, err := http.Post(front.URL+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(got) != hex.EncodeToString(sent.Sum(nil)) {
		t.Errorf("upstream answered %d %q; the body did not arrive intact", res.StatusCode, got)
	}
}

func TestServeLargeStreamedUpload(t *testing.T) {
	u := New(Options{URL: mustURL(t, hashingUpstream(t).URL)})
	front := frontServer(t, u, alice(), withServerTimeouts)

	const size = 64 << 20
	want := sha256Hex(t, randomStream(7, size))
	// An io.Reader of unknown length: sent chunked, never held whole.
	body := struct{ io.Reader }{randomStream(7, size)}
	res, err := http.Post(front.URL+"/upload", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(got) != want {
		t.Errorf("upstream answered %d %q, want the hash %s of the 64 MiB sent", res.StatusCode, got, want)
	}
}

// TestServeLargeDownload streams 64 MiB without a Content-Length, the last
// part after the server's WriteTimeout has passed.
func TestServeLargeDownload(t *testing.T) {
	const size = 64 << 20
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		src := randomStream(9, size)
		io.CopyN(w, src, size-1<<20)
		http.NewResponseController(w).Flush()
		time.Sleep(1200 * time.Millisecond)
		io.Copy(w, src)
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL)})
	front := frontServer(t, u, alice(), withServerTimeouts)

	res, err := http.Get(front.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ContentLength != -1 {
		t.Errorf("ContentLength %d, want a stream of unknown length", res.ContentLength)
	}
	if got, want := sha256Hex(t, res.Body), sha256Hex(t, randomStream(9, size)); got != want {
		t.Errorf("download hash %s, want %s", got, want)
	}
}

// TestServeWebSocket upgrades through the proxy with a raw handshake; the
// upstream hijacks and echoes. Bytes also echo after the server's read and
// write timeouts have passed.
func TestServeWebSocket(t *testing.T) {
	gotUser := make(chan []string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser <- r.Header[HeaderUser]
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade expected", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(conn, brw)
	}))
	defer up.Close()
	u := New(Options{URL: mustURL(t, up.URL)})
	front := frontServer(t, u, alice(), withServerTimeouts)

	res, conn, br := rawExchange(t, front.Listener.Addr().String(), `GET /ws HTTP/1.1
Host: app.example.com
Upgrade: websocket
Connection: Upgrade, X-Forwarded-User
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
X-Forwarded-User: evil
x_forwarded_user: evil`)
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if got := <-gotUser; len(got) != 1 || got[0] != "sub-alice" {
		t.Errorf("upstream saw %s %q", HeaderUser, got)
	}
	echo := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != msg {
			t.Errorf("echo %q, want %q", buf, msg)
		}
	}
	echo("hello")
	time.Sleep(1500 * time.Millisecond)
	echo("still there after the server's timeouts")
}
