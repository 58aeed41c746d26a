// The Entra simulator on its own: what it serves, what it mints, what its receiver says. Needs only
// AVOW_SIM_BIN.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';

import {
  MS_CC_REDIRECT,
  MS_EAM_REDIRECT,
  SIM,
  closeAgents,
  decodeJwt,
  formEncode,
  makeTempDir,
  removeTempDirs,
  request,
  requireBinaries,
  run,
  startSim,
} from './helpers.mjs';

requireBinaries('AVOW_SIM_BIN');
after(async () => {
  closeAgents();
  await removeTempDirs();
});

const DIR = '3c9f6a0e-6a47-4a5f-9d10-5a4a1b2c3d4e';
const APP = randomUUID();

test('serve prints one JSON line and publishes a key whose kid survives a restart', async () => {
  const stateDir = await makeTempDir('avow-sim-state-');
  const sim = await startSim({ stateDir });
  let kid;
  try {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sim.port, Number(new URL(sim.url).port));
    assert.equal(sim.keys_url, `${sim.url}/common/discovery/v2.0/keys`);
    assert.equal(sim.redirect_uri, `${sim.url}/federation/externalauthprovider`);
    assert.equal(sim.tls, false);
    const res = await request(sim.keys_url);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    const jwks = JSON.parse(res.body);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, 'RSA');
    assert.equal(jwks.keys[0].kid, sim.kid);
    assert.equal(jwks.keys[0].d, undefined, 'no private members');
    kid = sim.kid;
    // The per-tenant spelling serves the same keys.
    const perTenant = await request(`${sim.url}/${DIR}/discovery/v2.0/keys`);
    assert.deepEqual(JSON.parse(perTenant.body), jwks);
  } finally {
    assert.equal((await sim.stop()).code, 0);
  }
  const again = await startSim({ stateDir });
  try {
    assert.equal(again.kid, kid, 'the key is kept in the state directory');
  } finally {
    await again.stop();
  }
});

test('mint (CLI and HTTP) issues hints as Microsoft does: RS256, kid, already expired, both issuers', async () => {
  const stateDir = await makeTempDir('avow-sim-state-');
  const sim = await startSim({ stateDir });
  try {
    const keys = jose.createLocalJWKSet(await sim.keys());
    const oid = randomUUID();
    const cli = await run(SIM, ['mint', '--state-dir', stateDir, '--directory-id', DIR, '--oid', oid, '--aud', APP]);
    assert.equal(cli.code, 0, cli.stderr);
    const hint = cli.stdout.trim();
    const { payload, protectedHeader } = await jose.compactVerify(hint, keys);
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(protectedHeader.kid, sim.kid);
    const claims = JSON.parse(Buffer.from(payload));
    assert.equal(claims.iss, `https://login.microsoftonline.com/${DIR}/v2.0`);
    assert.equal(claims.ver, '2.0');
    assert.equal(claims.tid, DIR);
    assert.equal(claims.oid, oid);
    assert.equal(claims.aud, APP);
    assert.ok(claims.exp < claims.iat, 'issued already expired');
    assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60);

    const v1 = await run(SIM, ['mint', '--state-dir', stateDir, '--directory-id', DIR, '--aud', APP, '--v1']);
    assert.equal(v1.code, 0, v1.stderr);
    const c1 = decodeJwt(v1.stdout.trim()).payload;
    assert.equal(c1.iss, `https://sts.windows.net/${DIR}/`);
    assert.equal(c1.ver, '1.0');
    assert.ok(c1.upn);

    const guestTenant = randomUUID();
    const viaHttp = await sim.mint({ directory_id: DIR, tid: guestTenant, aud: APP, kid: 'rolled-key', iat: 1000 });
    const h = decodeJwt(viaHttp);
    assert.equal(h.header.kid, 'rolled-key');
    assert.equal(h.payload.tid, guestTenant);
    assert.equal(h.payload.iss, `https://login.microsoftonline.com/${DIR}/v2.0`, 'the issuer names the directory');
    assert.equal(h.payload.iat, 1000);

    const bad = await request(`${sim.url}/mint`, { method: 'POST', body: JSON.stringify({ aud: APP }) });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message ?? JSON.parse(bad.body).error_description ?? '', /directory_id/);

    const missing = await run(SIM, ['mint', '--state-dir', stateDir, '--aud', APP]);
    assert.equal(missing.code, 2, 'usage error without --directory-id');
  } finally {
    await sim.stop();
  }
});

test('form prints the authorize body Entra sends, for both flavours', async () => {
  const stateDir = await makeTempDir('avow-sim-state-');
  const eam = await run(SIM, [
    'form', '--client-id', 'cid', '--state-dir', stateDir, '--directory-id', DIR, '--aud', APP,
    '--nonce', 'n-1', '--state', 's-1',
  ]);
  assert.equal(eam.code, 0, eam.stderr);
  const f = new URLSearchParams(eam.stdout.trim());
  assert.equal(f.get('scope'), 'openid');
  assert.equal(f.get('response_type'), 'id_token');
  assert.equal(f.get('response_mode'), 'form_post');
  assert.equal(f.get('client_id'), 'cid');
  assert.equal(f.get('redirect_uri'), MS_EAM_REDIRECT);
  assert.equal(f.get('nonce'), 'n-1');
  assert.equal(f.get('state'), 's-1');
  const claims = JSON.parse(f.get('claims'));
  assert.deepEqual(claims.id_token.acr, { essential: true, values: ['possessionorinherence'] });
  assert.ok(claims.id_token.amr.values.includes('swk'));
  assert.equal(decodeJwt(f.get('id_token_hint')).payload.aud, APP);

  const cc = await run(SIM, [
    'form', '--client-id', 'cid', '--state-dir', stateDir, '--directory-id', DIR, '--aud', APP,
    '--custom-control', '--json',
  ]);
  assert.equal(cc.code, 0, cc.stderr);
  const j = JSON.parse(cc.stdout);
  assert.equal(j.redirect_uri, MS_CC_REDIRECT);
  assert.deepEqual(JSON.parse(j.claims), { id_token: { AvowMfa: { essential: true, value: 'MfaDone' } } });
  assert.equal(decodeJwt(j.id_token_hint).payload.ver, '1.0', 'custom controls get v1 hints');

  const given = await run(SIM, [
    'form', '--client-id', 'cid', '--hint', 'a.b.c', '--no-state', '--redirect-uri', 'https://x.example/cb',
  ]);
  const g = new URLSearchParams(given.stdout.trim());
  assert.equal(g.get('id_token_hint'), 'a.b.c');
  assert.equal(g.get('state'), null);
  assert.equal(g.get('redirect_uri'), 'https://x.example/cb');

  const none = await run(SIM, ['form', '--client-id', 'cid']);
  assert.equal(none.code, 2, 'a hint, or what to mint one from, is required');
});

test('the receiver judges answers per state, once; results are JSON', async () => {
  const sim = await startSim();
  try {
    assert.equal(await sim.result('nope'), null);
    const unknown = await sim.deliver({ action: sim.redirect_uri, fields: { id_token: 'a.b.c', state: 'nope' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /data-outcome="unknown_state"/);

    const flow = await sim.flow({
      discovery_url: 'https://127.0.0.1:9/entra/cid/.well-known/openid-configuration',
      client_id: 'cid',
      app_id: APP,
      directory_id: DIR,
    });
    assert.equal(flow.redirect_uri, sim.redirect_uri);
    assert.equal(flow.fields.state, flow.state);
    assert.equal(flow.fields.nonce, flow.nonce);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(flow.body)), flow.fields);
    assert.equal(decodeJwt(flow.hint).payload.sub, flow.sub);

    const denied = await sim.deliver({
      action: sim.redirect_uri,
      fields: { error: 'access_denied', error_description: 'The user denied the sign-in.', state: flow.state },
    });
    assert.equal(denied.status, 200);
    assert.equal(denied.verdict.outcome, 'provider_error');
    assert.equal(denied.verdict.error, 'access_denied');

    const replay = await sim.deliver({
      action: sim.redirect_uri,
      fields: { error: 'access_denied', state: flow.state },
    });
    assert.equal(replay.status, 400, 'a state is answered once');
    assert.match(replay.body, /answered already/);

    // An id_token from a provider Entra cannot reach is rejected, naming the discovery document.
    const flow2 = await sim.flow({
      discovery_url: 'https://127.0.0.1:9/entra/cid/.well-known/openid-configuration',
      client_id: 'cid',
      directory_id: DIR,
    });
    const unreachable = await sim.deliver({
      action: sim.redirect_uri,
      fields: { id_token: 'a.b.c', state: flow2.state },
    });
    assert.equal(unreachable.status, 400);
    assert.equal(unreachable.verdict.outcome, 'rejected');
    assert.match(unreachable.verdict.error_description, /discovery/);

    // And one with no id_token at all is AADSTS900144.
    const flow3 = await sim.flow({
      discovery_url: 'https://h.example/.well-known/openid-configuration',
      client_id: 'c',
      directory_id: DIR,
    });
    const empty = await sim.deliver({ action: sim.redirect_uri, fields: { state: flow3.state } });
    assert.match(empty.verdict.error_description, /AADSTS900144/);
  } finally {
    await sim.stop();
  }
});

test('the demo page is a labelled look-alike with the sign-in form', async () => {
  const sim = await startSim();
  try {
    const res = await request(`${sim.url}/?client_id=abc%22%3E`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.body, /simulator/i);
    assert.match(res.body, /not Microsoft/);
    assert.match(res.body, /<form method="post" action="\/start">/);
    for (const name of ['discovery_url', 'client_id', 'app_id', 'directory_id', 'user', 'flavor'])
      assert.match(res.body, new RegExp(`name="${name}"`));
    assert.match(res.body, /value="abc&quot;&gt;"/, 'query values are escaped');
    assert.match(res.headers['content-security-policy'], /default-src 'none'/);

    // A provider whose discovery document cannot be read is reported, not followed.
    const start = await request(`${sim.url}/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: formEncode({
        discovery_url: 'https://127.0.0.1:9/x/.well-known/openid-configuration',
        client_id: 'c', app_id: APP, directory_id: DIR, user: 'member', flavor: 'eam',
      }),
    });
    assert.equal(start.status, 400);
    assert.match(start.body, /discovery document/);
  } finally {
    await sim.stop();
  }
});

test('--tls-dev serves HTTPS with a certificate kept in the state directory', async () => {
  const sim = await startSim({ tlsDev: true });
  try {
    assert.match(sim.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sim.tls, true);
    assert.ok(sim.ca_file.startsWith(sim.stateDir));
    const res = await request(sim.keys_url, { ca: sim.ca });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).keys[0].kid, sim.kid);
  } finally {
    await sim.stop();
  }
});
