// The dashboard's security properties, over plain HTTP (a cookie-keeping client, no browser): CSRF on every
// state-changing POST, org isolation on every route that takes an id, stored and reflected XSS in every text
// field, session fixation and server-side sign-out, invite links (used, unknown, expired), re-authentication for
// dangerous actions, and the security headers. One avowd with open sign-up (dashboard.open_signup) holds three
// orgs: A and B (isolation), C (hostile names). The last test opens C's pages in Chromium too (skipped without
// it) and fails on any dialog. avowd has no test clock: expiry and the re-auth window are reached by moving
// timestamps back in its SQLite file with the sqlite3 tool (dash.mjs); without sqlite3 those two tests skip.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { artifactsDir, launchBrowser, openSession, skipReason } from '../browser/browser.mjs';
import { removeTempDirs } from '../e2e/helpers.mjs';
import {
  DashClient,
  SQLITE3,
  XSS_IMG,
  XSS_SCRIPT,
  actions,
  ageSessions,
  assertEscaped,
  canTimeTravel,
  claim,
  createIntegration,
  dangerous,
  deviceRows,
  entraBind,
  escapeHtml,
  expireInvites,
  fieldValue,
  newUser,
  reauth,
  rows,
  scanOk,
  scanPage,
  signInPush,
  signInScan,
  signUp,
  startDashWorld,
  tagsByTestId,
  testIdAttr,
  userIds,
  waitScan,
} from './dash.mjs';

const SETTINGS = [
  'challenge_ttl_seconds',
  'number_digits',
  'max_pushes_per_hour',
  'lockout_max_failures',
  'code_lockout_threshold',
];

let world;
const orgs = {}; // name → { client, dev, email, integration, user, userDev, userId, deviceId, invitedAdminId }

const uniq = () => randomBytes(3).toString('hex');

// An org made through the dashboard: owner signed up, an integration, an Entra user bound to a device, and an
// invited (not yet accepted) second admin.
async function makeOrg(label, { orgName = `${label} Org ${uniq()}`, adminName = `${label} Owner`,
  ownerDevice = `${label}-owner-phone`, integrationName = `${label} Integration`, userDevice = `${label}-user-phone`,
  user = newUser(), inviteeName = `${label} Invitee` } = {}) {
  const email = `owner-${label.toLowerCase()}-${uniq()}@example.com`;
  const dev = await world.device(ownerDevice);
  const client = new DashClient(world, label);
  await signUp(client, dev, { org: orgName, name: adminName, email });
  const integration = await createIntegration(client, { name: integrationName });
  const bound = await entraBind(world, integration, userDevice, user);
  const users = await client.page(`/dashboard/users?q=${encodeURIComponent(bound.user.username)}`);
  const [userId] = userIds(users);
  assert.ok(userId, `${label}: the users page links the user`);
  const devices = deviceRows(await client.page('/dashboard/devices'));
  const device = devices.find((d) => d.name === userDevice);
  assert.ok(device, `${label}: the devices page lists ${userDevice}: ${JSON.stringify(devices)}`);
  await client.page('/dashboard/admins');
  const inv = await dangerous(client, dev, '/dashboard/admins/invite', {
    display_name: inviteeName,
    email: `invitee-${label.toLowerCase()}-${uniq()}@example.com`,
    role: 'admin',
  });
  assert.equal(inv.status, 200, `invite: ${inv.status} ${inv.location ?? ''} ${inv.body.slice(0, 300)}`);
  const inviteUrl = testIdAttr(inv.body, 'invite-link', 'value');
  assert.ok(inviteUrl, 'the invite_created page shows the link [invite-link]');
  const admins = await client.page('/dashboard/admins');
  const inviteeRow = rows(admins, 'admin-row').find((r) => r.includes(escapeHtml(inviteeName)));
  assert.ok(inviteeRow, `${label}: the admins page lists the invitee`);
  const invitedAdminId = actions(inviteeRow, /^\/dashboard\/admins\/[^/]+\/remove$/)[0]?.split('/')[3];
  assert.ok(invitedAdminId, `${label}: the invitee's row has a remove form`);
  return {
    label, client, dev, email, orgName, adminName, integration, user: bound.user, userDev: bound.dev,
    userDevice, userId, deviceId: device.id, invitedAdminId, inviteUrl,
  };
}

// What an org's admin can see of its objects: compared before and after attacks.
async function snapshot(o) {
  const c = o.client;
  const list = await c.page('/dashboard/integrations');
  const detail = await c.page(`/dashboard/integrations/${o.integration.id}`);
  const locked = userIds(await c.page('/dashboard/users?status=locked'));
  const user = await c.page(`/dashboard/users/${o.userId}`);
  const devices = deviceRows(await c.page('/dashboard/devices'));
  const admins = await c.page('/dashboard/admins');
  const settings = await c.page('/dashboard/settings');
  return {
    integrations: tagsByTestId(list, 'integration-row').length,
    integrationName: detail.includes(escapeHtml(o.integration.name)),
    integrationEnabled: tagsByTestId(detail, 'disable-integration').length > 0,
    locked,
    userHasDevice: user.includes(escapeHtml(o.userDevice)),
    devices,
    admins: rows(admins, 'admin-row').map((r) => r.replace(/\s+/g, ' ').replace(/value="[^"]*"/g, '')),
    settings: Object.fromEntries(SETTINGS.map((k) => [k, fieldValue(settings, k)])),
  };
}

before(async () => {
  world = await startDashWorld({ openSignup: true });
  orgs.A = await makeOrg('A');
  orgs.B = await makeOrg('B');
});

after(async () => {
  if (world) await world.stop();
  await removeTempDirs();
});

// ---- headers --------------------------------------------------------------------------------------------------

// The page headers the contract asks for; what is wrong is added to `out` (so one run lists every miss).
function checkPageHeaders(r, where, out) {
  const h = r.headers;
  const csp = h['content-security-policy'] ?? '';
  const check = (ok, what) => {
    if (!ok) out.push(`${where}: ${what}`);
  };
  check(/frame-ancestors 'none'/.test(csp), `CSP without frame-ancestors 'none': ${csp}`);
  check(/script-src [^;]*'nonce-[^']+'/.test(csp), `CSP without a script nonce: ${csp}`);
  check(!/script-src[^;]*'unsafe-inline'/.test(csp), `CSP allows unsafe-inline scripts: ${csp}`);
  check(h['x-frame-options'] === 'DENY', `X-Frame-Options: ${h['x-frame-options']} (want DENY)`);
  // The contract said no-referrer; avowd sends same-origin on purpose (with no-referrer Chromium posts forms with
  // `Origin: null`, which the server's Origin check must refuse). Either sends nothing to another site.
  check(['no-referrer', 'same-origin'].includes(h['referrer-policy']), `Referrer-Policy: ${h['referrer-policy']}`);
  check(/no-store/.test(h['cache-control'] ?? ''), `Cache-Control: ${h['cache-control']} (want no-store)`);
  // Every script carries the page's nonce.
  const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
  for (const m of r.body.matchAll(/<script\b[^>]*>/gi))
    check(m[0].includes(`nonce="${nonce}"`) || m[0].includes(`nonce=${nonce}`), `${m[0]} lacks the nonce`);
}

// Redirects carry no-store too (a cached 303 could replay a session's navigation).
function check303(r, out) {
  const cc = r.headers['cache-control'] ?? '';
  if (!/no-store/.test(cc)) out.push(`303 ${r.location}: Cache-Control ${cc}`);
}

function cookieHeader(r, name) {
  return (r.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`)) ?? null;
}

function assertCookieFlags(c, name) {
  assert.ok(c, `Set-Cookie ${name}`);
  assert.match(c, /;\s*HttpOnly/i, `${name} HttpOnly: ${c.replace(/=[^;]*/, '=…')}`);
  assert.match(c, /;\s*SameSite=(Lax|Strict)/i, `${name} SameSite`);
  assert.match(c, /;\s*Secure/i, `${name} Secure (avowd --dev serves https)`);
  assert.match(c, /;\s*Path=\/dashboard/i, `${name} Path=/dashboard`);
}

test('headers: CSP (nonce, frame-ancestors), X-Frame-Options, no-store; cookies HttpOnly, SameSite', async () => {
  const misses = [];
  const fresh = new DashClient(world, 'headers');
  const r = await fresh.get('/dashboard/signin');
  assert.equal(r.status, 200);
  checkPageHeaders(r, 'GET /dashboard/signin', misses);
  assertCookieFlags(cookieHeader(r, 'avow_pre'), 'avow_pre');

  const dev = await world.device('headers-phone');
  const c = new DashClient(world, 'headers-owner');
  await signUp(c, dev, { org: `Headers ${uniq()}`, name: 'Hedy', email: `hedy-${uniq()}@example.com` });
  // A fresh sign-in, to see the session cookie's flags.
  const s = new DashClient(world, 'headers-signin');
  const html = await s.page('/dashboard/signin');
  const scan = scanPage(html, 'signin-qr');
  await scanOk(dev, scan.url);
  await waitScan(s, scan.waitUrl);
  const claimed = await s.post(scan.claimUrl);
  assert.equal(claimed.status, 303);
  assertCookieFlags(cookieHeader(claimed, 'avow_session'), 'avow_session');
  const signedIn = ['/dashboard', '/dashboard/integrations', '/dashboard/settings', '/dashboard/admins'];
  signedIn.push('/dashboard/audit');
  for (const path of signedIn) {
    const p = await s.get(path);
    assert.equal(p.status, 200, path);
    checkPageHeaders(p, `GET ${path}`, misses);
  }
  for (const path of ['/dashboard/signup', '/dashboard/reauth?next=%2Fdashboard']) {
    const p = await s.get(path);
    checkPageHeaders(p, `GET ${path}`, misses);
  }
  const notFound = await s.get('/dashboard/integrations/does-not-exist');
  assert.equal(notFound.status, 404);
  checkPageHeaders(notFound, 'the 404 page', misses);
  const redirect = await s.get('/dashboard/signup');
  assert.equal(redirect.status, 303, 'signed in: sign-up redirects');
  check303(redirect, misses);
  assert.deepEqual(misses, []);
});

test('not signed in: every signed-in page redirects to /dashboard/signin', async () => {
  const a = orgs.A;
  const anon = new DashClient(world, 'anon');
  const paths = [
    '/dashboard',
    '/dashboard/integrations',
    '/dashboard/integrations/new',
    `/dashboard/integrations/${a.integration.id}`,
    `/dashboard/integrations/${a.integration.id}/edit`,
    '/dashboard/users',
    `/dashboard/users/${a.userId}`,
    '/dashboard/devices',
    '/dashboard/admins',
    '/dashboard/audit',
    '/dashboard/audit.csv',
    '/dashboard/audit.json',
    '/dashboard/settings',
    '/dashboard/reauth?next=%2Fdashboard',
  ];
  for (const p of paths) {
    const r = await anon.get(p);
    assert.equal(r.status, 303, `GET ${p} without a session: ${r.status}`);
    assert.equal(r.location, '/dashboard/signin', `GET ${p} → ${r.location}`);
  }
  // A POST without a session changes nothing (403 for the missing session's csrf, or 303 to sign-in).
  await anon.page('/dashboard/signin');
  const unchanged = await snapshot(a);
  for (const p of [`/dashboard/integrations/${a.integration.id}/disable`, `/dashboard/users/${a.userId}/lock`]) {
    const r = await anon.post(p);
    const refused = r.status === 403 || (r.status === 303 && r.location === '/dashboard/signin');
    assert.ok(refused, `POST ${p}: ${r.status} ${r.location}`);
  }
  assert.deepEqual(await snapshot(a), unchanged);
});

// ---- CSRF -----------------------------------------------------------------------------------------------------

test('CSRF: every state-changing POST with the csrf field missing or wrong → 403, and nothing changes', async () => {
  const a = orgs.A;
  const c = a.client;
  // Re-authenticated, so the dangerous actions would go through with a right token.
  await reauth(c, a.dev, '/dashboard/admins');
  const unchanged = await snapshot(a);
  const valid = c.csrf;
  const wrongs = [
    ['missing', null],
    ['empty', ''],
    ['garbage', 'x'.repeat(43)],
    ["another session's", orgs.B.client.csrf],
  ];
  const id = a.integration.id;
  const posts = [
    ['/dashboard/integrations', { name: 'CSRF made', directory_id: randomUUID(), app_id: randomUUID() }],
    [
      `/dashboard/integrations/${id}`,
      { name: 'CSRF renamed', directory_id: a.integration.directory_id, app_id: a.integration.app_id },
    ],
    [`/dashboard/integrations/${id}/disable`, {}],
    [`/dashboard/integrations/${id}/delete`, {}],
    [`/dashboard/users/${a.userId}/reset`, {}],
    [`/dashboard/users/${a.userId}/allow-device`, {}],
    [`/dashboard/users/${a.userId}/lock`, {}],
    [`/dashboard/users/${a.userId}/unlock`, {}],
    [`/dashboard/users/${a.userId}/unlock-codes`, {}],
    [`/dashboard/devices/${a.deviceId}/rename`, { name: 'CSRF renamed' }],
    [`/dashboard/devices/${a.deviceId}/revoke`, {}],
    ['/dashboard/admins/invite', { display_name: 'CSRF', email: `csrf-${uniq()}@example.com`, role: 'owner' }],
    [`/dashboard/admins/${a.invitedAdminId}/remove`, {}],
    [
      '/dashboard/settings',
      {
        challenge_ttl_seconds: '200',
        number_digits: '3',
        max_pushes_per_hour: '7',
        lockout_max_failures: '9',
        code_lockout_threshold: '9',
      },
    ],
    ['/dashboard/reauth', { next: '/dashboard' }],
    ['/dashboard/signout', {}],
    ['/dashboard/signout-everywhere', {}],
  ];
  const failures = [];
  for (const [path, fields] of posts) {
    for (const [what, token] of wrongs) {
      const r = await c.post(path, fields, { csrf: token });
      if (r.status !== 403) failures.push(`POST ${path} with a ${what} csrf: ${r.status} ${r.location ?? ''}`);
      else assert.match(r.body, /expired/i, `POST ${path}: the 403 page says the form expired`);
    }
  }
  assert.equal(c.csrf, valid, 'the page token is unchanged');
  assert.deepEqual(failures, []);
  assert.deepEqual(await snapshot(a), unchanged, 'nothing changed');
  const still = await c.get('/dashboard');
  assert.equal(still.status, 200, 'still signed in (sign-out without a token did nothing)');
});

test('CSRF: the public POSTs (sign-up, push, claims, re-auth finish) refuse a missing or wrong token', async () => {
  const a = orgs.A;
  // Sign-up and push sign-in.
  const anon = new DashClient(world, 'csrf-anon');
  await anon.page('/dashboard/signup');
  const pendingBefore = (await a.dev.pending(0)).challenges.length;
  for (const token of [null, 'wrong']) {
    const form = { org_name: 'CSRF Org', display_name: 'X', email: 'x@example.com' };
    const s = await anon.post('/dashboard/signup', form, { csrf: token });
    assert.equal(s.status, 403, `POST /dashboard/signup with csrf ${token}: ${s.status}`);
    assert.equal(tagsByTestId(s.body, 'scan-qr').length, 0, 'no ScanCode issued');
    const p = await anon.post('/dashboard/signin/push', { email: a.email }, { csrf: token });
    assert.equal(p.status, 403, `POST /dashboard/signin/push with csrf ${token}: ${p.status}`);
  }
  assert.equal((await a.dev.pending(0)).challenges.length, pendingBefore, 'no push reached the owner');

  // A scanned sign-in code: the claim without a right token is refused, with it the browser gets in.
  const v = new DashClient(world, 'csrf-claim');
  const html = await v.page('/dashboard/signin');
  const scan = scanPage(html, 'signin-qr');
  await scanOk(a.dev, scan.url);
  await waitScan(v, scan.waitUrl);
  for (const token of [null, 'wrong', a.client.csrf]) {
    const r = await v.post(scan.claimUrl, {}, { csrf: token });
    assert.equal(r.status, 403, `POST ${scan.claimUrl} with a wrong csrf: ${r.status}`);
    assert.equal(v.session, null, 'no session');
  }
  await claim(v, scan.claimUrl);

  // An invite claim.
  const inv = new DashClient(world, 'csrf-invite');
  const invHtml = await inv.page(new URL(a.inviteUrl).pathname);
  const code = new URL(a.inviteUrl).pathname.split('/')[3];
  for (const token of [null, 'wrong']) {
    const r = await inv.post(`/dashboard/invite/${code}/claim`, {}, { csrf: token });
    assert.equal(r.status, 403, `POST invite claim with csrf ${token}: ${r.status}`);
  }
  assert.ok(tagsByTestId(invHtml, 'invite-qr').length, 'the invite is still open');

  // The re-auth finish.
  const r = await v.post('/dashboard/reauth', { next: '/dashboard' });
  assert.equal(r.status, 200);
  const finish = actions(r.body, /^\/dashboard\/reauth\/[^/]+\/finish$/)[0];
  assert.ok(finish, 'the push_wait page has the finish form');
  for (const token of [null, 'wrong']) {
    const f = await v.post(finish, { next: '/dashboard' }, { csrf: token });
    assert.equal(f.status, 403, `POST ${finish} with csrf ${token}: ${f.status}`);
  }
});

// ---- org isolation ----------------------------------------------------------------------------------------------

test('cross-org: an admin of A gets 404 for every route with B\'s ids, and B\'s data is unchanged', async () => {
  const a = orgs.A;
  const b = orgs.B;
  const c = a.client;
  await reauth(c, a.dev, '/dashboard'); // so dangerous routes cannot answer with a re-auth redirect instead
  const unchanged = await snapshot(b);
  const failures = [];
  const gets = [
    `/dashboard/integrations/${b.integration.id}`,
    `/dashboard/integrations/${b.integration.id}/edit`,
    `/dashboard/users/${b.userId}`,
  ];
  for (const p of gets) {
    const r = await c.get(p);
    if (r.status !== 404) failures.push(`GET ${p}: ${r.status}`);
    else {
      const leaks = r.body.includes(escapeHtml(b.integration.name)) || r.body.includes(b.user.username);
      assert.ok(!leaks, `GET ${p} leaks nothing`);
    }
  }
  const posts = [
    [
      `/dashboard/integrations/${b.integration.id}`,
      { name: 'stolen', directory_id: randomUUID(), app_id: randomUUID() },
    ],
    [`/dashboard/integrations/${b.integration.id}/disable`, {}],
    [`/dashboard/integrations/${b.integration.id}/enable`, {}],
    [`/dashboard/integrations/${b.integration.id}/delete`, {}],
    [`/dashboard/users/${b.userId}/reset`, {}],
    [`/dashboard/users/${b.userId}/allow-device`, {}],
    [`/dashboard/users/${b.userId}/lock`, {}],
    [`/dashboard/users/${b.userId}/unlock`, {}],
    [`/dashboard/users/${b.userId}/unlock-codes`, {}],
    [`/dashboard/devices/${b.deviceId}/rename`, { name: 'stolen' }],
    [`/dashboard/devices/${b.deviceId}/revoke`, {}],
    [`/dashboard/admins/${b.invitedAdminId}/remove`, {}],
  ];
  for (const [p, fields] of posts) {
    const r = await c.post(p, fields);
    if (r.status !== 404) failures.push(`POST ${p}: ${r.status} ${r.location ?? ''}`);
  }
  // Lists and the audit log of A show nothing of B, whatever filter names B's objects.
  const lists = {
    '/dashboard/integrations': [escapeHtml(b.integration.name), b.integration.client_id],
    '/dashboard/users': [b.user.username],
    '/dashboard/devices': [b.userDevice],
    '/dashboard/admins': [b.email],
    '/dashboard/audit': [b.user.username, escapeHtml(b.integration.name), b.email],
    [`/dashboard/audit?user=${b.userId}`]: [b.user.username],
    [`/dashboard/audit?integration=${b.integration.id}`]: [escapeHtml(b.integration.name)],
    [`/dashboard/audit.json?integration=${b.integration.id}`]: [b.integration.name, b.integration.client_id],
    [`/dashboard/audit.json?user=${b.userId}`]: [b.user.username],
    [`/dashboard/audit.csv?integration=${b.integration.id}`]: [b.integration.name],
    '/dashboard/audit.json': [b.user.username, b.integration.name, b.email, b.orgName],
  };
  // Searching for B's user finds nothing (the query itself is echoed in the search box).
  const search = await c.page(`/dashboard/users?q=${encodeURIComponent(b.user.username)}`);
  if (rows(search, 'user-row').length) failures.push("searching A's users for B's UPN finds a row");
  for (const [p, secrets] of Object.entries(lists)) {
    const r = await c.get(p);
    if (r.status !== 200 && r.status !== 404 && r.status !== 422) failures.push(`GET ${p}: ${r.status}`);
    for (const s of secrets) if (r.body.includes(s)) failures.push(`GET ${p} shows B's ${s}`);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(await snapshot(b), unchanged, "B's data is unchanged");
  // And A's own objects still answer (the 404s were not a broken route).
  assert.equal((await c.get(`/dashboard/integrations/${a.integration.id}`)).status, 200);
  assert.equal((await c.get(`/dashboard/users/${a.userId}`)).status, 200);
});

test("cross-browser: a sign-in the phone approved is claimable only by the browser that started it", async () => {
  const a = orgs.A;
  const victim = new DashClient(world, 'victim');
  const html = await victim.page('/dashboard/signin');
  const scan = scanPage(html, 'signin-qr');
  await scanOk(a.dev, scan.url);
  await waitScan(victim, scan.waitUrl);
  const thief = new DashClient(world, 'thief');
  await thief.page('/dashboard/signin');
  const stolen = await thief.post(scan.claimUrl);
  assert.ok(stolen.status >= 400, `another browser claimed the scan: ${stolen.status} ${stolen.location ?? ''}`);
  assert.equal(thief.session, null);
  await claim(victim, scan.claimUrl);
  // Exactly once.
  const again = await victim.post(scan.claimUrl);
  assert.notEqual(again.status, 303, 'a claimed code cannot be claimed again');
});

// ---- sessions ---------------------------------------------------------------------------------------------------

test('session fixation: a planted cookie never becomes the session; sign-out revokes server-side', async () => {
  const a = orgs.A;
  const planted = randomBytes(32).toString('base64url');
  const victim = new DashClient(world, 'fixation');
  victim.jar.set('avow_session', planted);
  await signInScan(victim, a.dev);
  assert.notEqual(victim.session, planted, 'a fresh token');
  const attacker = new DashClient(world, 'attacker');
  attacker.jar.set('avow_session', planted);
  const r = await attacker.get('/dashboard');
  assert.equal(r.status, 303);
  assert.equal(r.location, '/dashboard/signin');

  // Sign-in by push, over a planted (unknown) token too.
  const pusher = new DashClient(world, 'fixation-push');
  pusher.jar.set('avow_session', planted);
  await signInPush(pusher, a.dev, a.email);
  assert.notEqual(pusher.session, planted);
  assert.notEqual(pusher.session, victim.session, 'each sign-in has its own token');

  // Sign-out: the old token stops working on the server, not just in the browser.
  const token = victim.session;
  const out = await victim.post('/dashboard/signout');
  assert.equal(out.status, 303);
  assert.equal(out.location, '/dashboard/signin');
  assert.equal(victim.session, null, 'the cookie is cleared');
  const replay = new DashClient(world, 'replay');
  replay.jar.set('avow_session', token);
  const replayed = await replay.get('/dashboard');
  assert.equal(replayed.status, 303, 'the old token is refused');
  assert.equal(replayed.location, '/dashboard/signin');

  // Sign-out everywhere: every session of that admin ends.
  const one = new DashClient(world, 'everywhere-1');
  const two = new DashClient(world, 'everywhere-2');
  await signInScan(one, a.dev);
  await signInScan(two, a.dev);
  const oneToken = one.session;
  const e = await one.post('/dashboard/signout-everywhere');
  assert.equal(e.status, 303);
  assert.equal(e.location, '/dashboard/signin');
  for (const [name, t] of [['this', oneToken], ['the other', two.session]]) {
    const probe = new DashClient(world, 'probe');
    probe.jar.set('avow_session', t);
    const g = await probe.get('/dashboard');
    assert.equal(g.status, 303, `${name} session ended on the server`);
  }
  const g2 = await two.get('/dashboard');
  assert.equal(g2.location, '/dashboard/signin', 'the other browser is signed out');
  // The main client of A was signed out too: sign it in again for the tests after.
  await signInScan(a.client, a.dev);
});

// ---- invite links -----------------------------------------------------------------------------------------------

test('invite links: unknown → 404; used → "already used" and the claim refused', async () => {
  const a = orgs.A;
  const unknown = new DashClient(world, 'invite-unknown');
  const u = await unknown.get(`/dashboard/invite/${randomBytes(24).toString('base64url')}`);
  assert.equal(u.status, 404, `an unknown invite: ${u.status}`);
  assert.equal(tagsByTestId(u.body, 'invite-qr').length, 0);

  // A fresh invite, accepted.
  await a.client.page('/dashboard/admins');
  const inv = await dangerous(a.client, a.dev, '/dashboard/admins/invite', {
    display_name: 'Ivy Invitee', email: `ivy-${uniq()}@example.com`, role: 'admin',
  });
  assert.equal(inv.status, 200, `invite: ${inv.status} ${inv.location ?? ''}`);
  const link = testIdAttr(inv.body, 'invite-link', 'value');
  assert.ok(link?.startsWith(`${world.url}/dashboard/invite/`), `the link: ${link}`);
  const path = new URL(link).pathname;
  const code = path.split('/')[3];
  const invitee = new DashClient(world, 'invitee');
  const page = await invitee.page(path);
  const scan = scanPage(page, 'invite-qr');
  assert.ok(scan.url && scan.waitUrl && scan.claimUrl, `invite page: ${JSON.stringify(scan)}`);
  // Claiming before the scan is refused.
  const early = await invitee.post(scan.claimUrl);
  assert.ok(early.status >= 400, `claimed before the scan: ${early.status} ${early.location ?? ''}`);
  assert.equal(invitee.session, null);
  const ivy = await world.device('ivy-phone');
  await scanOk(ivy, scan.url);
  await waitScan(invitee, scan.waitUrl);
  await claim(invitee, scan.claimUrl);

  // Used: the page says so, the QR is gone, a second claim and a second scan are refused.
  const later = new DashClient(world, 'invite-later');
  const used = await later.get(path);
  assert.ok(used.status === 200 || used.status === 410 || used.status === 409, `a used invite: ${used.status}`);
  assert.match(used.body, /already (been )?used/i, 'the page says the link was used');
  assert.equal(tagsByTestId(used.body, 'invite-qr').length, 0, 'no QR on a used invite');
  const again = await later.post(`/dashboard/invite/${code}/claim`);
  assert.ok(again.status >= 400, `a used invite claimed again: ${again.status} ${again.location ?? ''}`);
  assert.equal(later.session, null);
  const other = await world.device('other-phone');
  const rescan = await other.scanRaw(scan.url);
  assert.notEqual(rescan.code, 0, 'scanning a used invite fails');
});

test('invite links: an expired link shows "expired" and cannot be claimed or scanned', async (t) => {
  if (!canTimeTravel()) {
    t.skip(`${SQLITE3} not found (apt-get install sqlite3): avowd has no test clock, so the invite cannot be aged`);
    return;
  }
  const a = orgs.A;
  await a.client.page('/dashboard/admins');
  const inv = await dangerous(a.client, a.dev, '/dashboard/admins/invite', {
    display_name: 'Late Invitee', email: `late-${uniq()}@example.com`, role: 'admin',
  });
  assert.equal(inv.status, 200);
  const link = testIdAttr(inv.body, 'invite-link', 'value');
  const path = new URL(link).pathname;
  const late = new DashClient(world, 'late');
  const open = await late.page(path);
  const scan = scanPage(open, 'invite-qr');
  await expireInvites(world);
  const r = await late.get(path);
  assert.ok(r.status >= 400, `an expired invite page: ${r.status}`);
  assert.match(r.body, /expired/i, 'the page says the link expired');
  assert.equal(tagsByTestId(r.body, 'invite-qr').length, 0, 'no QR');
  const dev = await world.device('late-phone');
  const scanned = await dev.scanRaw(scan.url);
  assert.notEqual(scanned.code, 0, 'scanning an expired invite fails');
  const claimed = await late.post(`/dashboard/invite/${path.split('/')[3]}/claim`);
  assert.ok(claimed.status >= 400, `an expired invite claimed: ${claimed.status}`);
  assert.equal(late.session, null);
  // The expired invite's page renders the message, and A's other invite (from the setup) expired with it.
  assert.match((await late.get(new URL(a.inviteUrl).pathname)).body, /expired/i);
});

test('re-auth: without a push approved in 5 minutes, dangerous actions redirect and change nothing', async (t) => {
  if (!canTimeTravel()) {
    t.skip(`${SQLITE3} not found (apt-get install sqlite3): sessions cannot be aged past the re-auth window`);
    return;
  }
  const b = orgs.B;
  const c = b.client;
  await c.page('/dashboard/admins');
  const unchanged = await snapshot(b);
  await ageSessions(world, 600);
  const posts = [
    [`/dashboard/integrations/${b.integration.id}/delete`, {}, `/dashboard/integrations/${b.integration.id}`],
    [`/dashboard/users/${b.userId}/reset`, {}, `/dashboard/users/${b.userId}`],
    [`/dashboard/devices/${b.deviceId}/revoke`, {}, '/dashboard/devices'],
    [
      '/dashboard/admins/invite',
      { display_name: 'No Reauth', email: `noreauth-${uniq()}@example.com`, role: 'admin' },
      '/dashboard/admins',
    ],
    [`/dashboard/admins/${b.invitedAdminId}/remove`, {}, '/dashboard/admins'],
  ];
  const failures = [];
  for (const [p, fields, page] of posts) {
    const r = await c.post(p, fields);
    const want = `/dashboard/reauth?next=${encodeURIComponent(page)}`;
    if (r.status !== 303 || r.location !== want)
      failures.push(`POST ${p}: ${r.status} ${r.location ?? ''} (want 303 ${want})`);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(await snapshot(b), unchanged, 'nothing changed');
  // Safe actions still go through without a push.
  const lock = await c.post(`/dashboard/users/${b.userId}/lock`);
  assert.equal(lock.status, 303, 'lock needs no re-auth');
  await c.post(`/dashboard/users/${b.userId}/unlock`);
  // The re-auth page's target stays on this dashboard (no open redirect).
  for (const next of ['https://evil.example/', '//evil.example/', '/dashboard/../../evil', 'javascript:alert(1)']) {
    const page = await c.page(`/dashboard/reauth?next=${encodeURIComponent(next)}`);
    const field = fieldValue(page, 'next');
    const lands = field === null ? null : new URL(field, world.url);
    const here = field === null || (field.startsWith('/') && lands.origin === new URL(world.url).origin);
    assert.ok(here, `next=${next} → ${field}`);
  }
  const r = await c.post('/dashboard/reauth', { next: 'https://evil.example/' });
  assert.equal(r.status, 200);
  assert.ok(!r.body.includes('evil.example'), 'the push_wait page carries no foreign next');
});

// ---- XSS --------------------------------------------------------------------------------------------------------

let hostile; // org C, every name hostile; used by the browser check below

test('stored XSS: hostile org, admin, integration, device, user, invitee names are shown escaped', async () => {
  const user = newUser();
  user.name = `User ${XSS_SCRIPT}`;
  hostile = await makeOrg('C', {
    orgName: `Org ${XSS_SCRIPT}`,
    adminName: `Admin ${XSS_IMG}`,
    ownerDevice: `Owner ${XSS_SCRIPT}`,
    integrationName: `Int ${XSS_SCRIPT} ${XSS_IMG}`,
    userDevice: `Phone ${XSS_IMG}`,
    inviteeName: `Invitee ${XSS_SCRIPT}`,
    user,
  });
  const c = hostile.client;
  const both = [XSS_SCRIPT, XSS_IMG];
  const pages = {
    '/dashboard': [`Org ${XSS_SCRIPT}`, `Admin ${XSS_IMG}`],
    '/dashboard/integrations': [`Int ${XSS_SCRIPT} ${XSS_IMG}`],
    [`/dashboard/integrations/${hostile.integration.id}`]: [`Int ${XSS_SCRIPT} ${XSS_IMG}`],
    [`/dashboard/integrations/${hostile.integration.id}/edit`]: [`Int ${XSS_SCRIPT} ${XSS_IMG}`],
    '/dashboard/users': [`User ${XSS_SCRIPT}`],
    [`/dashboard/users/${hostile.userId}`]: [`Phone ${XSS_IMG}`, `User ${XSS_SCRIPT}`],
    '/dashboard/devices': [`Phone ${XSS_IMG}`],
    '/dashboard/admins': [`Admin ${XSS_IMG}`, `Invitee ${XSS_SCRIPT}`],
    '/dashboard/audit': [],
    '/dashboard/settings': [`Org ${XSS_SCRIPT}`],
    // Reflected: the search box, the audit filters, the re-auth target.
    [`/dashboard/users?q=${encodeURIComponent(XSS_IMG)}`]: [XSS_IMG],
    [`/dashboard/audit?kind=${encodeURIComponent(XSS_SCRIPT)}&user=${encodeURIComponent(XSS_IMG)}`]: [],
    [`/dashboard/reauth?next=${encodeURIComponent(`/dashboard/${XSS_IMG}`)}`]: [],
  };
  const failures = [];
  for (const [p, shown] of Object.entries(pages)) {
    const r = await c.get(p);
    if (r.status >= 500) failures.push(`GET ${p}: ${r.status}`);
    try {
      assertEscaped(r.body, both, `GET ${p}`, { shown: false });
      for (const s of shown)
        assert.ok(r.body.includes(escapeHtml(s)), `GET ${p} shows ${JSON.stringify(s)} escaped`);
    } catch (e) {
      failures.push(e.message);
    }
  }
  // The user's display name (from the Entra hint) wherever it is shown.
  const users = await c.page('/dashboard/users');
  assertEscaped(users, both, 'users', { shown: false });
  // Refilled forms after a validation error.
  const bad = await c.post('/dashboard/integrations', { name: XSS_IMG, directory_id: XSS_SCRIPT, app_id: '' });
  assert.equal(bad.status, 422, `an invalid integration: ${bad.status}`);
  assertEscaped(bad.body, [XSS_IMG], 'the refilled integration form');
  assert.doesNotMatch(bad.body, /<script>alert/);
  const anon = new DashClient(world, 'xss-anon');
  await anon.page('/dashboard/signup');
  const hostileForm = { org_name: XSS_SCRIPT, display_name: XSS_IMG, email: 'not an email' };
  const su = await anon.post('/dashboard/signup', hostileForm);
  assert.equal(su.status, 422, `an invalid sign-up: ${su.status}`);
  assertEscaped(su.body, both, 'the refilled sign-up form');
  // The invite page an invitee opens names the org.
  const invPage = await new DashClient(world, 'xss-invitee').get(new URL(hostile.inviteUrl).pathname);
  assertEscaped(invPage.body, [XSS_SCRIPT], 'the invite page');
  assert.deepEqual(failures, []);
});

test('stored XSS in a real browser: no dialog, no CSP violation on any of the hostile org\'s pages', async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  assert.ok(hostile, 'the hostile org exists (previous test)');
  const browser = await launchBrowser();
  const dir = await artifactsDir();
  for (const f of await readdir(dir)) if (f.startsWith('xss-')) await rm(join(dir, f), { force: true });
  try {
    const s = await openSession(browser, 'xss');
    const dialogs = [];
    s.page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()} on ${s.page.url()}`);
      d.dismiss().catch(() => {});
    });
    const host = new URL(world.url).hostname;
    await s.context.addCookies([
      {
        name: 'avow_session',
        value: hostile.client.session,
        domain: host,
        path: '/dashboard',
        httpOnly: true,
        secure: true,
        sameSite: 'Lax',
      },
    ]);
    const pages = [
      '/dashboard',
      '/dashboard/integrations',
      `/dashboard/integrations/${hostile.integration.id}`,
      `/dashboard/integrations/${hostile.integration.id}/edit`,
      '/dashboard/users',
      `/dashboard/users/${hostile.userId}`,
      '/dashboard/devices',
      '/dashboard/admins',
      '/dashboard/audit',
      `/dashboard/users?q=${encodeURIComponent(XSS_IMG)}`,
    ];
    for (const p of pages) {
      const r = await s.page.goto(world.url + p);
      assert.equal(r.status(), 200, p);
      await s.page.waitForTimeout(100);
      await s.shot(p.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 40) || 'overview');
    }
    const inv = await s.page.goto(hostile.inviteUrl);
    assert.ok(inv.status() < 500);
    await s.shot('invite');
    assert.deepEqual(dialogs, [], 'no script ran');
    assert.deepEqual(s.problems(), []);
    await s.close();
  } finally {
    await browser.close();
  }
});
