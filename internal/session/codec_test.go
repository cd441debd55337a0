package session

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 27, 8, 0, 0, 123456000, time.UTC)
	in := map[string]any{"login": []byte(`{"sub":"alice"}`), "csrf": "tok", "seen": int64(1764230400), "empty": ""}
	b, err := codec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	d, out, err := codec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Equal(deadline) || len(out) != len(in) || !bytes.Equal(out["login"].([]byte), in["login"].([]byte)) ||
		out["csrf"] != "tok" || out["seen"] != int64(1764230400) || out["empty"] != "" {
		t.Fatalf("decoded %v %v", d, out)
	}
	if _, err := (codec{}).Encode(deadline, map[string]any{"x": 1.5}); err == nil {
		t.Fatal("an unsupported value type was encoded")
	}
}

// TestSessionsOfTheEarlierReleaseStillLoad: rp before this codec stored
// sessions with scs's GobCodec; upgrading must sign no one out.
func TestSessionsOfTheEarlierReleaseStillLoad(t *testing.T) {
	m, err := Open(context.Background(), Options{Store: "memory", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l := []byte(`{"iss":"https://op","sub":"alice","claims":{},"id_token":"x","signed_in_at":"2026-11-27T08:00:00Z"}`)
	old, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour), map[string]any{"login": l, "csrf": "t"})
	if err != nil {
		t.Fatal(err)
	}
	const token = "a-token-from-before-the-upgrade"
	if err := m.backend.store.CommitCtx(context.Background(), storeKey(token), old, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx := load(t, m, &http.Cookie{Name: m.CookieName(), Value: token})
	if l, ok := m.Login(ctx); !ok || l.Subject != "alice" {
		t.Fatal("a gob-encoded session of the earlier release did not load")
	}
	if tok, ok, _ := m.Tokens(ctx); !ok || tok.IDToken != "x" {
		t.Fatalf("its ID token (kept inside the login then) is lost: %+v", tok)
	}
}

func FuzzCodecDecode(f *testing.F) {
	good, _ := codec{}.Encode(time.Now(), map[string]any{"a": "b", "c": []byte("d"), "e": int64(-5)})
	f.Add(good)
	f.Add(codecMagic)
	f.Add([]byte{0x00, 'r', 'p', 0x01, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, v, err := codec{}.Decode(append(append([]byte{}, codecMagic...), b...))
		if err != nil {
			return
		}
		again, err := codec{}.Encode(d, v)
		if err != nil {
			t.Fatalf("re-encoding a decoded session: %v", err)
		}
		if _, _, err := (codec{}).Decode(again); err != nil {
			t.Fatalf("decoding a re-encoded session: %v", err)
		}
	})
}
