package sealed

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type value struct {
	State    string `json:"state"`
	ReturnTo string `json:"return_to"`
}

const ctx = "rp https://app.example https://sso.example"

const (
	secretA = "0123456789abcdef0123456789abcdef-a"
	secretB = "0123456789abcdef0123456789abcdef-b"
)

func TestSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, err := New(ctx, secretA)
	if err != nil {
		t.Fatal(err)
	}
	v := value{State: "S1", ReturnTo: "/reports?q=1"}
	sealed, err := s.Seal("signin", v, now, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "S1") || strings.Contains(sealed, "reports") {
		t.Fatalf("the sealed value shows its content: %s", sealed)
	}
	if strings.Trim(sealed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		t.Fatalf("not safe as a cookie value: %s", sealed)
	}
	var got value
	if err := s.Open("signin", sealed, now.Add(time.Minute), &got); err != nil {
		t.Fatal(err)
	}
	if got != v {
		t.Fatalf("opened %+v, want %+v", got, v)
	}

	refused := map[string]func() error{
		"another purpose": func() error { return s.Open("logout", sealed, now, &got) },
		"expired":         func() error { return s.Open("signin", sealed, now.Add(10*time.Minute+Leeway+time.Second), &got) },
		"issued later":    func() error { return s.Open("signin", sealed, now.Add(-Leeway-time.Second), &got) },
		"tampered": func() error {
			b := []byte(sealed)
			i := len(b) - 30 // in the ciphertext or the tag
			b[i] ^= 1
			if b[i] == '.' {
				b[i] = 'A'
			}
			return s.Open("signin", string(b), now, &got)
		},
		"empty":   func() error { return s.Open("signin", "", now, &got) },
		"garbage": func() error { return s.Open("signin", "a.b.c.d.e", now, &got) },
		"another key": func() error {
			other, _ := New(ctx, secretB)
			return other.Open("signin", sealed, now, &got)
		},
	}
	for name, open := range refused {
		t.Run(name, func(t *testing.T) {
			if err := open(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	old, _ := New(ctx, secretA)
	sealed, err := old.Seal("signin", value{State: "S"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := New(ctx, secretB, secretA)
	if err != nil {
		t.Fatal(err)
	}
	var got value
	if err := rotated.Open("signin", sealed, now, &got); err != nil || got.State != "S" {
		t.Fatalf("a value sealed with the old secret does not open after rotation: %v", err)
	}
	fresh, _ := rotated.Seal("signin", value{State: "T"}, now, now.Add(time.Minute))
	if err := old.Open("signin", fresh, now, &got); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the new first secret does not seal: %v", err)
	}
}

func TestEmptySecretRefused(t *testing.T) {
	if _, err := New(ctx, secretA, ""); err == nil {
		t.Fatal("an empty secret was accepted")
	}
	if _, err := New(ctx); err == nil {
		t.Fatal("no secret was accepted")
	}
}

func TestAnotherDeploymentCannotOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, _ := New("rp https://a.example", secretA)
	b, _ := New("rp https://b.example", secretA)
	sealed, err := a.Seal("signin", value{State: "S"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got value
	if err := b.Open("signin", sealed, now, &got); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a value sealed for another deployment with the same secret opened: %v", err)
	}
}

// TestURLsKeepTheirSize: a return path full of & (a dashboard's query)
// must not grow sixfold by HTML escaping and outgrow a cookie.
func TestURLsKeepTheirSize(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, _ := New(ctx, secretA)
	path := "/?" + strings.Repeat("a=1&", 510)
	sealed, err := s.Seal("signin", value{ReturnTo: path}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) > 3000 {
		t.Fatalf("a 2 KiB path sealed into %d bytes", len(sealed))
	}
	var got value
	if err := s.Open("signin", sealed, now, &got); err != nil || got.ReturnTo != path {
		t.Fatalf("opened %q, %v", got.ReturnTo, err)
	}
}

func TestStretch(t *testing.T) {
	a, b := Stretch("typed secret", "one"), Stretch("typed secret", "two")
	if len(a) != 64 || a == b || a != Stretch("typed secret", "one") {
		t.Fatalf("Stretch: %s %s", a, b)
	}
}
