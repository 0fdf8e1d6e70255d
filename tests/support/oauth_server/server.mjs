// Test-only OpenID Provider the Switchboard suite starts on 127.0.0.1 (tests/support/oauth_provider.py):
// oidc-provider with its devInteractions login and consent pages. Never part of a deployment.
// Usage: OIDC_CLIENTS='[...]' node server.mjs <port>
// Env (OIDC_CLIENTS required, the rest optional):
//   OIDC_CLIENTS         JSON array of client metadata (the suite's clients live in tests/support/oauth_provider.py)
//   OIDC_AT_TTL          access token lifetime, seconds                         default 5
//   OIDC_RT_TTL          refresh token lifetime, seconds                        default 3600
//   OIDC_ROTATE_RT       "0" disables refresh token rotation                    default: always rotate
// Codes, access and refresh tokens start with "SECRET-" (the suite's secret marker, see below).
// Prints exactly one stdout line `READY <issuer> startup_ms=<n>` once listening; the suite waits for it.
// Unlike stock oidc-provider (which accepts client_secret_basic and client_secret_post interchangeably), this
// script enforces each client's registered token_endpoint_auth_method on /token, /token/revocation and
// /token/introspection, so a test proves the client really uses the configured method.
//
// Test-only admin routes (loopback only, no auth):
//   GET  /admin/stats                counters (see fresh() below)
//   POST /admin/reset                zero the counters and clear the knobs
//   POST /admin/revoke?sub=alice     revoke every grant of an account (the user removed the app at the provider):
//                                    its refresh tokens then fail with invalid_grant, its access tokens are inactive
//   POST /admin/revoke-access?sub=alice
//                                    drop only the account's access tokens; refresh tokens stay valid
//                                    (upstream sees 401 with a not-yet-expired token -> "refresh once on 401" path)
//   POST /admin/knobs?token_delay_ms=300            delay every POST /token (widen race windows)
//   POST /admin/knobs?fail_refresh=invalid_grant|server_error&fail_count=1
//                                    the next N refresh_token requests fail (400 invalid_grant / 500 server_error)
//                                    without touching the grant
//   POST /admin/knobs?access_token_ttl=120          lifetime of the access tokens issued from now on (seconds;
//                                    0 or a reset: OIDC_AT_TTL again)
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';

const t0 = performance.now();
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || !process.env.OIDC_CLIENTS) {
  console.error('usage: OIDC_CLIENTS=<json array> node server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const AT_TTL = Number(process.env.OIDC_AT_TTL || 5);
const RT_TTL = Number(process.env.OIDC_RT_TTL || 3600);
const ROTATE = process.env.OIDC_ROTATE_RT !== '0';
const clients = JSON.parse(process.env.OIDC_CLIENTS);
const registeredAuth = new Map(clients.map((c) => [c.client_id, c.token_endpoint_auth_method || 'client_secret_basic']));

// A fresh RS256 signing key per start (clients read it from /jwks).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const DISPLAY = (sub) => sub.charAt(0).toUpperCase() + sub.slice(1);

const configuration = {
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: ['switchboard-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'api.read'],
  conformIdTokenClaims: false, // email/name also in the ID token from the token endpoint (like Google does)
  clockTolerance: 0, // default 15 s: userinfo would accept an expired access token for 15 s
  async findAccount(ctx, sub) {
    return {
      accountId: sub, // any login typed into the devInteractions form becomes the account id (= sub)
      async claims() {
        return { sub, email: `${sub}@example.test`, email_verified: true, name: DISPLAY(sub) };
      },
    };
  },
  pkce: { required: () => true }, // S256 is the only method oidc-provider v9 implements
  rotateRefreshToken: ROTATE,
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  ttl: {
    AccessToken: () => knobs.access_token_ttl || AT_TTL, // read per token: the access_token_ttl knob
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: RT_TTL,
    Grant: 14 * 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
  },
  async renderError(ctx, out) { // no external fonts/CSS: a plain page the browser tests can assert on
    ctx.type = 'html';
    const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><title>oidc error</title><pre id="error">${esc(out.error)}</pre>`
      + `<pre id="error_description">${esc(out.error_description)}</pre>`;
  },
};

const provider = new Provider(issuer, configuration);

// Every code and token value the provider issues starts with the suite's secret marker (tests/conftest.py), so
// the suite-wide secret guard fails any test whose output, logs or DynamoDB items hold one. They stay opaque
// (oidc-provider's own random id after the marker): stored, found and introspected by that value as before.
const SECRET_MARKER = 'SECRET-';
for (const model of [provider.AuthorizationCode, provider.AccessToken, provider.RefreshToken]) {
  const generate = model.prototype.generateTokenId;
  model.prototype.generateTokenId = function markedTokenId() { return `${SECRET_MARKER}${generate.call(this)}`; };
}

// ---- counters ---------------------------------------------------------------------------------------------
const fresh = () => ({
  token_requests: {}, // grant_type -> POST /token requests received (counted before any processing)
  token: {}, // `${grant_type}.ok|error|injected` -> outcome counts
  auth_methods: {}, // `${client_id} ${method}` -> requests on /token, /token/revocation, /token/introspection
  introspection: 0,
  revocation: 0,
  userinfo: 0,
  grants_revoked: 0,
});
let stats = fresh();
const noKnobs = () => ({ token_delay_ms: 0, fail_refresh: null, fail_count: 0, access_token_ttl: 0 });
let knobs = noKnobs();
const inc = (obj, k) => { obj[k] = (obj[k] || 0) + 1; };

const grantsOf = new Map(); // accountId -> Set(grantId)
const accessTokensOf = new Map(); // accountId -> Set(jti)
const remember = (map, key, id) => { if (!map.has(key)) map.set(key, new Set()); map.get(key).add(id); };

provider.on('grant.success', (ctx) => inc(stats.token, `${ctx.oidc.params.grant_type}.ok`));
provider.on('grant.error', (ctx) => inc(stats.token, `${ctx.oidc?.params?.grant_type ?? 'unknown'}.error`));
provider.on('grant.saved', (grant) => remember(grantsOf, grant.accountId, grant.jti));
provider.on('access_token.saved', (at) => remember(accessTokensOf, at.accountId, at.jti));
provider.on('grant.revoked', () => { stats.grants_revoked += 1; });
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const json = (ctx, status, body) => { ctx.status = status; ctx.type = 'json'; ctx.body = body; };
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
async function readRaw(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
const CLIENT_AUTH_ROUTES = new Set(['/token', '/token/revocation', '/token/introspection']);

provider.use(async (ctx, next) => {
  const q = ctx.query;
  if (ctx.path.startsWith('/admin/')) {
    if (ctx.method === 'GET' && ctx.path === '/admin/stats') return json(ctx, 200, stats);
    if (ctx.method === 'POST' && ctx.path === '/admin/reset') {
      stats = fresh(); knobs = noKnobs();
      return json(ctx, 200, { ok: true });
    }
    if (ctx.method === 'POST' && ctx.path === '/admin/knobs') {
      if (q.token_delay_ms !== undefined) knobs.token_delay_ms = Number(q.token_delay_ms);
      if (q.access_token_ttl !== undefined) knobs.access_token_ttl = Number(q.access_token_ttl);
      if (q.fail_refresh !== undefined) {
        knobs.fail_refresh = q.fail_refresh || null;
        knobs.fail_count = Number(q.fail_count || 1);
      }
      return json(ctx, 200, knobs);
    }
    if (ctx.method === 'POST' && ctx.path === '/admin/revoke') {
      const ids = [...(grantsOf.get(q.sub) || [])];
      for (const grantId of ids) {
        await Promise.all([ // (the memory adapter's revokeByGrantId drops every token of the grant anyway)
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
          provider.Grant.adapter.destroy(grantId),
        ]);
      }
      stats.grants_revoked += ids.length;
      grantsOf.delete(q.sub);
      return json(ctx, 200, { revoked_grants: ids.length });
    }
    if (ctx.method === 'POST' && ctx.path === '/admin/revoke-access') {
      let n = 0;
      for (const jti of accessTokensOf.get(q.sub) || []) {
        const at = await provider.AccessToken.find(jti);
        if (at) { await at.destroy(); n += 1; }
      }
      accessTokensOf.delete(q.sub);
      return json(ctx, 200, { revoked_access_tokens: n });
    }
    return json(ctx, 404, { error: 'not_found' });
  }

  if (ctx.path === '/favicon.ico') { ctx.status = 204; return undefined; } // no 404 in the browser console
  if (ctx.path === '/me') stats.userinfo += 1;
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    // devInteractions pages @import a Google Fonts stylesheet: strip it so the pages load fully offline
    await next();
    if (typeof ctx.body === 'string') ctx.body = ctx.body.replace(/@import url\([^)]*\);?/g, '');
    return undefined;
  }
  if (!(ctx.method === 'POST' && CLIENT_AUTH_ROUTES.has(ctx.path))) return next();

  // Read the form body here (oidc-provider then parses ctx.request.body instead of the consumed stream).
  const raw = await readRaw(ctx.req);
  ctx.request.body = raw;
  const form = new URLSearchParams(raw);

  // Which client authentication method did the caller really use?
  let clientId;
  let method;
  const authz = ctx.headers.authorization || '';
  if (/^basic /i.test(authz)) {
    const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
    try {
      clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, ' '));
    } catch { clientId = undefined; } // malformed: oidc-provider itself answers invalid_request
    method = 'client_secret_basic';
  } else if (form.has('client_secret')) {
    clientId = form.get('client_id');
    method = 'client_secret_post';
  }
  if (clientId) inc(stats.auth_methods, `${clientId} ${method}`);
  const registered = registeredAuth.get(clientId);
  if (registered && method !== registered) {
    return json(ctx, 401, { error: 'invalid_client', error_description: `client registered for ${registered}, request used ${method}` });
  }

  if (ctx.path === '/token/introspection') stats.introspection += 1;
  if (ctx.path === '/token/revocation') stats.revocation += 1;
  if (ctx.path === '/token') {
    const grantType = form.get('grant_type') || 'none';
    inc(stats.token_requests, grantType);
    if (knobs.token_delay_ms) await sleep(knobs.token_delay_ms);
    if (grantType === 'refresh_token' && knobs.fail_refresh && knobs.fail_count > 0) {
      knobs.fail_count -= 1;
      inc(stats.token, `refresh_token.injected_${knobs.fail_refresh}`);
      if (knobs.fail_refresh === 'invalid_grant') {
        return json(ctx, 400, { error: 'invalid_grant', error_description: 'injected failure' });
      }
      return json(ctx, 500, { error: 'server_error', error_description: 'injected failure' });
    }
  }
  return next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer} startup_ms=${Math.round(performance.now() - t0)}`);
});

const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
