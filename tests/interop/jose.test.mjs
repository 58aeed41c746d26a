// Interoperability of Avow's JOSE (avow_crypto, through tests/interop/jose_tool) with `jose` (npm, ^5).
// Run: AVOW_JOSE_TOOL=/abs/path/to/jose_tool node --test tests/interop/jose.test.mjs
// (CTest does this: `ctest -L interop`.) Works on Node 18 and 20.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as jose from 'jose';

const TOOL = process.env.AVOW_JOSE_TOOL;
if (!TOOL || !path.isAbsolute(TOOL)) {
  throw new Error('set AVOW_JOSE_TOOL to the absolute path of the jose_tool binary');
}

const work = mkdtempSync(path.join(tmpdir(), 'avow-jose-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function tool(...args) {
  const r = spawnSync(TOOL, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function claims() {
  const now = Math.floor(Date.now() / 1000);
  return { iss: 'https://avow.test', aud: 'client-1', sub: 'user-1', nonce: 'n-0S6_WzA2Mj', iat: now, exp: now + 600 };
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Signs with a fresh jose key pair and returns the token and the path of a JWKS file holding its public key.
async function joseSigned(alg, kid) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
  const jwksFile = path.join(work, `${kid}.json`);
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const token = await new jose.SignJWT(claims()).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(privateKey);
  return { token, jwksFile, jwk, publicKey };
}

for (const alg of ['RS256', 'ES256']) {
  test(`jose verifies an Avow ${alg} token with createLocalJWKSet`, async () => {
    const c = claims();
    const r = tool('sign', '--alg', alg, '--payload', JSON.stringify(c));
    assert.equal(r.code, 0, r.stderr);
    const { token, jwks } = JSON.parse(r.stdout);
    const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
      algorithms: [alg],
      issuer: c.iss,
      audience: c.aud,
    });
    assert.deepEqual(payload, c);
    assert.equal(protectedHeader.alg, alg);
    assert.equal(protectedHeader.typ, 'JWT');
    assert.equal(protectedHeader.kid, jwks.keys[0].kid);
    // Avow's kid is the RFC 7638 thumbprint, which jose computes the same way.
    assert.equal(await jose.calculateJwkThumbprint(jwks.keys[0]), jwks.keys[0].kid);
    if (alg === 'ES256') assert.equal(Buffer.from(token.split('.')[2], 'base64url').length, 64);
  });

  test(`Avow verifies a jose ${alg} token`, async () => {
    const { token, jwksFile } = await joseSigned(alg, `jose-${alg}`);
    const r = tool('verify', '--jwks', jwksFile, '--token', token);
    assert.equal(r.code, 0, r.stdout);
    const payload = JSON.parse(r.stdout);
    assert.equal(payload.sub, 'user-1');
    assert.equal(payload.nonce, 'n-0S6_WzA2Mj');
  });

  test(`Avow rejects a jose ${alg} token whose payload was altered`, async () => {
    const { token, jwksFile } = await joseSigned(alg, `tamper-${alg}`);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64url(JSON.stringify({ ...claims(), sub: 'admin' }))}.${s}`;
    const r = tool('verify', '--jwks', jwksFile, '--token', forged);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /unauthenticated: .*signature does not verify/);
  });
}

test('Avow rejects alg confusion: HS256 keyed with the RSA public key', async () => {
  const { jwksFile, publicKey } = await joseSigned('RS256', 'confused');
  const secrets = [
    Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })),
    Buffer.from(publicKey.export({ type: 'spki', format: 'der' })),
    Buffer.from(publicKey.export({ type: 'pkcs1', format: 'pem' })),
  ];
  for (const secret of secrets) {
    const token = await new jose.SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', kid: 'confused', typ: 'JWT' })
      .sign(new Uint8Array(secret));
    const r = tool('verify', '--jwks', jwksFile, '--token', token);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /unauthenticated: .*alg "HS256" does not match the RS256 key/);
  }
});

test('Avow rejects alg "none"', async () => {
  const { jwksFile } = await joseSigned('RS256', 'none-key');
  const unsecured = new jose.UnsecuredJWT(claims()).encode();  // header.payload. (empty signature)
  let r = tool('verify', '--jwks', jwksFile, '--token', unsecured);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /invalid_argument: .*empty segment/);
  // With a kid and a dummy signature it reaches the alg check.
  const [, p] = unsecured.split('.');
  const withKid = `${b64url(JSON.stringify({ alg: 'none', kid: 'none-key' }))}.${p}.${b64url('sig')}`;
  r = tool('verify', '--jwks', jwksFile, '--token', withKid);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /unauthenticated: .*alg "none"/);
});

test('Avow rejects RS256 presented against an EC key of the same kid', async () => {
  const ec = await joseSigned('ES256', 'mixed');
  const rsa = await jose.generateKeyPair('RS256');
  const token = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'mixed' }).sign(rsa.privateKey);
  const r = tool('verify', '--jwks', ec.jwksFile, '--token', token);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /alg "RS256" does not match the ES256 key/);
});

test('the key ring JWKS has the shape Entra needs: x5c matching n/e, x5t = SHA-1 of the DER', async () => {
  const dir = path.join(work, 'ring');
  let r = tool('keyring-jwks', '--dir', dir);
  assert.equal(r.code, 0, r.stderr);
  const first = JSON.parse(r.stdout);
  assert.equal(first.jwks.keys.length, 2);  // active + next

  r = tool('keyring-jwks', '--dir', dir, '--rotate');
  assert.equal(r.code, 0, r.stderr);
  const second = JSON.parse(r.stdout);
  assert.equal(second.jwks.keys.length, 3);  // active + next + retired
  assert.notEqual(second.active_kid, first.active_kid);
  assert.ok(second.jwks.keys.some((k) => k.kid === first.active_kid), 'retired key still published');

  for (const k of second.jwks.keys) {
    for (const m of ['kty', 'use', 'alg', 'kid', 'n', 'e', 'x5c', 'x5t']) assert.ok(m in k, `missing ${m}`);
    assert.equal(k.kty, 'RSA');
    assert.equal(k.use, 'sig');
    assert.equal(k.alg, 'RS256');
    assert.equal(k.d, undefined);
    const der = Buffer.from(k.x5c[0], 'base64');
    const cert = new X509Certificate(der);
    assert.equal(cert.subject, 'CN=Avow signing key');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const certJwk = cert.publicKey.export({ format: 'jwk' });
    assert.equal(certJwk.n, k.n);
    assert.equal(certJwk.e, k.e);
    assert.equal(k.x5t, b64url(createHash('sha1').update(der).digest()));
    assert.equal(await jose.calculateJwkThumbprint(k), k.kid);
    // The JWK itself imports as the same key.
    const imported = createPublicKey({ key: k, format: 'jwk' });
    assert.equal(imported.export({ format: 'jwk' }).n, k.n);
  }

  // Tokens from before and after the rotation both verify against the published set.
  const set = jose.createLocalJWKSet(second.jwks);
  const before = await jose.jwtVerify(first.token, set, { algorithms: ['RS256'] });
  assert.equal(before.protectedHeader.kid, first.active_kid);
  const after = await jose.jwtVerify(second.token, set, { algorithms: ['RS256'] });
  assert.equal(after.protectedHeader.kid, second.active_kid);
  assert.equal(after.payload.sub, 'keyring');
});
