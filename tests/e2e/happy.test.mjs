// The sign-ins that succeed, end to end: Entra's authorize POST → the MFA page → the `avow` authenticator
// (scan to bind, then push with number matching) → the page finishes → the form_post reaches "Entra" (the
// simulator), whose checks accept the id_token; the token is verified independently with jose too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomUUID } from 'node:crypto';

import {
  MS_CC_REDIRECT,
  SIM,
  approveWithCli,
  closeAgents,
  decodeJwt,
  finishApproved,
  formEncode,
  newUser,
  parseFormPost,
  removeTempDirs,
  request,
  requireBinaries,
  run,
  startWorld,
  verifyWithJose,
} from './helpers.mjs';

requireBinaries('AVOW_BIN');
let world;
before(async () => {
  world = await startWorld();
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

test('unbound user: ScanCode → scan binds → push → approve with the number → Entra accepts', async () => {
  const user = newUser();
  const flow = await world.sim.flow(world.flowSpec(user));
  const started = await world.authorize(flow.fields);
  assert.equal(started.status, 200, started.body.slice(0, 300));
  assert.ok(started.cookie, 'the flow cookie is set');
  assert.match(started.headers['set-cookie'].join(';'), /HttpOnly/);
  assert.match(started.headers['set-cookie'].join(';'), /SameSite=Strict/);
  assert.match(started.headers['set-cookie'].join(';'), /Secure/);
  const page = started.page;
  assert.ok(page.scanUrl, 'an unbound user is shown a ScanCode');
  assert.ok(page.scanUrl.startsWith(`${world.avowd.url}/s/`), page.scanUrl);
  assert.equal(page.userLabel, user.username);
  const flowState = { ...flow, ...started };

  const dev = await world.cliDevice('phone-1');
  await approveWithCli(world, dev, flowState, user);
  const done = await finishApproved(world, flowState);
  assert.equal(done.post.action, world.sim.redirect_uri, 'posted back to the redirect URI of the request');

  const claims = await verifyWithJose(world, done.post.fields.id_token, flow);
  assert.equal(claims.acr, 'possessionorinherence');
  assert.deepEqual(claims.amr, ['swk']);

  // Entra's own checks: the browser's auto-submit reaches the simulator's receiver.
  const delivered = await world.sim.deliver(done.post);
  assert.equal(delivered.status, 200, delivered.body);
  assert.equal(delivered.verdict.outcome, 'accepted', delivered.verdict.error_description);
  assert.equal(delivered.verdict.claims.sub, user.sub);

  // The receiver is no rubber stamp: the same token offered as the answer to another request is rejected.
  const other = await world.sim.flow(world.flowSpec(user));
  const misdirected = await world.sim.deliver({
    action: world.sim.redirect_uri,
    fields: { ...done.post.fields, state: other.state },
  });
  assert.equal(misdirected.verdict.outcome, 'rejected');
  assert.match(misdirected.verdict.error_description, /nonce/);

  // And the command-line validator agrees.
  const v = await run(SIM, [
    'validate', '--discovery-url', world.integration.discovery_url, '--id-token', done.post.fields.id_token,
    '--client-id', world.integration.client_id, '--sub', user.sub, '--nonce', flow.nonce,
    '--ca-file', world.avowd.caFile,
  ]);
  assert.equal(v.code, 0, v.stderr);

  const accounts = await dev.accounts();
  assert.equal(accounts.accounts.length, 1);
  assert.equal(accounts.accounts[0].user, user.username);
});

test('bound user: no ScanCode, a push only', async () => {
  const user = newUser();
  const dev = await world.cliDevice('phone-2');
  // First sign-in binds.
  const f1 = await world.sim.flow(world.flowSpec(user));
  const s1 = { ...f1, ...(await world.authorize(f1.fields)) };
  await approveWithCli(world, dev, s1, user);
  await finishApproved(world, s1);

  const f2 = await world.sim.flow(world.flowSpec(user));
  const s2 = { ...f2, ...(await world.authorize(f2.fields)) };
  assert.equal(s2.status, 200);
  assert.equal(s2.page.scanUrl, null, 'no ScanCode for a bound user');
  assert.ok(Number.isInteger(s2.page.number) && s2.page.number >= 0, 'the page shows the number at once');
  const c = await approveWithCli(world, dev, s2, user);
  assert.ok(c.choices.includes(s2.page.number));
  const done = await finishApproved(world, s2);
  await verifyWithJose(world, done.post.fields.id_token, f2);
  assert.equal((await world.sim.deliver(done.post)).verdict.outcome, 'accepted');
});

test('custom control: v1 hint, the requested claim echoed, Duo-style token_type/expires_in/scope', async () => {
  const user = newUser();
  const dev = await world.cliDevice('phone-3');
  const claim = world.integration.claim ?? { type: 'AvowMfa', value: 'MfaDone' };
  const flow = await world.sim.flow(
    world.flowSpec(user, {
      flavor: 'custom_control',
      version: 1,
      claim_type: claim.type,
      claim_value: claim.value,
      redirect_uri: MS_CC_REDIRECT,
    }),
  );
  assert.equal(decodeJwt(flow.hint).payload.iss, `https://sts.windows.net/${world.directoryId}/`);
  const s = { ...flow, ...(await world.authorize(flow.fields)) };
  assert.equal(s.status, 200, s.body.slice(0, 300));
  await approveWithCli(world, dev, s, user);
  const done = await finishApproved(world, s);
  assert.equal(done.post.action, MS_CC_REDIRECT);
  assert.equal(done.post.fields.token_type, 'Bearer');
  assert.equal(done.post.fields.scope, 'openid');
  assert.ok(Number(done.post.fields.expires_in) > 0);
  const claims = await verifyWithJose(world, done.post.fields.id_token, flow);
  assert.equal(claims[claim.type], claim.value, 'the requested claim is echoed');
  // Entra's checks of a custom-control answer (the post is handed to the simulator in Microsoft's place).
  const delivered = await world.sim.deliver(done.post, { to: world.sim.redirect_uri });
  assert.equal(delivered.verdict.outcome, 'accepted', delivered.verdict.error_description);
});

test('EAM with a v1 hint (sts.windows.net issuer) signs in', async () => {
  const user = newUser();
  const dev = await world.cliDevice('phone-4');
  const flow = await world.sim.flow(world.flowSpec(user, { version: 1 }));
  assert.match(decodeJwt(flow.hint).payload.iss, /^https:\/\/sts\.windows\.net\//);
  const s = { ...flow, ...(await world.authorize(flow.fields)) };
  assert.equal(s.status, 200, s.body.slice(0, 300));
  await approveWithCli(world, dev, s, user);
  const done = await finishApproved(world, s);
  assert.equal((await world.sim.deliver(done.post)).verdict.outcome, 'accepted');
});

test('B2B guest (tid ≠ Directory ID) signs in, keyed on its own home tenant', async () => {
  const home = randomUUID();
  const user = newUser({ tid: home });
  const dev = await world.cliDevice('phone-5');
  const flow = await world.sim.flow(world.flowSpec(user));
  const hint = decodeJwt(flow.hint).payload;
  assert.equal(hint.tid, home);
  assert.equal(hint.iss, `https://login.microsoftonline.com/${world.directoryId}/v2.0`);
  const s = { ...flow, ...(await world.authorize(flow.fields)) };
  assert.equal(s.status, 200, s.body.slice(0, 300));
  assert.ok(s.page.scanUrl);
  await approveWithCli(world, dev, s, user);
  const done = await finishApproved(world, s);
  const claims = await verifyWithJose(world, done.post.fields.id_token, flow);
  assert.equal(claims.sub, user.sub);
  assert.equal((await world.sim.deliver(done.post)).verdict.outcome, 'accepted');

  // The same oid from the directory itself is another user (keyed on tid + oid): it must bind afresh.
  const member = { ...user, tid: undefined, sub: `${user.sub}-m`, username: `m-${user.username}` };
  const f2 = await world.sim.flow(world.flowSpec(member));
  const s2 = await world.authorize(f2.fields);
  assert.ok(s2.page.scanUrl, 'a different user: shown a ScanCode');
});

test('the simulator\'s demo page drives a whole sign-in: /start → avowd → the verdict: signed in', async () => {
  const res = await request(`${world.sim.url}/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: formEncode({
      discovery_url: world.integration.discovery_url,
      client_id: world.integration.client_id,
      app_id: world.appId,
      directory_id: world.directoryId,
      user: 'guest',
      flavor: 'eam',
    }),
  });
  assert.equal(res.status, 200, res.body.slice(0, 300));
  const auto = parseFormPost(res.body);
  assert.ok(auto, 'an auto-submitting authorize form');
  assert.equal(auto.action, world.integration.authorize_url, 'sent to the discovery\'s authorization_endpoint');
  assert.equal(auto.fields.redirect_uri, world.sim.redirect_uri);
  const hint = decodeJwt(auto.fields.id_token_hint).payload;
  assert.notEqual(hint.tid, world.directoryId, 'the demo guest comes from another tenant');

  const started = await world.authorize(auto.fields);
  assert.equal(started.status, 200, started.body.slice(0, 300));
  const s = { ...started, state: auto.fields.state, nonce: auto.fields.nonce, sub: hint.sub };
  const user = { username: hint.preferred_username };
  const dev = await world.cliDevice('demo-phone');
  await approveWithCli(world, dev, s, user);
  const done = await finishApproved(world, s);
  const delivered = await world.sim.deliver(done.post);
  assert.equal(delivered.status, 200);
  assert.match(delivered.body, /data-outcome="accepted"/);
  assert.match(delivered.body, /Signed in/);
});
