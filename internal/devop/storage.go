package devop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Lifetimes of what the provider hands out.
const (
	authRequestTTL = 10 * time.Minute // from /authorize to the code's redemption
	accessTokenTTL = 15 * time.Minute
	idTokenTTL     = time.Hour
	sessionTTL     = 12 * time.Hour // the provider's own browser session
)

// storage is the op.Storage of one Provider: everything in memory, one
// confidential client, the demo users, one RS256 key made at start.
type storage struct {
	client *client
	users  []User
	key    signingKey
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	requests map[string]*authRequest // by id
	codes    map[string]string       // code -> auth request id
	tokens   map[string]*accessToken // by id
	sessions map[string]*browserSession
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

func newStorage(c *client, users []User, logger *slog.Logger) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devop: generating the signing key: %w", err)
	}
	return &storage{
		client:   c,
		users:    users,
		key:      signingKey{id: "devop-" + rand.Text()[:8], key: key},
		log:      logger,
		now:      time.Now,
		requests: make(map[string]*authRequest),
		codes:    make(map[string]string),
		tokens:   make(map[string]*accessToken),
		sessions: make(map[string]*browserSession),
	}, nil
}

func (s *storage) userBySubject(sub string) (User, bool) {
	i := slices.IndexFunc(s.users, func(u User) bool { return u.Subject == sub })
	if i < 0 {
		return User{}, false
	}
	return s.users[i], true
}

// checkPassword returns the user whose username and password match.
func (s *storage) checkPassword(username, password string) (User, bool) {
	for _, u := range s.users {
		if u.Username == username && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
			return u, true
		}
	}
	return User{}, false
}

// --- the provider's browser sessions (what end_session ends) ---

type browserSession struct {
	id       string // the "sid" claim
	subject  string
	authTime time.Time
	expires  time.Time
}

func (s *storage) newSession(sub string) *browserSession {
	now := s.now()
	bs := &browserSession{id: rand.Text(), subject: sub, authTime: now, expires: now.Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[bs.id] = bs
	return bs
}

func (s *storage) session(id string) (*browserSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs, ok := s.sessions[id]
	if !ok || s.now().After(bs.expires) {
		delete(s.sessions, id)
		return nil, false
	}
	return bs, true
}

// completeRequest records who signed in for the auth request id, and in
// which browser session.
func (s *storage) completeRequest(id string, bs *browserSession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok || s.now().After(req.created.Add(authRequestTTL)) {
		return errors.New("sign-in request not found or expired")
	}
	req.subject, req.authTime, req.sessionID, req.done = bs.subject, bs.authTime, bs.id, true
	return nil
}

// --- op.AuthStorage ---

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	// rp always sends PKCE; this provider insists on it, and on S256.
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	req := &authRequest{
		id:            rand.Text(),
		created:       s.now(),
		clientID:      r.ClientID,
		redirectURI:   r.RedirectURI,
		state:         r.State,
		nonce:         r.Nonce,
		scopes:        slices.Clone([]string(r.Scopes)),
		responseType:  r.ResponseType,
		responseMode:  r.ResponseMode,
		codeChallenge: &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
		prompt:        slices.Clone([]string(r.Prompt)),
		maxAge:        r.MaxAge,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[req.id] = req
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok || s.now().After(req.created.Add(authRequestTTL)) {
		return nil, errors.New("auth request not found or expired")
	}
	return req, nil
}

// AuthRequestByCode redeems a code: it works once, even when the token
// request then fails.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	delete(s.codes, code)
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or already used")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	// Forget abandoned sign-ins and dead tokens while here.
	now := s.now()
	for rid, req := range s.requests {
		if now.After(req.created.Add(authRequestTTL)) {
			delete(s.requests, rid)
		}
	}
	for tid, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, tid)
		}
	}
	return nil
}

type accessToken struct {
	id       string
	clientID string
	subject  string
	scopes   []string
	expires  time.Time
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	req, ok := r.(*authRequest)
	if !ok {
		return "", time.Time{}, errors.New("only the code flow is supported")
	}
	t := &accessToken{id: rand.Text(), clientID: req.clientID, subject: req.subject, scopes: req.scopes, expires: s.now().Add(accessTokenTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.id] = t
	return t.id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errors.New("refresh tokens are not supported")
}

// TerminateSession is not called: TerminateSessionFromRequest replaces it.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeLocked(userID, clientID)
	return nil
}

// TerminateSessionFromRequest ends the browser's session at the provider
// (the one its cookie names, and the one the id_token_hint's sid names),
// revokes the client's access tokens for the user, and returns where
// end_session redirects: the validated post_logout_redirect_uri, with
// state.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ended []string
	for _, sid := range []string{cookieSessionFrom(ctx), hintSessionID(r)} {
		if _, ok := s.sessions[sid]; ok {
			delete(s.sessions, sid)
			ended = append(ended, sid)
		}
	}
	if r.UserID != "" {
		s.revokeLocked(r.UserID, r.ClientID)
	}
	s.log.Info("devop: provider session ended", "sub", r.UserID, "client_id", r.ClientID, "sessions_ended", len(ended), "redirect", r.RedirectURI)
	return r.RedirectURI, nil
}

func hintSessionID(r *op.EndSessionRequest) string {
	if r.IDTokenHintClaims == nil {
		return ""
	}
	return r.IDTokenHintClaims.SessionID
}

func (s *storage) revokeLocked(subject, clientID string) {
	for id, t := range s.tokens {
		if t.subject == subject && (clientID == "" || t.clientID == clientID) {
			delete(s.tokens, id)
		}
	}
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.tokens, tokenOrID)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

// --- op.OPStorage ---

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.client.id {
		return nil, errors.New("client not found")
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.client.id || subtle.ConstantTimeCompare([]byte(secret), []byte(s.client.secret)) != 1 {
		return errors.New("invalid client_id or client_secret")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated upstream; SetUserinfoFromRequest
// replaces it.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims. The library leaves
// profile and email to UserInfo when it issues an access token (as OpenID
// Connect Core 5.4 says), so rp's UserInfo path is exercised; sid names the
// provider's browser session (Front- and Back-Channel Logout 1.0).
func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	if err := s.setUserinfo(ui, r.GetSubject(), scopes); err != nil {
		return err
	}
	if req, ok := r.(*authRequest); ok && req.sessionID != "" {
		ui.AppendClaims("sid", req.sessionID)
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || s.now().After(t.expires) {
		return errors.New("access token invalid, expired or revoked")
	}
	return s.setUserinfo(ui, t.subject, t.scopes)
}

func (s *storage) setUserinfo(ui *oidc.UserInfo, sub string, scopes []string) error {
	u, ok := s.userBySubject(sub)
	if !ok {
		return errors.New("user not found")
	}
	ui.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			ui.PreferredUsername = u.Username
			ui.Name = u.Name
			ui.GivenName = u.GivenName
			ui.FamilyName = u.FamilyName
		case oidc.ScopeEmail:
			ui.Email = u.Email
			ui.EmailVerified = oidc.Bool(u.EmailVerified)
		}
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, ir *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || s.now().After(t.expires) {
		return errors.New("access token invalid, expired or revoked")
	}
	ui := new(oidc.UserInfo)
	if err := s.setUserinfo(ui, t.subject, t.scopes); err != nil {
		return err
	}
	ir.SetUserInfo(ui)
	ir.Active = true
	ir.Scope = t.scopes
	ir.ClientID = t.clientID
	ir.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves the JWT profile grant, which this provider
// does not offer.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// --- op.AuthRequest ---

type authRequest struct {
	id            string
	created       time.Time
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	prompt        []string
	maxAge        *uint

	// set by the login page
	done      bool
	subject   string
	authTime  time.Time
	sessionID string
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// --- op.Client ---

// client is rp: confidential, client_secret_basic, code flow only.
type client struct {
	id, secret             string
	redirectURIs           []string
	postLogoutRedirectURIs []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return c.postLogoutRedirectURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return loginPath + "?" + authRequestIDParam + "=" + id }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return idTokenTTL }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
