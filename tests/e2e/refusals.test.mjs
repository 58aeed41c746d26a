// Sign-ins that start well and end in a refusal posted to Entra (error=access_denied), and the flow's
// guards: deny, a wrong number, expiry, finishing twice, the flow cookie, and a second device trying to
// bind a user who already has one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  approveWithCli,
  beginSignIn,
  closeAgents,
  finishApproved,
  newUser,
  pageNumber,
  removeTempDirs,
  requireBinaries,
  startWorld,
} from './helpers.mjs';

requireBinaries('AVOW_BIN');

// Challenges here live 5 s, so expiry is observed without a long wait; every other test answers at once.
const TTL_SECONDS = 5;
let world;
before(async () => {
  world = await startWorld({ avowdEnv: { AVOW_FLOW_CHALLENGE_TTL: `${TTL_SECONDS}s` } });
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

// A user bound to a fresh CLI device through one approved sign-in.
async function boundUser(name) {
  const user = newUser();
  const dev = await world.cliDevice(name);
  const s = await beginSignIn(world, user);
  assert.equal(s.status, 200, s.body.slice(0, 300));
  await approveWithCli(world, dev, s, user);
  await finishApproved(world, s);
  return { user, dev };
}

// The push for `flow` as the device lists it.
async function pushFor(dev, user) {
  const pending = await dev.pending(10);
  const c = pending.challenges.find((x) => x.context.user === user.username);
  assert.ok(c, `the push reached the device: ${JSON.stringify(pending)}`);
  return c;
}

async function assertAccessDenied(flow, description) {
  const done = await world.finish(flow);
  assert.equal(done.status, 200, done.body.slice(0, 300));
  assert.ok(done.post, 'a form_post page');
  assert.equal(done.post.action, world.sim.redirect_uri);
  assert.equal(done.post.fields.error, 'access_denied');
  assert.equal(done.post.fields.state, flow.state);
  assert.equal(done.post.fields.id_token, undefined, 'no token on a refusal');
  if (description) assert.match(done.post.fields.error_description, description);
  const delivered = await world.sim.deliver(done.post);
  assert.equal(delivered.verdict.outcome, 'provider_error');
  assert.equal(delivered.verdict.error, 'access_denied');
  return done;
}

test('the user denies on the device → access_denied', async () => {
  const { user, dev } = await boundUser('deny');
  const s = await beginSignIn(world, user);
  const c = await pushFor(dev, user);
  await dev.deny(c.id);
  const j = await world.waitUntil(s);
  assert.equal(j.state, 'denied');
  await assertAccessDenied(s, /denied/i);
});

test('"this wasn\'t me" (fraud) → access_denied', async () => {
  const { user, dev } = await boundUser('fraud');
  const s = await beginSignIn(world, user);
  const c = await pushFor(dev, user);
  await dev.deny(c.id, true);
  assert.equal((await world.waitUntil(s)).state, 'denied');
  await assertAccessDenied(s);
});

test('a wrong number denies the sign-in → access_denied, and the right number afterwards is refused', async () => {
  const { user, dev } = await boundUser('wrong-number');
  const s = await beginSignIn(world, user);
  const number = await pageNumber(world, s);
  const c = await pushFor(dev, user);
  const wrong = c.choices.find((n) => n !== number);
  const r = await dev.approve(c.id, wrong);
  assert.equal(r.code, 1, 'the authenticator reports the refusal');
  assert.match(r.stdout + r.stderr, /not the number/i);
  assert.equal((await world.waitUntil(s)).state, 'denied');
  const late = await dev.approve(c.id, number);
  assert.notEqual(late.code, 0, 'a decided challenge cannot be approved');
  await assertAccessDenied(s);
});

test('an unanswered sign-in expires → access_denied; approving afterwards is refused', async () => {
  const { user, dev } = await boundUser('expiry');
  const s = await beginSignIn(world, user);
  const number = await pageNumber(world, s);
  const c = await pushFor(dev, user);
  const started = Date.now();
  const j = await world.waitUntil(s, (x) => x.state !== 'pending', (TTL_SECONDS + 10) * 1000);
  assert.equal(j.state, 'expired');
  assert.ok(Date.now() - started < (TTL_SECONDS + 5) * 1000, 'the page learns of the expiry promptly');
  const late = await dev.approve(c.id, number);
  assert.notEqual(late.code, 0);
  await assertAccessDenied(s, /time/i);

  // An unbound user's page expires the same way.
  const fresh = await beginSignIn(world, newUser());
  assert.ok(fresh.page.scanUrl);
  assert.equal((await world.waitUntil(fresh, undefined, (TTL_SECONDS + 10) * 1000)).state, 'expired');
  await assertAccessDenied(fresh);
});

test('a sign-in finishes once: the second finish posts nothing', async () => {
  const { user, dev } = await boundUser('twice');
  const s = await beginSignIn(world, user);
  // Finishing before the answer is refused and changes nothing.
  const early = await world.finish(s);
  assert.equal(early.status, 409);
  assert.equal(early.post, null);
  await approveWithCli(world, dev, s, user);
  const done = await finishApproved(world, s);
  assert.ok(done.post.fields.id_token);
  const again = await world.finish(s);
  assert.equal(again.status, 409);
  assert.equal(again.post, null, 'no second form_post');
  assert.ok(!again.body.includes('id_token'));
});

test('wait and finish need the flow cookie of that sign-in', async () => {
  const { user, dev } = await boundUser('cookie');
  const a = await beginSignIn(world, user);
  const other = await beginSignIn(world, newUser());
  const noCookie = await world.wait({ ...a, cookie: '' });
  assert.equal(noCookie.status, 403);
  const wrongCookie = await world.wait({ ...a, cookie: other.cookie });
  assert.equal(wrongCookie.status, 403);
  await approveWithCli(world, dev, a, user);
  assert.equal((await world.waitUntil(a)).state, 'approved');
  const stolen = await world.finish(a, { cookie: other.cookie });
  assert.equal(stolen.status, 403);
  assert.equal(stolen.post, null);
  const crossSite = await world.finish(a, { headers: { origin: 'https://evil.example' } });
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.post, null);
  // The rightful page still finishes.
  const done = await world.finish(a);
  assert.ok(done.post?.fields.id_token);
});

test('a second device cannot bind a user who already has one', async () => {
  const user = newUser();
  // Two sign-ins while the user is unbound: each page shows a ScanCode.
  const first = await beginSignIn(world, user);
  assert.ok(first.page.scanUrl);
  const second = await beginSignIn(world, user);
  assert.ok(second.page.scanUrl);
  assert.notEqual(second.page.scanUrl, first.page.scanUrl);

  const phone = await world.cliDevice('first-phone');
  await approveWithCli(world, phone, second, user);
  await finishApproved(world, second);

  // Another device scans the older code (withdrawn or not, the user is bound now): refused.
  const intruder = await world.cliDevice('intruder');
  const r = await intruder.scanRaw(first.page.scanUrl);
  assert.equal(r.code, 1, `refused: ${r.stdout}${r.stderr}`);
  const accounts = await intruder.run(['accounts', '--json']);
  if (accounts.code === 0) assert.equal(JSON.parse(accounts.stdout).accounts.length, 0);

  // The next sign-in shows no ScanCode and pushes to the first phone only.
  const next = await beginSignIn(world, user);
  assert.equal(next.page.scanUrl, null);
  if (accounts.code === 0) {
    const p = await intruder.pending(0);
    assert.equal(p.challenges.length, 0, 'nothing is pushed to the intruder');
  }
  await approveWithCli(world, phone, next, user);
  await finishApproved(world, next);
});
