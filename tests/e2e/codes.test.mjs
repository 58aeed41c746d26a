// Fallback codes end to end: a real avowd, the Entra simulator and the `avow` CLI. The first sign-in binds
// the phone (ScanCode) and delivers its binding's TOTP secret; a later sign-in is completed by the code
// `avow code` prints, posted to the page's code endpoint as the page's script does; the id_token says
// amr ["otp"] and the simulator's receiver (Entra's checks) accepts it. Replays and wrong codes get one
// message; the user's codes lock at the configured threshold and `avowd admin user unlock-codes` opens them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  AVOWD,
  approveWithCli,
  beginSignIn,
  closeAgents,
  finishApproved,
  formEncode,
  htmlUnescape,
  newUser,
  removeTempDirs,
  request,
  requireBinaries,
  run,
  startWorld,
  verifyWithJose,
} from './helpers.mjs';

requireBinaries('AVOW_BIN');

const LOCKOUT = 3;
let world;
before(async () => {
  world = await startWorld({ avowdEnv: { AVOW_FLOW_CODE_LOCKOUT_THRESHOLD: String(LOCKOUT) } });
});
after(async () => {
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

// The page's code endpoint, as its script posts it: form-encoded `code`, the flow cookie, same origin.
function codeUrl(flow) {
  const m = /<form id="code-form" method="post" action="([^"]*)"/.exec(flow.body);
  assert.ok(m, 'the MFA page has the code form');
  return htmlUnescape(m[1]);
}

async function postCode(flow, code, { cookie = flow.cookie, origin = new URL(world.avowd.url).origin } = {}) {
  const r = await request(`${world.avowd.url}${codeUrl(flow)}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      origin,
      ...(cookie ? { cookie: `avow_flow=${cookie}` } : {}),
    },
    body: formEncode({ code }),
    ca: world.avowd.ca,
  });
  let json = null;
  try {
    json = JSON.parse(r.body);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, body: r.body };
}

async function avowCode(dev, account) {
  const r = await dev.run(['code', ...(account ? [account] : []), '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout);
  assert.match(out.code, /^\d{6}$/);
  assert.ok(out.seconds_left >= 1 && out.seconds_left <= 30, JSON.stringify(out));
  return out;
}

// A user bound to a fresh CLI device through one approved sign-in (the scan delivers the code secret).
async function boundUser(name) {
  const user = newUser();
  const dev = await world.cliDevice(name);
  const s = await beginSignIn(world, user);
  assert.equal(s.status, 200, s.body.slice(0, 300));
  await approveWithCli(world, dev, s, user);
  await finishApproved(world, s);
  return { user, dev };
}

// A code none of the window's codes is (the window is ±1 step around the current code).
function otherCode(code) {
  return String((Number(code) + 500000) % 1000000).padStart(6, '0');
}

test('a second sign-in completed by `avow code`: amr ["otp"], Entra accepts, the step is not accepted twice', async () => {
  const { user, dev } = await boundUser('code-phone');

  // The secret came with the scan and is kept private to the device; the CLI never prints it.
  const file = join(dev.home, 'accounts.json');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const stored = JSON.parse(await readFile(file, 'utf8'));
  assert.equal(stored.accounts.length, 1);
  assert.match(stored.accounts[0].code.secret, /^[A-Z2-7]{32}$/, '20 bytes, base32');
  const listed = await dev.run(['accounts', '--json']);
  assert.doesNotMatch(listed.stdout, new RegExp(stored.accounts[0].code.secret));

  const s = await beginSignIn(world, user);
  assert.equal(s.status, 200, s.body.slice(0, 300));
  assert.equal(s.page.scanUrl, null, 'a bound user');
  assert.match(s.body, /data-codes="open"/, 'the page offers a code');
  const { code, account } = await avowCode(dev, user.username.slice(0, 12));
  assert.equal(account, user.username);

  const posted = await postCode(s, code);
  assert.equal(posted.status, 200, posted.body);
  assert.deepEqual(posted.json, { result: 'approved' });
  const done = await finishApproved(world, s);
  const claims = await verifyWithJose(world, done.post.fields.id_token, s);
  assert.deepEqual(claims.amr, ['otp']);
  const delivered = await world.sim.deliver(done.post);
  assert.equal(delivered.verdict.outcome, 'accepted', delivered.verdict.error_description);
  assert.deepEqual(delivered.verdict.claims.amr, ['otp']);

  // The same code (its step is used) in the next sign-in: refused with the one message.
  const again = await beginSignIn(world, user);
  const replay = await postCode(again, code);
  assert.equal(replay.status, 200, replay.body);
  assert.equal(replay.json.result, 'refused');
  assert.equal(replay.json.message, "That code didn't work.");
  assert.equal(replay.json.closed, false);
  const wrong = await postCode(again, otherCode(code));
  assert.deepEqual(wrong.json, replay.json, 'a wrong code and a replayed one look the same');
  // The push still answers this sign-in.
  await approveWithCli(world, dev, again, user);
  const pushed = await finishApproved(world, again);
  assert.deepEqual((await verifyWithJose(world, pushed.post.fields.id_token, again)).amr, ['swk']);
});

test('the code endpoint wants the flow cookie and the page\'s origin', async () => {
  const { user, dev } = await boundUser('code-guards');
  const s = await beginSignIn(world, user);
  const { code } = await avowCode(dev);
  assert.equal((await postCode(s, code, { cookie: null })).status, 403);
  assert.equal((await postCode(s, code, { cookie: 'x'.repeat(43) })).status, 403);
  assert.equal((await postCode(s, code, { origin: 'https://evil.example' })).status, 403);
  // None of those counted or used the code.
  const ok = await postCode(s, code);
  assert.equal(ok.status, 200, ok.body);
  // Decided: the endpoint says so, and the page finishes.
  const late = await postCode(s, code);
  assert.equal(late.status, 409);
  assert.equal(late.json.error, 'not_pending');
});

test('wrong codes lock the user\'s codes at the threshold; `avowd admin user unlock-codes` opens them', async () => {
  const { user, dev } = await boundUser('code-lock');
  const { code } = await avowCode(dev);
  const s = await beginSignIn(world, user);
  for (let i = 1; i <= LOCKOUT; i += 1) {
    const r = await postCode(s, otherCode(code));
    assert.equal(r.json.result, 'refused');
    assert.equal(r.json.closed, i === LOCKOUT, `attempt ${i}`);
  }
  // Locked: the right code is refused like any other, and the next page offers no code.
  const right = await postCode(s, code);
  assert.equal(right.json.result, 'refused');
  assert.equal(right.json.closed, true);
  assert.match(right.json.message, /^That code didn't work\./);
  const locked = await beginSignIn(world, user);
  assert.match(locked.body, /data-codes="off"/);

  const dbPath = join(world.avowd.dataDir, 'avow.db');
  const q = await run('sqlite3', [dbPath, `SELECT id FROM users WHERE upn = '${user.username}'`]);
  const userId = q.stdout.trim();
  assert.match(userId, /^[0-9a-f-]{36}$/, q.stderr);
  const unlocked = await run(AVOWD, ['admin', 'user', 'unlock-codes', userId, '--data-dir', world.avowd.dataDir, '--json']);
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.deepEqual(JSON.parse(unlocked.stdout), { user_id: userId, was_locked: true, codes: 'open' });

  const open = await beginSignIn(world, user);
  assert.match(open.body, /data-codes="open"/);
  const ok = await postCode(open, code);
  assert.equal(ok.status, 200, ok.body);
  const done = await finishApproved(world, open);
  assert.deepEqual((await verifyWithJose(world, done.post.fields.id_token, open)).amr, ['otp']);
});
