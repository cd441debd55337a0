// A local OpenID Provider for rp's end-to-end test: oidc-provider (a
// certified OpenID Provider implementation) with one confidential client
// registered for rp, its development login and consent forms, RP-initiated
// logout, back-channel logout, token revocation (RFC 7009) and, when asked
// for, refresh tokens.
//
// Settings (environment):
//   OP_PORT           port to listen on, on 127.0.0.1 only; 0 or unset: any free port
//   OP_ISSUER         issuer URL; default http://127.0.0.1:<port>
//   OP_RP_BASE_URL    rp's base URL, no trailing slash (required)
//   OP_RP_PATH_PREFIX prefix of rp's routes (RP_PATH_PREFIX), e.g. /_rp: the registered
//                     redirect, post-logout and back-channel URIs are under it (default none)
//   OP_CLIENT_ID      client id (default rp-e2e)
//   OP_CLIENT_SECRET  client secret (required)
//   OP_REFRESH_TOKENS 1: the client may use the refresh_token grant, so a sign-in that asks
//                     for offline_access with prompt=consent gets a refresh token (default: no)
//   OP_ROTATE_REFRESH_TOKENS 1: every refresh rotates the refresh token (oidc-provider's default
//                     rotates only public clients' tokens, and confidential clients' past 70%
//                     of their lifetime)
//   OP_ACCESS_TOKEN_TTL access token lifetime in seconds (default 600)
//   OP_ID_TOKEN_TTL   ID token lifetime in seconds (default 600)
//   OP_TEST_API       1: serve the test API below (default: off)
//
// Test API (OP_TEST_API=1; loopback only, no authentication: tests only):
//   GET  /__test/events               JSON array of what the provider did, oldest first:
//        {"type":"token", grant_type, client_id, status, error, error_description,
//         refresh_token (sent), issued_access_token, issued_refresh_token, issued_id_token, scope}
//        {"type":"revocation", client_id, token, token_type_hint, status, error}
//        {"type":"refresh_token.saved"|"refresh_token.consumed"|"refresh_token.destroyed",
//         jti, grant_id, account_id, client_id, gty, rotations}
//        {"type":"grant.saved", grant_id, account_id, client_id}  {"type":"grant.revoked", grant_id}
//   POST /__test/revoke-grants?account=<sub>   destroys every grant of that account with its
//        tokens, as an administrator removing a user's consents would; answers
//        {"revoked":[grant ids]}
//
// Once listening it prints exactly one line "READY <issuer>" on stdout; logs
// and provider events go to stderr. It exits when stdin closes (so it cannot
// outlive the process that started it) or on SIGTERM / SIGINT.
//
// Run: npm ci --prefix e2e/provider && OP_RP_BASE_URL=... OP_CLIENT_SECRET=... node e2e/provider/server.mjs

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const log = (...args) => console.error('[provider]', ...args);

function required(name) {
  const v = process.env[name];
  if (!v) {
    log(`${name} is required`);
    process.exit(2);
  }
  return v;
}

const host = '127.0.0.1';
const port = Number.parseInt(process.env.OP_PORT || '0', 10);
const rpBase = required('OP_RP_BASE_URL').replace(/\/+$/, '');
const clientId = process.env.OP_CLIENT_ID || 'rp-e2e';
const clientSecret = required('OP_CLIENT_SECRET');
const rpPrefix = (process.env.OP_RP_PATH_PREFIX || '').replace(/\/+$/, '');
const refreshTokens = process.env.OP_REFRESH_TOKENS === '1';
const rotateRefreshTokens = process.env.OP_ROTATE_REFRESH_TOKENS === '1';
const testAPI = process.env.OP_TEST_API === '1';

function seconds(name, fallback) {
  const raw = process.env[name];
  if (!raw) return fallback;
  const v = Number.parseInt(raw, 10);
  if (!(v > 0) || String(v) !== raw.trim()) {
    log(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return v;
}
const accessTokenTTL = seconds('OP_ACCESS_TOKEN_TTL', 600);
const idTokenTTL = seconds('OP_ID_TOKEN_TTL', 600);

// The test user. The development login form accepts any login and password;
// the login becomes the account id (sub).
function accountClaims(sub) {
  return {
    sub,
    name: `${sub.charAt(0).toUpperCase()}${sub.slice(1)} Example`,
    email: `${sub}@example.test`,
    email_verified: true,
  };
}

// The signing key (RS256) is made per run: nothing persists between runs.
const signingKey = {
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  use: 'sig',
  alg: 'RS256',
};

// oidc-provider 9.x guards its outgoing requests (back-channel logout among
// them) against special-use addresses such as 127.0.0.0/8 by passing an undici
// dispatcher in options. rp listens on loopback in this test, so requests to
// rp's own origin go without that dispatcher; anything else keeps the guard.
const rpOrigin = new URL(rpBase).origin;
function fetchWithLoopbackForRP(url, options) {
  if (new URL(url).origin === rpOrigin) {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  }
  return globalThis.fetch(url, options);
}

const server = http.createServer();

server.listen(port, host, () => {
  const actualPort = server.address().port;
  const issuer = process.env.OP_ISSUER || `http://${host}:${actualPort}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      client_name: 'rp (end-to-end test)',
      redirect_uris: [`${rpBase}${rpPrefix}/callback`],
      post_logout_redirect_uris: [`${rpBase}${rpPrefix}/logged-out`],
      backchannel_logout_uri: `${rpBase}${rpPrefix}/backchannel-logout`,
      // Also makes the provider put "sid" in ID tokens.
      backchannel_logout_session_required: true,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      grant_types: refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() { return accountClaims(sub); },
      };
    },
    features: {
      devInteractions: { enabled: true }, // built-in login and consent forms
      rpInitiatedLogout: { enabled: true }, // built-in logout confirmation form
      backchannelLogout: { enabled: true },
      revocation: { enabled: true }, // RFC 7009: revocation_endpoint in discovery
    },
    // false is oidc-provider's default function's answer for a young
    // confidential client's token; true makes every refresh rotate.
    ...(rotateRefreshTokens ? { rotateRefreshToken: true } : {}),
    // PKCE on every authorization request; 9.x supports S256 only.
    pkce: { required: () => true },
    fetch: fetchWithLoopbackForRP,
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: idTokenTTL,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  });

  // Provider events a failing test run wants to see.
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
    'userinfo.error', 'discovery.error', 'jwks.error', 'backchannel.error']) {
    provider.on(event, (...args) => {
      const err = args.find((a) => a instanceof Error);
      log(event, err ? `${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}${err.cause ? ` cause: ${err.cause.message || err.cause}` : ''}` : '');
    });
  }
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    log('backchannel.success', client.clientId, accountId, sid);
  });
  provider.on('end_session.success', () => log('end_session.success'));
  provider.on('grant.success', () => log('grant.success'));

  // What the test API reports: token and revocation requests as the
  // provider answered them, and its bookkeeping of refresh tokens and grants.
  const events = [];
  const record = (e) => { if (testAPI) events.push({ at: new Date().toISOString(), ...e }); };
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route !== 'token' && route !== 'revocation') return;
    const params = ctx.oidc.params || {};
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    const e = {
      type: route,
      client_id: ctx.oidc.client?.clientId,
      status: ctx.status,
      error: body.error,
      error_description: body.error_description,
    };
    if (route === 'token') {
      Object.assign(e, {
        grant_type: params.grant_type,
        refresh_token: params.refresh_token,
        issued_access_token: body.access_token,
        issued_refresh_token: body.refresh_token,
        issued_id_token: body.id_token,
        scope: body.scope,
      });
    } else {
      Object.assign(e, { token: params.token, token_type_hint: params.token_type_hint });
    }
    log(`${route}${e.grant_type ? ` ${e.grant_type}` : ''}${e.token_type_hint ? ` hint=${e.token_type_hint}` : ''} -> ${e.status}${e.error ? ` ${e.error}` : ''}`);
    record(e);
  });
  for (const what of ['saved', 'consumed', 'destroyed']) {
    provider.on(`refresh_token.${what}`, (token) => {
      log(`refresh_token.${what}`, token.grantId);
      record({
        type: `refresh_token.${what}`,
        jti: token.jti,
        grant_id: token.grantId,
        account_id: token.accountId,
        client_id: token.clientId,
        gty: token.gty,
        rotations: token.rotations,
      });
    });
  }
  const grants = new Map(); // grant id -> account id
  provider.on('grant.saved', (grant) => {
    grants.set(grant.jti, grant.accountId);
    record({ type: 'grant.saved', grant_id: grant.jti, account_id: grant.accountId, client_id: grant.clientId });
  });
  provider.on('grant.revoked', (_ctx, grantId) => {
    log('grant.revoked', grantId);
    record({ type: 'grant.revoked', grant_id: grantId });
  });

  async function revokeGrants(account) {
    const revoked = [];
    for (const [grantId, accountId] of grants) {
      if (accountId !== account) continue;
      await Promise.all([
        provider.AccessToken.revokeByGrantId(grantId),
        provider.RefreshToken.revokeByGrantId(grantId),
        provider.AuthorizationCode.revokeByGrantId(grantId),
        provider.Grant.adapter.destroy(grantId),
      ]);
      grants.delete(grantId);
      revoked.push(grantId);
    }
    log('test API: revoked grants of', account, revoked);
    record({ type: 'test.revoke-grants', account_id: account, grant_ids: revoked });
    return revoked;
  }

  const providerCallback = provider.callback();
  server.on('request', (req, res) => {
    if (!testAPI || !req.url.startsWith('/__test/')) {
      providerCallback(req, res);
      return;
    }
    const url = new URL(req.url, issuer);
    const answer = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/__test/events') {
      answer(200, events);
    } else if (req.method === 'POST' && url.pathname === '/__test/revoke-grants' && url.searchParams.get('account')) {
      revokeGrants(url.searchParams.get('account')).then(
        (revoked) => answer(200, { revoked }),
        (err) => answer(500, { error: String(err) }),
      );
    } else {
      answer(404, { error: 'not found' });
    }
  });
  process.stdout.write(`READY ${issuer}\n`);
  log(`listening on http://${host}:${actualPort}, issuer ${issuer}, client ${clientId} for ${rpBase}${rpPrefix}`
    + `${refreshTokens ? ', refresh tokens' : ''}${rotateRefreshTokens ? ' (rotated)' : ''}`
    + `, access tokens ${accessTokenTTL}s, ID tokens ${idTokenTTL}s${testAPI ? ', test API' : ''}`);
});

server.on('error', (err) => {
  log('cannot listen:', err.message);
  process.exit(1);
});

function shutdown(why) {
  log(`stopping: ${why}`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
