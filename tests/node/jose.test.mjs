// tessera's JWT access tokens (RFC 9068) checked with jose (v6) as a resource server
// would: the keys from jwks_uri through createRemoteJWKSet, jwtVerify with the issuer of
// the metadata, typ at+jwt and the claims; ES256, EdDSA and RS256; key rotation; and
// revocation of a JWT through openid-client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as client from 'openid-client';
import { Server } from './lib/tessera.mjs';

const srv = new Server();
const API = 'https://api.example.test';
const clients = {}; // alg -> { id, secret }

before(async () => {
  await srv.start();
  clients.ES256 = { id: 'demo-jwt', secret: await srv.demoSecret('demo-jwt-client.secret') };
  for (const alg of ['EdDSA', 'RS256']) {
    const made = await srv.createClient({
      name: `node ${alg}`, scopes: ['read', 'write'], default_scopes: ['read'],
      audiences: [API, 'urn:example:other'], grant_types: ['client_credentials'],
      token_format: 'jwt', jwt_alg: alg, access_token_ttl: 600,
    });
    clients[alg] = { id: made.client_id, secret: made.client_secret };
  }
});
after(() => srv.stop());

function jwks(options = {}) {
  return jose.createRemoteJWKSet(new URL(srv.metadata.jwks_uri), { [jose.customFetch]: srv.fetch, ...options });
}

/** A token answer for the client of alg, through openid-client (client_secret_basic). */
async function token(alg, parameters = {}) {
  const { id, secret } = clients[alg];
  const config = await client.discovery(new URL(srv.url), id, undefined,
    client.ClientSecretBasic(secret), { [client.customFetch]: srv.fetch });
  return client.clientCredentialsGrant(config, parameters);
}

async function verify(jwt, keySet, alg, extra = {}) {
  return jose.jwtVerify(jwt, keySet, {
    issuer: srv.metadata.issuer, typ: 'at+jwt', algorithms: [alg],
    requiredClaims: ['iss', 'sub', 'client_id', 'scope', 'iat', 'exp', 'jti'], ...extra,
  });
}

test('jose: the JWKS of jwks_uri publishes ES256, EdDSA and RS256 signing keys', async () => {
  const r = await srv.fetch(srv.metadata.jwks_uri);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/(jwk-set\+)?json/);
  const { keys } = await r.json();
  const kids = keys.map((k) => k.kid);
  assert.equal(new Set(kids).size, kids.length, 'kids are unique');
  assert.deepEqual(keys.map((k) => k.alg).toSorted(), ['ES256', 'EdDSA', 'RS256']);
  for (const k of keys) {
    assert.equal(k.use, 'sig');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, `private ${priv}`);
    // Each public key imports as a key of its alg.
    await jose.importJWK(k, k.alg);
  }
});

test('jose jwtVerify: an ES256 token of demo-jwt', async () => {
  const before = Math.floor(Date.now() / 1000);
  const t = await token('ES256');
  const { payload, protectedHeader } = await verify(t.access_token, jwks(), 'ES256');
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(typeof protectedHeader.kid, 'string');
  assert.equal(payload.iss, srv.metadata.issuer); // byte for byte
  assert.equal(payload.sub, 'demo-jwt');
  assert.equal(payload.client_id, 'demo-jwt');
  assert.equal(payload.scope, 'read');
  assert.equal(payload.scope, t.scope);
  assert.ok(payload.iat >= before - 5 && payload.iat <= before + 5, `iat ${payload.iat}`);
  assert.equal(payload.exp - payload.iat, t.expires_in);
  assert.match(payload.jti, /^[A-Za-z0-9_-]{16,}$/);
  const again = await token('ES256', { scope: 'read write' });
  const second = await verify(again.access_token, jwks(), 'ES256');
  assert.notEqual(second.payload.jti, payload.jti);
  assert.equal(second.payload.scope, 'read write');
});

for (const alg of ['EdDSA', 'RS256']) {
  test(`jose jwtVerify: an ${alg} token with an audience (admin-API client)`, async () => {
    const { id } = clients[alg];
    const t = await token(alg, { audience: API, scope: 'write' });
    const keySet = jwks();
    const { payload, protectedHeader } = await verify(t.access_token, keySet, alg, { audience: API });
    assert.equal(protectedHeader.alg, alg);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.deepEqual([payload.aud].flat(), [API]);
    assert.equal(payload.sub, id);
    assert.equal(payload.client_id, id);
    assert.equal(payload.scope, 'write');
    assert.equal(payload.exp - payload.iat, 600);
    assert.equal(t.expires_in, 600);
    // jose refuses it for another audience, or another issuer.
    await assert.rejects(verify(t.access_token, keySet, alg, { audience: 'urn:example:other' }),
      { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
    await assert.rejects(verify(t.access_token, keySet, alg, { issuer: `${srv.metadata.issuer}/` }),
      { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
    // The other allowed audience; no audience at all.
    const other = await token(alg, { audience: 'urn:example:other' });
    assert.deepEqual([(await verify(other.access_token, keySet, alg, { audience: 'urn:example:other' })).payload.aud].flat(),
      ['urn:example:other']);
    const plain = await token(alg);
    assert.equal((await verify(plain.access_token, keySet, alg)).payload.scope, 'read');
  });
}

test('jose: after POST /admin/keys/rotate new tokens carry new kids; old and new verify', async () => {
  const longLived = jwks({ cooldownDuration: 0 }); // refetches when it meets an unknown kid
  const old = {};
  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    old[alg] = (await token(alg)).access_token;
    await verify(old[alg], longLived, alg);
  }
  const r = await srv.admin('POST', '/admin/keys/rotate');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const published = (await (await srv.fetch(srv.metadata.jwks_uri)).json()).keys.map((k) => k.kid);
  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    const fresh = (await token(alg)).access_token;
    const oldKid = jose.decodeProtectedHeader(old[alg]).kid;
    const newKid = jose.decodeProtectedHeader(fresh).kid;
    assert.notEqual(newKid, oldKid, alg);
    assert.ok(published.includes(oldKid) && published.includes(newKid), alg);
    // A resource server that starts now, and one that cached the JWKS before the rotation.
    for (const keySet of [jwks(), longLived]) {
      assert.equal((await verify(old[alg], keySet, alg)).protectedHeader.kid, oldKid);
      assert.equal((await verify(fresh, keySet, alg)).protectedHeader.kid, newKid);
    }
    assert.equal((await srv.validate(old[alg])).status, 200);
    assert.equal((await srv.validate(fresh)).status, 200);
  }
});

test('jose + openid-client: a revoked JWT fails /oauth2/validate on fresh connections', async () => {
  const { id, secret } = clients.ES256;
  const config = await client.discovery(new URL(srv.url), id, undefined,
    client.ClientSecretPost(secret), { [client.customFetch]: srv.fetch });
  const t = await client.clientCredentialsGrant(config, { scope: 'write' });
  const { payload } = await verify(t.access_token, jwks(), 'ES256');
  const info = await client.tokenIntrospection(config, t.access_token);
  assert.equal(info.active, true);
  assert.equal(info.jti, payload.jti);
  assert.equal(info.sub, 'demo-jwt');
  await client.tokenRevocation(config, t.access_token);
  for (let i = 0; i < 8; i++) {
    const v = await srv.validate(t.access_token);
    assert.equal(v.status, 401, `connection ${i}`);
  }
  assert.equal((await client.tokenIntrospection(config, t.access_token)).active, false);
  // The signature itself stays valid: revocation is the server's record of the jti.
  await verify(t.access_token, jwks(), 'ES256');
});
