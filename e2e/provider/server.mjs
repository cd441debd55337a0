// A local OpenID Provider for rp's end-to-end test: oidc-provider (a
// certified OpenID Provider implementation) with one confidential client
// registered for rp, its development login and consent forms, RP-initiated
// logout and back-channel logout.
//
// Settings (environment):
//   OP_PORT           port to listen on, on 127.0.0.1 only; 0 or unset: any free port
//   OP_ISSUER         issuer URL; default http://127.0.0.1:<port>
//   OP_RP_BASE_URL    rp's base URL, no trailing slash (required)
//   OP_CLIENT_ID      client id (default rp-e2e)
//   OP_CLIENT_SECRET  client secret (required)
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
      redirect_uris: [`${rpBase}/callback`],
      post_logout_redirect_uris: [`${rpBase}/logged-out`],
      backchannel_logout_uri: `${rpBase}/backchannel-logout`,
      // Also makes the provider put "sid" in ID tokens.
      backchannel_logout_session_required: true,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      grant_types: ['authorization_code'],
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
    },
    // PKCE on every authorization request; 9.x supports S256 only.
    pkce: { required: () => true },
    fetch: fetchWithLoopbackForRP,
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
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

  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
  log(`listening on http://${host}:${actualPort}, issuer ${issuer}, client ${clientId} for ${rpBase}`);
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
