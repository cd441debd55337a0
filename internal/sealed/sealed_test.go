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

const (
	secretA = "0123456789abcdef0123456789abcdef-a"
	secretB = "0123456789abcdef0123456789abcdef-b"
)

func TestSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, err := New(secretA)
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
			other, _ := New(secretB)
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
	old, _ := New(secretA)
	sealed, err := old.Seal("signin", value{State: "S"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := New(secretB, secretA)
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
	if _, err := New(secretA, ""); err == nil {
		t.Fatal("an empty secret was accepted")
	}
	if _, err := New(); err == nil {
		t.Fatal("no secret was accepted")
	}
}
