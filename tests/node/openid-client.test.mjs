// tessera through openid-client (v6): discovery, the client-credentials grant with
// client_secret_basic and client_secret_post, scope, introspection, revocation and the
// refresh grant, as an application using the library would call them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { oauthError, rejection, Server } from './lib/tessera.mjs';

const srv = new Server();
let demoSecret;

before(async () => {
  await srv.start();
  demoSecret = await srv.demoSecret();
});
after(() => srv.stop());

/** A Configuration found by discovery, for clientId, authenticating with auth. */
function discover(clientId, auth, options = {}) {
  return client.discovery(new URL(srv.url), clientId, undefined, auth,
    { [client.customFetch]: srv.fetch, ...options });
}

test('openid-client discovery: issuer is byte for byte the metadata issuer', async () => {
  const raw = {};
  for (const doc of ['oauth-authorization-server', 'openid-configuration']) {
    const r = await srv.fetch(`${srv.url}/.well-known/${doc}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    raw[doc] = JSON.parse(await r.text());
  }
  assert.deepEqual(raw['openid-configuration'], raw['oauth-authorization-server']);
  for (const algorithm of ['oidc', 'oauth2']) {
    const config = await discover('demo', client.ClientSecretBasic(demoSecret), { algorithm });
    const md = config.serverMetadata();
    assert.equal(md.issuer, raw['oauth-authorization-server'].issuer);
    assert.equal(md.token_endpoint, `${md.issuer}/oauth2/token`);
    assert.equal(md.introspection_endpoint, `${md.issuer}/oauth2/introspect`);
    assert.equal(md.revocation_endpoint, `${md.issuer}/oauth2/revoke`);
    assert.equal(md.jwks_uri, `${md.issuer}/oauth2/jwks`);
    assert.ok(md.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(md.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.deepEqual(md.response_types_supported, []);
  }
});

test('openid-client clientCredentialsGrant with ClientSecretBasic', async () => {
  const config = await discover('demo', client.ClientSecretBasic(demoSecret));
  const tokens = await client.clientCredentialsGrant(config);
  assert.equal(typeof tokens.access_token, 'string');
  assert.match(tokens.access_token, /^[A-Za-z0-9_-]{43,}$/); // opaque, >= 256 bits, base64url
  assert.equal(tokens.token_type, 'bearer'); // the library lower-cases "Bearer"
  assert.equal(tokens.scope, 'read'); // the client's default scopes
  assert.equal(tokens.expires_in, 3600);
  assert.ok(tokens.expiresIn() > 3500 && tokens.expiresIn() <= 3600);
  assert.equal(typeof tokens.refresh_token, 'string'); // the demo client has refresh on
  const v = await srv.validate(tokens.access_token);
  assert.equal(v.status, 200);
  assert.equal(v.body.active, true);
  assert.equal(v.body.client_id, 'demo');
  assert.equal(v.body.scope, 'read');
});

test('openid-client clientCredentialsGrant with ClientSecretPost and a scope', async () => {
  const config = await discover('demo', client.ClientSecretPost(demoSecret));
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read write' });
  assert.equal(tokens.scope, 'read write');
  const one = await client.clientCredentialsGrant(config, { scope: 'write' });
  assert.equal(one.scope, 'write');
  const v = await srv.validate(tokens.access_token, { query: '?scope=read%20write' });
  assert.equal(v.status, 200);
  assert.equal(v.headers.get('tessera-client-id'), 'demo');
});

test('openid-client with generated credentials containing - and _ (Basic and post)', async () => {
  // A chosen id with '-' and '_'; a generated secret rotated until it has a '-' too, so
  // that the library's form-encoding (%2D, %5F) must be decoded by the server.
  const id = 'node-oc_client';
  let secret = (await srv.createClient({
    client_id: id, scopes: ['read'], grant_types: ['client_credentials'],
  })).client_secret;
  for (let i = 0; !secret.includes('-') && i < 64; i++) {
    const r = await srv.admin('POST', `/admin/clients/${id}/secret`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    secret = r.body.client_secret;
  }
  assert.ok(secret.includes('-'), secret);
  for (const auth of [client.ClientSecretBasic(secret), client.ClientSecretPost(secret)]) {
    const config = await discover(id, auth);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
    assert.equal(tokens.scope, 'read');
    assert.equal((await srv.validate(tokens.access_token)).body.client_id, id);
  }
});

test('openid-client surfaces invalid_client and invalid_scope', async () => {
  // Basic: 401 with WWW-Authenticate: Basic, as RFC 6749 §5.2 requires; the library raises
  // the challenge, and the body still says invalid_client.
  const basic = await discover('demo', client.ClientSecretBasic(`${demoSecret}x`));
  let err = await rejection(client.clientCredentialsGrant(basic));
  assert.ok(err instanceof client.WWWAuthenticateChallengeError, String(err));
  assert.equal(err.cause[0].scheme, 'basic');
  assert.deepEqual(await oauthError(err), { status: 401, error: 'invalid_client', challenges: err.cause });

  const post = await discover('demo', client.ClientSecretPost(`${demoSecret}x`));
  err = await rejection(client.clientCredentialsGrant(post));
  const e = await oauthError(err);
  assert.equal(e.status, 401);
  assert.equal(e.error, 'invalid_client');

  const unknown = await discover('no-such-client', client.ClientSecretPost(demoSecret));
  assert.equal((await oauthError(await rejection(client.clientCredentialsGrant(unknown)))).error,
    'invalid_client');

  const good = await discover('demo', client.ClientSecretPost(demoSecret));
  err = await rejection(client.clientCredentialsGrant(good, { scope: 'read admin' }));
  assert.ok(err instanceof client.ResponseBodyError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.error, 'invalid_scope');
});

test('openid-client tokenIntrospection (own token and a can_introspect client)', async () => {
  const config = await discover('demo', client.ClientSecretBasic(demoSecret));
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read write' });
  const now = Math.floor(Date.now() / 1000);
  const own = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(own.active, true);
  assert.equal(own.client_id, 'demo');
  assert.equal(own.scope, 'read write');
  assert.equal(own.iss, srv.metadata.issuer);
  assert.ok(Math.abs(own.iat - now) <= 5, `iat ${own.iat} now ${now}`);
  assert.equal(own.exp - own.iat, 3600);
  if (own.token_type !== undefined) assert.match(own.token_type, /^bearer$/i);

  const rs = await srv.createClient({
    name: 'resource server', scopes: ['read'], grant_types: ['client_credentials'],
    can_introspect: true,
  });
  const rsConfig = await discover(rs.client_id, client.ClientSecretPost(rs.client_secret));
  const seen = await client.tokenIntrospection(rsConfig, tokens.access_token, { token_type_hint: 'access_token' });
  assert.equal(seen.active, true);
  assert.equal(seen.client_id, 'demo');
  assert.equal(seen.scope, 'read write');

  const unknown = await client.tokenIntrospection(rsConfig, 'no-such-token-0123456789abcdefghijklmnop');
  assert.deepEqual({ ...unknown }, { active: false });
});

test('openid-client tokenRevocation: the token fails validation on every connection', async () => {
  const config = await discover('demo', client.ClientSecretBasic(demoSecret));
  const tokens = await client.clientCredentialsGrant(config);
  assert.equal((await srv.validate(tokens.access_token)).status, 200);
  assert.equal(await client.tokenRevocation(config, tokens.access_token), undefined);
  for (let i = 0; i < 8; i++) { // new TLS connections, spread over both workers
    const v = await srv.validate(tokens.access_token);
    assert.equal(v.status, 401, `connection ${i}: ${v.status}`);
    assert.match(v.headers.get('www-authenticate'), /^Bearer\b.*error="invalid_token"/);
  }
  assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
  // Revoking again, or revoking garbage, still answers 200 (RFC 7009 §2.2).
  await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
  await client.tokenRevocation(config, 'never-issued-token');
});

test('openid-client refreshTokenGrant rotates the refresh token', async () => {
  const config = await discover('demo', client.ClientSecretBasic(demoSecret));
  const first = await client.clientCredentialsGrant(config, { scope: 'read write' });
  assert.equal(typeof first.refresh_token, 'string');
  const second = await client.refreshTokenGrant(config, first.refresh_token);
  assert.notEqual(second.access_token, first.access_token);
  assert.equal(typeof second.refresh_token, 'string');
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.equal(second.scope, 'read write');
  assert.equal(second.token_type, 'bearer');
  assert.equal((await srv.validate(second.access_token)).status, 200);
  // The old refresh token stopped working (rotation).
  await assert.rejects(client.refreshTokenGrant(config, first.refresh_token), (err) => {
    assert.ok(err instanceof client.ResponseBodyError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.error, 'invalid_grant');
    return true;
  });
  // Revoking the refresh token also revokes the access tokens issued from it.
  await client.tokenRevocation(config, second.refresh_token, { token_type_hint: 'refresh_token' });
  await assert.rejects(client.refreshTokenGrant(config, second.refresh_token), { error: 'invalid_grant' });
  assert.equal((await srv.validate(second.access_token)).status, 401);
});
