// Every malformed or forged authorize request is refused with HTTP 400 JSON {"error":"invalid_request"}
// and nothing is posted anywhere (no form_post page, no flow cookie): one test per rule of the contract
// (shared/reference/entra-protocol.md §2). A refused *user* (a guest the integration does not admit) is
// different: that answer is a form_post error=access_denied back to Entra.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';

import {
  MS_CC_REDIRECT,
  MS_EAM_REDIRECT,
  closeAgents,
  decodeJwt,
  formEncode,
  newUser,
  removeTempDirs,
  request,
  startWorld,
} from './helpers.mjs';

let world;
before(async () => {
  world = await startWorld();
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

// A fresh sign-in as Entra starts it (its own nonce, so replay protection never confounds a case).
async function freshFlow(overrides = {}, integration = world.integration) {
  return world.sim.flow(world.flowSpec(newUser(), overrides, integration));
}

// Asserts the answer refuses the request without posting anything.
function assertRefused(res, what, pattern) {
  assert.equal(res.status, 400, `${what}: status ${res.status}\n${res.body.slice(0, 300)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
  assert.ok(res.json, what);
  assert.equal(res.json.error, 'invalid_request', what);
  assert.equal(typeof res.json.error_description, 'string', what);
  if (pattern) assert.match(res.json.error_description, pattern, `${what}: ${res.json.error_description}`);
  assert.equal(res.cookie, null, `${what}: no flow is started`);
  assert.ok(!res.body.includes('<form'), `${what}: nothing is posted`);
}

async function refusedWith(fields, what, pattern, opts) {
  const res = await world.authorize(fields, opts);
  assertRefused(res, what, pattern);
  return res;
}

function withHint(flow, hint) {
  return { ...flow.fields, id_token_hint: hint };
}

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

test('control: an untouched request starts a sign-in (so each refusal below is for its one change)', async () => {
  const flow = await freshFlow();
  const res = await world.authorize(flow.fields);
  assert.equal(res.status, 200, res.body.slice(0, 300));
  assert.ok(res.cookie);
  assert.ok(res.page?.waitUrl);
});

test('hint with alg "none" is refused', async () => {
  const flow = await freshFlow();
  const [, payload, sig] = flow.hint.split('.');
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
  await refusedWith(withHint(flow, none), 'alg none, no signature', /id_token_hint/);
  const noneSigned = `${b64({ alg: 'none', typ: 'JWT', kid: world.sim.kid })}.${payload}.${sig}`;
  await refusedWith(withHint(flow, noneSigned), 'alg none, signature kept', /id_token_hint/);
});

test('hint HMAC-signed with Microsoft\'s public key as the secret (HS256 confusion) is refused', async () => {
  const flow = await freshFlow();
  const [, payload] = flow.hint.split('.');
  const jwk = (await world.sim.keys()).keys.find((k) => k.kid === world.sim.kid);
  const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  for (const secret of [pem, Buffer.from(jwk.n, 'base64url')]) {
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: world.sim.kid })}.${payload}`;
    const mac = createHmac('sha256', secret).update(input).digest('base64url');
    await refusedWith(withHint(flow, `${input}.${mac}`), 'HS256 with the public key', /id_token_hint/);
  }
});

test('hint with an unknown kid is refused, after one refresh of Microsoft\'s keys still finds nothing', async () => {
  const user = newUser();
  const flow = await world.sim.flow(world.flowSpec(user));
  const hint = await world.sim.mint({
    directory_id: world.directoryId,
    tid: world.directoryId,
    oid: user.oid,
    sub: user.sub,
    aud: world.appId,
    kid: 'rolled-over-key',
  });
  assert.equal(decodeJwt(hint).header.kid, 'rolled-over-key');
  await refusedWith(withHint(flow, hint), 'unknown kid', /id_token_hint/);
});

test('hint with a bad signature is refused', async () => {
  const flow = await freshFlow();
  const [h, p, s] = flow.hint.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[sig.length >> 1] ^= 0x01;
  await refusedWith(withHint(flow, `${h}.${p}.${sig.toString('base64url')}`), 'flipped signature bit', /id_token_hint/);
  // A payload changed under the original signature: another user.
  const claims = decodeJwt(flow.hint).payload;
  claims.oid = randomUUID();
  await refusedWith(withHint(flow, `${h}.${b64(claims)}.${s}`), 'payload swapped', /id_token_hint/);
});

test('hint whose issuer names another tenant is refused', async () => {
  const other = randomUUID();
  const flow = await freshFlow({ directory_id: other, tid: other });
  assert.equal(decodeJwt(flow.hint).payload.iss, `https://login.microsoftonline.com/${other}/v2.0`);
  await refusedWith(flow.fields, 'issuer of another tenant', /id_token_hint/);
  // The v1 form too.
  const v1 = await freshFlow({ directory_id: other, tid: other, version: 1 });
  await refusedWith(v1.fields, 'v1 issuer of another tenant', /id_token_hint/);
});

test('hint from a foreign issuer host is refused', async () => {
  const dir = world.directoryId;
  for (const iss of [
    `https://login.microsoftonline.us/${dir}/v2.0`, // another cloud
    `https://login.partner.microsoftonline.cn/${dir}/v2.0`,
    `https://login.microsoftonline.com.evil.example/${dir}/v2.0`, // look-alike
    `https://evil.example/${dir}/v2.0`,
    `http://login.microsoftonline.com/${dir}/v2.0`,
    `https://sts.windows.net.evil.example/${dir}/`,
    `https://login.microsoftonline.com/${dir}/v2.0/extra`,
    `https://login.microsoftonline.com/common/v2.0`,
  ]) {
    const flow = await freshFlow({ iss });
    await refusedWith(flow.fields, `issuer ${iss}`, /id_token_hint/);
  }
});

test('hint whose tid is not a GUID is refused', async () => {
  const flow = await freshFlow({ tid: 'not-a-guid' });
  await refusedWith(flow.fields, 'tid not a GUID', /id_token_hint/);
});

test('hint for a foreign audience is refused (only the App ID or the Client ID)', async () => {
  const flow = await freshFlow({ aud: randomUUID() });
  await refusedWith(flow.fields, 'foreign aud', /id_token_hint/);
  // Control: the Client ID as audience is accepted.
  const byClientId = await freshFlow({ aud: world.integration.client_id });
  assert.equal((await world.authorize(byClientId.fields)).status, 200);
});

test('a hint too old (by iat) or issued in the future is refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const old = await freshFlow({ iat: now - 11 * 60 });
  await refusedWith(old.fields, 'hint 11 minutes old', /id_token_hint/);
  const future = await freshFlow({ iat: now + 10 * 60 });
  await refusedWith(future.fields, 'hint from the future', /id_token_hint/);
  // Control: nine minutes is still fine (and exp < iat is how Microsoft issues them).
  const nine = await freshFlow({ iat: now - 9 * 60 });
  assert.equal((await world.authorize(nine.fields)).status, 200);
});

test('the same hint + nonce is accepted once', async () => {
  const flow = await freshFlow();
  const first = await world.authorize(flow.fields);
  assert.equal(first.status, 200);
  await refusedWith(flow.fields, 'replayed hint + nonce', /already used/);
});

test('look-alike redirect URIs are refused; only Microsoft\'s exact ones (and --dev\'s simulator) pass', async () => {
  const sim = new URL(world.sim.redirect_uri);
  const lookAlikes = [
    `${MS_EAM_REDIRECT}/`,
    MS_EAM_REDIRECT.replace('externalauthprovider', 'ExternalAuthProvider'),
    MS_EAM_REDIRECT.replace('login.microsoftonline.com', 'LOGIN.microsoftonline.com'),
    MS_EAM_REDIRECT.replace('https://', 'http://'),
    MS_EAM_REDIRECT.replace('login.microsoftonline.com', 'login.microsoftonline.com:443'),
    MS_EAM_REDIRECT.replace('login.microsoftonline.com', 'login.microsoftonline.com.evil.example'),
    MS_EAM_REDIRECT.replace('login.microsoftonline.com', 'login.microsoftonline.us'),
    `${MS_EAM_REDIRECT}?x=1`,
    `${MS_EAM_REDIRECT}#x`,
    `${MS_CC_REDIRECT}/`,
    `${world.sim.redirect_uri}/`,
    world.sim.redirect_uri.replace('/federation/', '/Federation/'),
    world.sim.redirect_uri.replace('http://', 'https://'),
    world.sim.redirect_uri.replace('127.0.0.1', 'localhost'),
    world.sim.redirect_uri.replace(`:${sim.port}`, `:${Number(sim.port) + 1}`),
    'https://evil.example/common/federation/externalauthprovider',
  ];
  for (const uri of lookAlikes) {
    const flow = await freshFlow({ redirect_uri: uri });
    await refusedWith(flow.fields, `redirect_uri ${uri}`, /redirect_uri/);
  }
  // Control: Microsoft's own EAM URI is accepted.
  const ms = await freshFlow({ redirect_uri: MS_EAM_REDIRECT });
  assert.equal((await world.authorize(ms.fields)).status, 200);
});

test('wrong response_type, response_mode or scope, a missing nonce or client_id are refused', async () => {
  const cases = [
    ['response_type=code', { response_type: 'code' }],
    ['response_type=id_token token', { response_type: 'id_token token' }],
    ['response_type missing', { response_type: undefined }],
    ['response_mode=query', { response_mode: 'query' }],
    ['response_mode=fragment', { response_mode: 'fragment' }],
    ['response_mode missing', { response_mode: undefined }],
    ['scope without openid', { scope: 'profile' }],
    ['nonce missing', { nonce: undefined }],
    ['nonce empty', { nonce: '' }],
    ['id_token_hint missing', { id_token_hint: undefined }],
    ['client_id missing', { client_id: undefined }],
    ['client_id of another integration', { client_id: 'someone-else' }],
    ['claims not JSON', { claims: '{not json' }],
  ];
  for (const [what, change] of cases) {
    const flow = await freshFlow();
    const fields = { ...flow.fields };
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete fields[k];
      else fields[k] = v;
    }
    await refusedWith(fields, what);
  }
  // A repeated field is ambiguous: refused.
  const flow = await freshFlow();
  await refusedWith(`${formEncode(flow.fields)}&nonce=second`, 'nonce twice');
});

test('an unknown client id (endpoint) is refused', async () => {
  const flow = await freshFlow();
  const res = await request(`${world.avowd.url}/entra/no-such-client/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: formEncode({ ...flow.fields, client_id: 'no-such-client' }),
    ca: world.avowd.ca,
  });
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).error, 'invalid_request');
  assert.ok(!res.headers['set-cookie']);
});

test('a guest whose home tenant is outside the integration\'s list gets access_denied, posted to Entra', async () => {
  const allowed = randomUUID();
  const listed = await world.addIntegration({ extra: ['--guests', 'list', '--guest-tenant', allowed] });
  const outsider = await world.sim.flow(world.flowSpec(newUser({ tid: randomUUID() }), {}, listed));
  const res = await world.authorize(outsider.fields, { integration: listed });
  assert.equal(res.status, 200);
  assert.ok(res.post, 'a form_post page');
  assert.equal(res.post.action, world.sim.redirect_uri);
  assert.equal(res.post.fields.error, 'access_denied');
  assert.equal(res.post.fields.state, outsider.state);
  assert.equal(res.post.fields.id_token, undefined);
  assert.equal(res.cookie, null);
  const delivered = await world.sim.deliver(res.post);
  assert.equal(delivered.verdict.outcome, 'provider_error');
  assert.equal(delivered.verdict.error, 'access_denied');

  // A guest from the listed tenant, and a member, go on to the MFA page.
  const guest = await world.sim.flow(world.flowSpec(newUser({ tid: allowed }), {}, listed));
  const ok = await world.authorize(guest.fields, { integration: listed });
  assert.equal(ok.status, 200);
  assert.ok(ok.page?.waitUrl);
  const member = await world.sim.flow(world.flowSpec(newUser(), {}, listed));
  assert.ok((await world.authorize(member.fields, { integration: listed })).page?.waitUrl);

  // Members only: every guest is refused.
  const membersOnly = await world.addIntegration({ extra: ['--guests', 'members'] });
  const g2 = await world.sim.flow(world.flowSpec(newUser({ tid: allowed }), {}, membersOnly));
  const r2 = await world.authorize(g2.fields, { integration: membersOnly });
  assert.equal(r2.post?.fields.error, 'access_denied');
});
