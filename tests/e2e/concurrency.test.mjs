// Many sign-ins at once through one server, each ending with the right user and the right number; then
// the latency from a device's approval to the page's finished answer. Devices speak the device API
// directly (ES256-signed requests from node:crypto, docs/device-api.md) — a process per call would
// measure process start-up, not avowd.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as jose from 'jose';

import { beginSignIn, closeAgents, contextHash, median, newUser, removeTempDirs, startWorld } from './helpers.mjs';

const FLOWS = Number(process.env.AVOW_E2E_FLOWS ?? 200);
const LATENCY_FLOWS = Number(process.env.AVOW_E2E_LATENCY_FLOWS ?? 100);

let world;
let keys;
const bound = []; // { user, device } after the first test
before(async () => {
  world = await startWorld();
  keys = jose.createLocalJWKSet(await world.providerJwks());
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

async function checkToken(token, flow, user) {
  const { payload } = await jose.jwtVerify(token, keys, {
    issuer: world.integration.issuer,
    audience: world.integration.client_id,
    algorithms: ['RS256'],
  });
  assert.equal(payload.sub, user.sub, 'the token names this flow\'s user');
  assert.equal(payload.nonce, flow.nonce, 'and answers this flow\'s request');
}

// One first sign-in, start to finish: the page shows a ScanCode, the device scans (binding) and answers
// with the number the page then shows.
async function firstSignIn(user, device) {
  const s = await beginSignIn(world, user);
  assert.equal(s.status, 200, s.body.slice(0, 200));
  assert.ok(s.page.scanUrl);
  // The page long-polls from the start, as the browser does.
  const pageSees = world.waitUntil(s, (j) => j.state !== 'pending' || j.view.startsWith('number:'), 120000);

  const scanned = await device.scan(s.page.scanUrl);
  assert.equal(scanned.status, 200, scanned.body);
  assert.equal(scanned.json.result, 'bound');
  assert.equal(scanned.json.account.user, user.username);
  const list = await device.challenges(0);
  assert.equal(list.status, 200, list.body);
  const c = list.json.challenges.find((x) => x.id === scanned.json.challenge_id);
  assert.ok(c, 'the push is the device\'s');
  assert.equal(c.context.user, user.username, 'for this user');
  assert.equal(c.context_hash, contextHash(JSON.stringify(c.context)), 'the context hash covers what is shown');

  const shown = await pageSees;
  assert.equal(shown.state, 'pending');
  assert.ok(c.choices.includes(shown.number), 'the page\'s number is among the device\'s choices');
  const answer = await device.answer(c, 'approve', shown.number);
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.json.state, 'approved');

  assert.equal((await world.waitUntil(s, undefined, 120000)).state, 'approved');
  const done = await world.finish(s);
  assert.equal(done.status, 200);
  assert.equal(done.post?.fields.state, s.state);
  await checkToken(done.post.fields.id_token, s, user);
  return done;
}

test(`${FLOWS} simultaneous first sign-ins each complete with the right user and number`, async (t) => {
  const devices = [];
  for (let i = 0; i < FLOWS; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, FLOWS - i) }, (_, k) => world.directDevice(`load-${i + k}`)),
    );
    devices.push(...batch);
  }
  const users = devices.map(() => newUser());
  const started = Date.now();
  const results = await Promise.allSettled(users.map((u, i) => firstSignIn(u, devices[i])));
  const failed = results.filter((r) => r.status === 'rejected');
  const elapsed = Date.now() - started;
  t.diagnostic(`${FLOWS} concurrent first sign-ins in ${elapsed} ms`);
  console.log(`[e2e] ${FLOWS} concurrent first sign-ins (ScanCode, bind, push, approve, finish): ${elapsed} ms`);
  assert.equal(failed.length, 0, failed.slice(0, 3).map((r) => r.reason?.stack ?? r.reason).join('\n---\n'));
  users.forEach((user, i) => bound.push({ user, device: devices[i] }));

  // The tokens are all distinct, and each device is bound to exactly its user.
  const accounts = await Promise.all(devices.slice(0, 20).map((d) => d.call('GET', '/accounts')));
  accounts.forEach((a, i) => assert.deepEqual(a.json.accounts.map((x) => x.user), [users[i].username]));
});

test(`approve → page finished latency over ${LATENCY_FLOWS} sign-ins`, async (t) => {
  assert.ok(bound.length >= LATENCY_FLOWS, 'needs the bound users of the test above');
  const latencies = [];
  for (const { user, device } of bound.slice(0, LATENCY_FLOWS)) {
    const s = await beginSignIn(world, user);
    assert.equal(s.status, 200);
    assert.equal(s.page.scanUrl, null, 'bound: a push only');
    const number = s.page.number;
    // The page is parked in its long-poll before the phone answers.
    const decided = world.waitUntil(s, undefined, 60000);
    const list = await device.challenges(5);
    const c = list.json.challenges.find((x) => x.context.user === user.username);
    assert.ok(c);
    assert.ok(c.choices.includes(number));
    const t0 = process.hrtime.bigint();
    const answer = await device.answer(c, 'approve', number);
    assert.equal(answer.json?.state, 'approved', answer.body);
    assert.equal((await decided).state, 'approved');
    const done = await world.finish(s);
    const t1 = process.hrtime.bigint();
    assert.ok(done.post?.fields.id_token);
    latencies.push(Number(t1 - t0) / 1e6);
    await checkToken(done.post.fields.id_token, s, user);
  }
  const med = median(latencies);
  const worst = Math.max(...latencies);
  const line =
    `approve → page finished over ${latencies.length} sign-ins: ` +
    `median ${med.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`;
  t.diagnostic(line);
  console.log(`[e2e] ${line}`);
  // Not a benchmark: a generous bound that still catches a busy poll or a missed wake-up (the page's
  // long-poll would then sit out its 25 s).
  assert.ok(worst < 5000, line);
});
