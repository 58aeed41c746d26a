// Avow as an OpenID provider, as Entra checks it before any sign-in: the discovery document, the JWKS,
// the bare GET on the authorization endpoint. Checked twice: by the simulator's rules (what Entra
// enforces) and independently here, with node:crypto and jose.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import * as jose from 'jose';

import { SIM, closeAgents, removeTempDirs, request, run, startWorld } from './helpers.mjs';

let world;
before(async () => {
  world = await startWorld();
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

test('the discovery document passes Entra\'s checks (the simulator\'s check-provider)', async () => {
  const r = await run(SIM, [
    'check-provider', '--discovery-url', world.integration.discovery_url, '--ca-file', world.avowd.caFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.issuer, world.integration.issuer);
  assert.equal(out.authorization_endpoint, world.integration.authorize_url);
  assert.ok(out.kids.length >= 1);
});

test('the discovery document has the OpenID shape Entra requires', async () => {
  const { discovery_url: url, issuer } = world.integration;
  const res = await request(url, { ca: world.avowd.ca });
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^application\/json/);
  assert.ok(res.headers['content-length'], 'responses carry Content-Length');
  assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
  const doc = JSON.parse(res.body);

  assert.ok(url.startsWith('https://'));
  assert.ok(url.endsWith('/.well-known/openid-configuration'));
  const base = url.slice(0, -'/.well-known/openid-configuration'.length);
  assert.equal(doc.issuer, base, 'issuer = discovery base, character for character');
  assert.equal(doc.issuer, issuer);
  assert.ok(!doc.issuer.endsWith('/'));
  assert.ok(!/:443(\/|$)/.test(doc.issuer));
  assert.ok(doc.authorization_endpoint.startsWith('https://'));
  const jwksUri = new URL(doc.jwks_uri);
  assert.equal(jwksUri.protocol, 'https:');
  assert.equal(jwksUri.search, '', 'jwks_uri has no query');
  assert.ok(doc.scopes_supported.includes('openid'));
  assert.ok(doc.response_types_supported.includes('id_token'));
  assert.ok(Array.isArray(doc.subject_types_supported) && doc.subject_types_supported.length > 0);
  assert.ok(doc.id_token_signing_alg_values_supported.includes('RS256'));
  if (doc.claim_types_supported) assert.ok(doc.claim_types_supported.includes('normal'));
  if (doc.response_modes_supported) assert.ok(doc.response_modes_supported.includes('form_post'));

  // Another integration's document names its own issuer; an unknown client id has none.
  const other = await world.addIntegration();
  const otherDoc = JSON.parse((await request(other.discovery_url, { ca: world.avowd.ca })).body);
  assert.equal(otherDoc.issuer, other.issuer);
  assert.notEqual(otherDoc.issuer, doc.issuer);
  const unknownUrl = `${world.avowd.url}/entra/no-such-client/.well-known/openid-configuration`;
  const unknown = await request(unknownUrl, { ca: world.avowd.ca });
  assert.equal(unknown.status, 404);
});

test('every published key carries kty, use=sig, kid, n, e, x5c and x5t, and x5c holds the same key', async () => {
  const doc = JSON.parse((await request(world.integration.discovery_url, { ca: world.avowd.ca })).body);
  const res = await request(doc.jwks_uri, { ca: world.avowd.ca });
  assert.equal(res.status, 200);
  assert.ok(res.headers['content-length']);
  const jwks = JSON.parse(res.body);
  assert.ok(jwks.keys.length >= 1);
  const kids = new Set();
  for (const k of jwks.keys) {
    assert.equal(k.kty, 'RSA');
    assert.equal(k.use, 'sig');
    assert.ok(k.kid && !kids.has(k.kid), 'unique kid');
    kids.add(k.kid);
    if (k.alg) assert.equal(k.alg, 'RS256');
    assert.equal(k.d, undefined, 'no private members');
    assert.ok(Array.isArray(k.x5c) && k.x5c.length >= 1);
    const der = Buffer.from(k.x5c[0], 'base64');
    assert.equal(k.x5t, createHash('sha1').update(der).digest('base64url'), 'x5t = base64url SHA-1 of x5c[0]');
    const cert = new X509Certificate(der);
    const certKey = cert.publicKey.export({ format: 'jwk' });
    assert.equal(certKey.n, k.n, 'the certificate holds the published modulus');
    assert.equal(certKey.e, k.e);
    assert.ok(new Date(cert.validTo) > new Date(), 'certificate not expired');
    // jose reads the key both ways.
    await jose.importJWK(k, 'RS256');
    await jose.importX509(cert.toString(), 'RS256');
    assert.equal(createPublicKey({ key: k, format: 'jwk' }).asymmetricKeyType, 'rsa');
  }
  jose.createLocalJWKSet(jwks);
  // The integration's jwks_uri and the server-wide set agree.
  const serverWideRes = await request(`${world.avowd.url}/.well-known/jwks.json`, { ca: world.avowd.ca });
  const serverWide = JSON.parse(serverWideRes.body);
  assert.deepEqual(serverWide.keys.map((k) => k.kid).sort(), [...kids].sort());
});

test('a bare GET on the authorization endpoint answers 200 (else Entra shows the method as "Non-usable")', async () => {
  const res = await request(world.integration.authorize_url, { ca: world.avowd.ca });
  assert.equal(res.status, 200);
  assert.ok(res.headers['content-length']);
  assert.match(res.headers['content-type'], /^text\/html/);
  const head = await request(world.integration.authorize_url, { method: 'HEAD', ca: world.avowd.ca });
  assert.equal(head.status, 200);
});
