package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBarePage: the pages scenario's baseline renders rp's current profile
// templates completely for its cookie, and refuses a request without it.
func TestBarePage(t *testing.T) {
	h, err := barePageHandler("http://127.0.0.1:9/op")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/profile", nil)
	req.Header.Set("Cookie", barePageCookie)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, string(pageMarker)) {
		t.Fatalf("status %d, body:\n%s", w.Code, body)
	}
	for _, want := range []string{"</html>", "alice@example.com", "5 minutes ago", "preferred_username", `name="csrf_token"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<no value>") {
		t.Errorf("rp's templates read a field the bare page does not give (see barePageData):\n%s", body)
	}
	if w.Header().Get("Content-Length") == "" {
		t.Error("no Content-Length")
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/profile", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("without the cookie: %d", w.Code)
	}
}
