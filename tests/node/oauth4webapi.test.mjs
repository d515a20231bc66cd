// tessera through oauth4webapi (v3), the low-level library under openid-client:
// discovery, the client-credentials grant with client_secret_basic and client_secret_post
// (credentials form-encoded, '-' as %2D), introspection, revocation, the refresh grant,
// the errors a client sees, and RFC 9068 access-token validation by a resource server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { oauthError, rejection, Server } from './lib/tessera.mjs';

const srv = new Server();
let as; // the authorization server metadata, as discovered
let demo; // { client, auth: { basic, post } }
let opts; // request options: our fetch

before(async () => {
  await srv.start();
  opts = { [oauth.customFetch]: srv.fetch };
  const issuer = new URL(srv.metadata.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: 'oauth2' }));
  demo = credentials('demo', await srv.demoSecret());
});
after(() => srv.stop());

function credentials(clientId, secret) {
  return {
    client: { client_id: clientId },
    basic: oauth.ClientSecretBasic(secret),
    post: oauth.ClientSecretPost(secret),
  };
}

/** A client-credentials grant; resolves the processed response or rejects with the library's error. */
async function grant(who, auth, parameters = {}) {
  const response = await oauth.clientCredentialsGrantRequest(as, who.client, who[auth], parameters, opts);
  return oauth.processClientCredentialsResponse(as, who.client, response);
}

test('oauth4webapi discoveryRequest/processDiscoveryResponse (oauth2 and oidc)', async () => {
  const issuer = new URL(srv.metadata.issuer);
  for (const algorithm of ['oauth2', 'oidc']) {
    const response = await oauth.discoveryRequest(issuer, { ...opts, algorithm });
    assert.equal(response.status, 200);
    const md = await oauth.processDiscoveryResponse(issuer, response);
    assert.equal(md.issuer, srv.metadata.issuer);
    assert.deepEqual(md, srv.metadata);
    assert.deepEqual(md.grant_types_supported.toSorted(), ['client_credentials', 'refresh_token']);
    for (const k of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) {
      assert.ok(md[k].startsWith(`${md.issuer}/`), `${k}: ${md[k]}`);
    }
    for (const k of ['introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
      assert.deepEqual(md[k].toSorted(), ['client_secret_basic', 'client_secret_post']);
    }
  }
  // Another issuer than the one asked for is refused by the library.
  const wrong = new URL(srv.metadata.issuer.replace('127.0.0.1', 'localhost'));
  const response = await oauth.discoveryRequest(wrong, { ...opts, algorithm: 'oauth2' });
  await assert.rejects(oauth.processDiscoveryResponse(wrong, response), { code: oauth.JSON_ATTRIBUTE_COMPARISON });
});

test('oauth4webapi client credentials with ClientSecretBasic and ClientSecretPost', async () => {
  for (const auth of ['basic', 'post']) {
    const t = await grant(demo, auth);
    assert.equal(t.token_type, 'bearer');
    assert.equal(t.scope, 'read');
    assert.equal(t.expires_in, 3600);
    assert.match(t.access_token, /^[A-Za-z0-9_-]{43,}$/);
    const scoped = await grant(demo, auth, { scope: 'write read' });
    assert.deepEqual(scoped.scope.split(' ').toSorted(), ['read', 'write']);
    const v = await srv.validate(scoped.access_token, { query: '?scope=write' });
    assert.equal(v.status, 200);
    assert.equal(v.body.client_id, 'demo');
  }
});

test('oauth4webapi form-encodes credentials (%2D): generated ids and secrets still work', async () => {
  // Generated client ids and secrets are base64url; rotate until both '-' and '_' occur in
  // the secret, so that the library's encoding of each (%2D, %5F) is exercised.
  const made = await srv.createClient({ scopes: ['read', 'write'], grant_types: ['client_credentials'] });
  const id = made.client_id;
  assert.match(id, /^[A-Za-z0-9_-]+$/);
  let secret = made.client_secret;
  for (let i = 0; !(secret.includes('-') && secret.includes('_')) && i < 200; i++) {
    const r = await srv.admin('POST', `/admin/clients/${encodeURIComponent(id)}/secret`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    secret = r.body.client_secret;
  }
  assert.ok(secret.includes('-') && secret.includes('_'), secret);
  const who = credentials(id, secret);
  for (const auth of ['basic', 'post']) {
    const t = await grant(who, auth, { scope: 'write' });
    assert.equal(t.scope, 'write');
    assert.equal((await srv.validate(t.access_token)).body.client_id, id);
  }
  // A chosen id with '-', '_', '.' and '~' and a chosen secret (Argon2id) with '-' too.
  const chosen = await srv.createClient({
    client_id: 'svc-node_4.web~api', client_secret: 'chosen-secret_with.punct~uation-0123456789',
    scopes: ['read'], grant_types: ['client_credentials'],
  });
  const who2 = credentials(chosen.client_id, 'chosen-secret_with.punct~uation-0123456789');
  for (const auth of ['basic', 'post']) {
    assert.equal((await grant(who2, auth)).scope, 'read');
  }
});

test('oauth4webapi surfaces invalid_client for a wrong secret (401)', async () => {
  const wrong = credentials('demo', 'not-the-secret-0123456789');
  // Basic: RFC 6749 §5.2 requires 401 with WWW-Authenticate: Basic; oauth4webapi raises
  // the challenge (WWWAuthenticateChallengeError) and leaves the JSON body to the caller.
  let err = await rejection(grant(wrong, 'basic'));
  assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, String(err));
  assert.equal(err.status, 401);
  assert.deepEqual(err.cause.map((c) => [c.scheme, c.parameters.realm]), [['basic', 'tessera']]);
  assert.equal((await oauthError(err)).error, 'invalid_client');
  // Post: 401 invalid_client (RFC 6749 §5.2 allows a challenge here too).
  err = await rejection(grant(wrong, 'post'));
  assert.equal(err.status, 401, String(err));
  assert.equal((await oauthError(err)).error, 'invalid_client');
  // An unknown client id is the same failure.
  err = await rejection(grant(credentials('no-such-client', 'x'), 'post'));
  assert.deepEqual({ ...(await oauthError(err)), challenges: undefined },
    { status: 401, error: 'invalid_client', challenges: undefined });
});

test('oauth4webapi surfaces invalid_scope, unauthorized_client and unsupported_grant_type', async () => {
  let err = await rejection(grant(demo, 'basic', { scope: 'read delete' }));
  assert.ok(err instanceof oauth.ResponseBodyError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.error, 'invalid_scope');
  assert.equal(typeof err.error_description, 'string');

  // A client without the refresh_token grant: unauthorized_client.
  const made = await srv.createClient({ scopes: ['read'], grant_types: ['client_credentials'] });
  const noRefresh = credentials(made.client_id, made.client_secret);
  const r1 = await oauth.refreshTokenGrantRequest(as, noRefresh.client, noRefresh.basic, 'anything', opts);
  err = await rejection(oauth.processRefreshTokenResponse(as, noRefresh.client, r1));
  assert.ok(err instanceof oauth.ResponseBodyError, String(err));
  assert.equal(err.error, 'unauthorized_client');

  const r2 = await oauth.genericTokenEndpointRequest(as, demo.client, demo.basic, 'password', { username: 'u', password: 'p' }, opts);
  err = await rejection(oauth.processGenericTokenEndpointResponse(as, demo.client, r2));
  assert.ok(err instanceof oauth.ResponseBodyError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.error, 'unsupported_grant_type');
});

test('oauth4webapi introspectionRequest/processIntrospectionResponse', async () => {
  const t = await grant(demo, 'post', { scope: 'read write' });
  for (const auth of ['basic', 'post']) {
    const response = await oauth.introspectionRequest(as, demo.client, demo[auth], t.access_token, opts);
    const info = await oauth.processIntrospectionResponse(as, demo.client, response);
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'demo');
    assert.equal(info.scope, 'read write');
    assert.equal(info.sub, 'demo');
    assert.equal(info.iss, as.issuer);
    assert.equal(typeof info.exp, 'number');
    assert.equal(typeof info.iat, 'number');
  }
  const hint = await oauth.introspectionRequest(as, demo.client, demo.basic, t.access_token,
    { ...opts, additionalParameters: { token_type_hint: 'access_token' } });
  assert.equal((await oauth.processIntrospectionResponse(as, demo.client, hint)).active, true);
  // The refresh token introspects too (RFC 7662 covers both kinds).
  const rt = await oauth.introspectionRequest(as, demo.client, demo.basic, t.refresh_token, opts);
  const rtInfo = await oauth.processIntrospectionResponse(as, demo.client, rt);
  assert.equal(rtInfo.active, true);
  assert.equal(rtInfo.client_id, 'demo');
  const none = await oauth.introspectionRequest(as, demo.client, demo.basic, 'unknown-token-value-0123456789', opts);
  assert.deepEqual({ ...(await oauth.processIntrospectionResponse(as, demo.client, none)) }, { active: false });
});

test('oauth4webapi revocationRequest: then 401 from /oauth2/validate on fresh connections', async () => {
  const t = await grant(demo, 'basic');
  assert.equal((await srv.validate(t.access_token)).status, 200);
  const response = await oauth.revocationRequest(as, demo.client, demo.basic, t.access_token, opts);
  assert.equal(response.status, 200);
  assert.equal(await oauth.processRevocationResponse(response), undefined);
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await srv.validate(t.access_token)).status);
  assert.deepEqual(statuses, Array(8).fill(401));
  // Unknown tokens: still 200 (RFC 7009 §2.2); with a hint, by post.
  const again = await oauth.revocationRequest(as, demo.client, demo.post, 'never-issued',
    { ...opts, additionalParameters: { token_type_hint: 'refresh_token' } });
  assert.equal(again.status, 200);
  await oauth.processRevocationResponse(again);
});

test('oauth4webapi revocation of a refresh token; refresh grant rotation', async () => {
  const t = await grant(demo, 'post', { scope: 'read write' });
  const r1 = await oauth.refreshTokenGrantRequest(as, demo.client, demo.post, t.refresh_token, opts);
  const t2 = await oauth.processRefreshTokenResponse(as, demo.client, r1);
  assert.equal(t2.scope, 'read write');
  assert.notEqual(t2.refresh_token, t.refresh_token);
  const stale = await oauth.refreshTokenGrantRequest(as, demo.client, demo.basic, t.refresh_token, opts);
  const err = await rejection(oauth.processRefreshTokenResponse(as, demo.client, stale));
  assert.equal(err.error, 'invalid_grant');
  // Another client cannot use (or revoke) demo's refresh token.
  const other = await srv.createClient({ scopes: ['read'], grant_types: ['client_credentials', 'refresh_token'] });
  const who = credentials(other.client_id, other.client_secret);
  const foreign = await oauth.refreshTokenGrantRequest(as, who.client, who.basic, t2.refresh_token, opts);
  assert.equal((await rejection(oauth.processRefreshTokenResponse(as, who.client, foreign))).error, 'invalid_grant');
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, who.client, who.basic, t2.refresh_token, opts));
  assert.equal((await srv.validate(t2.access_token)).status, 200); // still demo's
  // demo revokes it: the refresh token and its access token die.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, demo.client, demo.basic, t2.refresh_token, opts));
  const dead = await oauth.refreshTokenGrantRequest(as, demo.client, demo.basic, t2.refresh_token, opts);
  assert.equal((await rejection(oauth.processRefreshTokenResponse(as, demo.client, dead))).error, 'invalid_grant');
  assert.equal((await srv.validate(t2.access_token)).status, 401);
});

test('oauth4webapi validateJwtAccessToken (RFC 9068) accepts a JWT with an audience', async () => {
  const api = 'https://api.example.test';
  const made = await srv.createClient({
    scopes: ['read'], grant_types: ['client_credentials'], token_format: 'jwt',
    audiences: [api],
  });
  const who = credentials(made.client_id, made.client_secret);
  const t = await grant(who, 'basic', { audience: api });
  const request = new Request(`${api}/things`, { headers: { authorization: `Bearer ${t.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, api, opts);
  assert.equal(claims.iss, as.issuer);
  assert.equal(claims.sub, made.client_id);
  assert.equal(claims.client_id, made.client_id);
  assert.equal(claims.scope, 'read');
  assert.equal(claims.exp - claims.iat, t.expires_in);
  // RFC 8707 resource= is treated the same way.
  const t2 = await grant(who, 'post', { resource: api });
  const request2 = new Request(`${api}/things`, { headers: { authorization: `Bearer ${t2.access_token}` } });
  assert.equal((await oauth.validateJwtAccessToken(as, request2, api, opts)).aud, api);
  // An audience the client may not ask for.
  const err = await rejection(grant(who, 'basic', { audience: 'https://elsewhere.test' }));
  assert.ok(err instanceof oauth.ResponseBodyError, String(err));
  assert.ok(['invalid_target', 'invalid_request'].includes(err.error), err.error);
});

test('oauth4webapi validateJwtAccessToken: without a resource the JWT carries a default aud (RFC 9068 §3)', async () => {
  const api = 'https://default.example.test';
  const withAudience = await srv.createClient({
    scopes: ['read'], grant_types: ['client_credentials'], token_format: 'jwt',
    audiences: [api, 'https://second.example.test'],
  });
  const plain = await srv.createClient({
    scopes: ['read'], grant_types: ['client_credentials'], token_format: 'jwt',
  });
  for (const [made, expected] of [[withAudience, api], [plain, as.issuer]]) {
    const who = credentials(made.client_id, made.client_secret);
    const t = await grant(who, 'basic');
    const request = new Request(`${expected}/things`, { headers: { authorization: `Bearer ${t.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, expected, opts);
    assert.equal(claims.aud, expected);
  }
});
