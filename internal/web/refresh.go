package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rp-project/rp/internal/oidc"
	"github.com/rp-project/rp/internal/session"
)

// refreshPause is how long an instance leaves refreshes alone after the
// provider failed to answer one.
const refreshPause = 15 * time.Second

// refreshAt is when tokens that expire at expiry, obtained at now, are
// refreshed: a minute before, or a quarter of their life for short-lived
// ones. Zero (never) when the expiry is unknown.
func refreshAt(now, expiry time.Time) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	return expiry.Add(-min(time.Minute, expiry.Sub(now)/4))
}

// keptAccessToken is the access token rp stores: only with
// RP_PASS_ACCESS_TOKEN, the one use rp has for it after sign-in (UserInfo
// is asked before the session is stored; the expiry, which decides
// refreshes, is kept either way). A token rp does not keep cannot leak
// from its store, and every session is about 1.5 KB smaller.
func (s *Server) keptAccessToken(at string) string {
	if !s.passToken {
		return ""
	}
	return at
}

// refresh refreshes the session's tokens (once per session across
// instances). It returns the login, with claims from a new ID token, and
// whether the user is still signed in: a refresh the provider refuses
// (invalid_grant: signed out or disabled there) or whose ID token fails
// the checks ends the session everywhere. Any other failure (the provider
// down, slow, rate-limiting, or refusing rp's own credentials) says nothing
// about the user: the session goes on with the tokens it has, and this
// instance pauses refreshes for a moment. The refresh token of a session
// ended so is revoked, as at logout.
func (s *Server) refresh(r *http.Request, l session.Login) (session.Login, bool) {
	ctx := r.Context()
	if s.now().UnixNano() < s.refreshPausedUntil.Load() {
		return l, true
	}
	_, err := s.refreshTokens(ctx, func(t session.Tokens) bool { return !s.now().Before(t.RefreshAt) })
	switch {
	case err == nil:
		s.metrics.Refresh("ok")
		l2, ok := s.sessions.Login(ctx)
		return l2, ok
	case errors.Is(err, session.ErrEnded):
		return session.Login{}, false
	case errors.Is(err, oidc.ErrGrantRefused):
		s.metrics.Refresh("refused")
		s.metrics.Logout("refresh_refused", 1)
		s.log.Warn("token refresh refused; the session ends everywhere", "sub", l.Subject, "err", err, "request_id", requestID(ctx))
		t, _, terr := s.sessions.Tokens(ctx)
		if _, serr := s.sessions.SignOut(ctx); serr != nil {
			s.log.Error("ending a session whose refresh was refused failed", "err", serr, "request_id", requestID(ctx))
		}
		// A token the provider refused may still hold something there:
		// Keycloak refuses an offline token as stale after an admin signs
		// the user out, yet keeps its offline session until it is revoked.
		// A refresh refused by rp's own checks is not revoked: the
		// provider took that token (see oidc.ErrInvalidGrant).
		if terr == nil && errors.Is(err, oidc.ErrInvalidGrant) {
			s.revoke(ctx, t)
		}
		return session.Login{}, false
	default:
		s.metrics.Refresh("failed")
		if errors.Is(err, oidc.ErrUnavailable) || errors.Is(err, oidc.ErrNotReady) {
			s.refreshPausedUntil.Store(s.now().Add(refreshPause).UnixNano())
		}
		level := slog.LevelWarn
		if strings.Contains(err.Error(), "invalid_client") {
			level = slog.LevelError // rp's client secret is wrong: every refresh fails
		}
		s.log.Log(ctx, level, "token refresh failed; the session goes on with its tokens", "sub", l.Subject, "err", err, "request_id", requestID(ctx))
		return l, true
	}
}

// refreshTokens runs one refresh of the session's tokens when due says so
// of the tokens in the store.
func (s *Server) refreshTokens(ctx context.Context, due func(session.Tokens) bool) (session.Tokens, error) {
	l, _ := s.sessions.Login(ctx)
	return s.sessions.Refresh(ctx, session.Refresh{
		Due:  func(t session.Tokens) bool { return t.RefreshToken != "" && due(t) },
		Wait: s.refreshHold,
		Hold: s.refreshHold,
		Do: func(ctx context.Context, t session.Tokens) (session.Tokens, json.RawMessage, error) {
			got, err := s.oidc.Refresh(ctx, t.RefreshToken, l.Claims)
			if err != nil {
				return session.Tokens{}, nil, err
			}
			next := session.Tokens{IDToken: t.IDToken, AccessToken: s.keptAccessToken(got.AccessToken), RefreshToken: got.RefreshToken,
				Expiry: got.Expiry, RefreshAt: refreshAt(s.now(), got.Expiry)}
			if got.IDToken != "" {
				next.IDToken = got.IDToken
			}
			s.log.Info("tokens refreshed", "sub", l.Subject, "new_id_token", got.IDToken != "", "request_id", requestID(ctx))
			return next, got.Claims, nil
		},
	})
}

// currentIDToken returns an ID token for id_token_hint: the stored one, or
// when that has expired and the session can refresh, a fresh one.
func (s *Server) currentIDToken(ctx context.Context, t session.Tokens) session.Tokens {
	if t.RefreshToken == "" || !s.idTokenExpired(t.IDToken) {
		return t
	}
	fresh, err := s.refreshTokens(ctx, func(t session.Tokens) bool { return s.idTokenExpired(t.IDToken) })
	if err != nil {
		s.log.Warn("refreshing an expired ID token for the logout failed; sending the expired one", "err", err, "request_id", requestID(ctx))
		return t
	}
	return fresh
}

// idTokenExpired reads the exp of an ID token rp verified and stored
// itself.
func (s *Server) idTokenExpired(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == 0 {
		return false
	}
	return !s.now().Before(time.Unix(int64(c.Exp), 0))
}
