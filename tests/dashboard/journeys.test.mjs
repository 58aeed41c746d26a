// The admin dashboard in a real browser (headless Chromium via playwright-core), journey by journey, against one
// avowd with no org: sign-up (the ScanCode read back from a screenshot and scanned with the `avow`
// authenticator), sign-in by scan and by push with number matching, sign-out and sign-out everywhere,
// integrations (validation, copy buttons, edit, disable, delete with re-authentication, a successful Entra
// sign-in seen), users and devices (search, lock, reset binding, rename, revoke), admins (invite by link, remove,
// the last owner kept), settings (3-digit numbers reach the Entra page) and, last, the audit log of all that
// (filter, CSV and JSON export). Every page is screenshotted (AVOW_ARTIFACTS_DIR) and must behave: no console
// error, no CSP violation, no request beyond loopback, no dialog. The tests run in order and share the org they build.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { artifactsDir, launchBrowser, openSession, readQr, skipReason } from '../browser/browser.mjs';
import { removeTempDirs } from '../e2e/helpers.mjs';
import {
  DashClient,
  ageSessions,
  approvePush,
  approveWithCli,
  beginSignIn,
  canTimeTravel,
  entraBind,
  finishApproved,
  scanOk,
  startDashWorld,
} from './dash.mjs';

const SQLITE3_MISSING = 'sqlite3 not found (apt-get install sqlite3): sessions cannot be aged past the re-auth window';
const skip = skipReason() ?? false; // throws when AVOW_REQUIRE_BROWSER is set and the browser is missing
if (skip) console.log(`# skipping the dashboard browser tests: ${skip}`);

let browser;
let world;
// What the journeys build and share.
const org = {
  name: 'Contoso Ltd',
  ownerName: 'Grace Owner',
  ownerEmail: 'grace@contoso.example',
  owner: null, // the owner's `avow` device
  main: null, // the owner's main browser session
  integration: null, // { id, name, client_id, directory_id, app_id }
  alice: null, // { user, dev }: an Entra user bound through the integration
  bob: null,
};
const sessions = [];

before(async () => {
  if (skip) return;
  [browser, world] = await Promise.all([launchBrowser(), startDashWorld()]);
  // This suite's screenshots of an earlier run go first, so the directory shows this run only.
  const dir = await artifactsDir();
  const mine = /^(owner|signup-closed|signin-scan|signin-push|signin-decoy|invitee)-/;
  for (const f of await readdir(dir)) if (mine.test(f)) await rm(join(dir, f), { force: true });
  console.log(`# screenshots: ${dir}`);
});
after(async () => {
  for (const s of sessions) await s.close().catch(() => {});
  if (browser) await browser.close();
  if (world) await world.stop();
  await removeTempDirs();
});

// ---- steps ------------------------------------------------------------------------------------------------------

const path = (s) => new URL(s.page.url()).pathname;

// A browser window on the dashboard that fails on any dialog; its problems are checked per test.
async function open(name) {
  const s = await openSession(browser, name);
  s.dialogs = [];
  s.seen = 0;
  // Documents that answered 4xx on purpose (a 422 form with errors, a 404 for a deleted object): Chromium logs
  // "Failed to load resource" for them, which is no fault of the page.
  s.errorDocuments = new Set();
  s.page.on('response', (res) => {
    if (res.status() >= 400 && res.request().isNavigationRequest()) s.errorDocuments.add(res.url());
  });
  s.page.on('dialog', (d) => {
    s.dialogs.push(`${d.type()}: ${d.message()} on ${s.page.url()}`);
    d.dismiss().catch(() => {});
  });
  s.page.setDefaultTimeout(15000);
  await s.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(world.url).origin });
  sessions.push(s);
  return s;
}

function newProblems(s) {
  const expected = (p) => {
    const m = /^console error: Failed to load resource: the server responded with a status of 4\d\d .* @ (\S+)$/;
    const hit = m.exec(p);
    return hit && s.errorDocuments.has(hit[1]);
  };
  const all = [...s.problems().filter((p) => !expected(p)), ...s.dialogs.map((d) => `dialog: ${d}`)];
  const fresh = all.slice(s.seen);
  s.seen = all.length;
  return fresh;
}

async function whereIs(s) {
  const text = await s.page
    .locator('body')
    .innerText({ timeout: 2000 })
    .catch(() => '(no body)');
  return `${s.name} is at ${s.page.url()} showing: ${text.replace(/\s+/g, ' ').trim().slice(0, 400)}`;
}

// Runs a journey; on failure adds where each window is (and a screenshot); then checks every window behaved.
async function journey(windows, fn) {
  try {
    await fn();
  } catch (e) {
    for (const s of windows()) {
      await s.shot('failure').catch(() => {});
      e.message += `\n${await whereIs(s)}`;
    }
    throw e;
  }
  for (const s of windows()) assert.deepEqual(newProblems(s), [], `${s.name}: the pages behaved`);
}

// Clicks (the submit button, when the data-testid names a whole form) and waits for the page that loads.
async function submit(s, locator) {
  const tag = await locator.evaluate((e) => e.tagName);
  const target = tag === 'FORM' ? locator.locator('button, [type="submit"]').first() : locator;
  const nav = s.page.waitForNavigation({ waitUntil: 'load', timeout: 20000 });
  await target.click();
  await nav;
}

async function waitPath(s, want, timeout = 20000) {
  const ok = typeof want === 'string' ? (p) => p === want : typeof want === 'function' ? want : (p) => want.test(p);
  await s.page.waitForURL((u) => ok(u.pathname), {
    timeout,
    waitUntil: 'load',
  });
}

// The QR in the element [testid], read back from a screenshot of it, must say what its data-url says.
async function readQrAt(s, testid) {
  const el = s.page.getByTestId(testid);
  await el.waitFor({ state: 'visible' });
  const box = await el.locator('svg').first().boundingBox();
  const square = box && box.width >= 150 && Math.abs(box.width - box.height) < 2;
  assert.ok(square, `a large square QR: ${JSON.stringify(box)}`);
  const png = await el.screenshot({ path: join(await artifactsDir(), `${s.name}-${testid}.png`) });
  const decoded = readQr(png);
  const url = await el.getAttribute('data-url');
  assert.ok(decoded, `the QR in [${testid}] decodes`);
  assert.equal(decoded, url, 'the QR says what data-url says');
  return url;
}

async function text(s, testid) {
  return (await s.page.getByTestId(testid).first().textContent()).trim();
}

// The number shown on a push_wait page; the device approves it.
async function approveShownNumber(s, dev) {
  const el = s.page.getByTestId('push-number');
  await el.waitFor({ state: 'visible', timeout: 20000 });
  const raw = await el.textContent(); // may start with a screen-reader prefix ("Number to tap: ")
  const shown = /(\d+)\s*$/.exec(raw)?.[1] ?? '';
  assert.match(shown, /^\d{2,3}$/, `a number to tap: ${raw}`);
  const size = await el.evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(size >= 32, `the number is big: ${size}px`);
  const status = s.page.getByTestId('push-status');
  const live = (await status.getAttribute('aria-live')) || (await status.getAttribute('role')) === 'status';
  assert.ok(live, '[push-status] is a live region');
  await s.shot('push-number');
  await approvePush(dev, Number(shown));
  return Number(shown);
}

// When the click led to /dashboard/reauth: send the push, approve it on the phone, back to `next`. → whether
// re-authentication was asked.
async function reauthIfAsked(s, dev) {
  if (path(s) !== '/dashboard/reauth') return false;
  await s.shot('reauth');
  const next = new URL(s.page.url()).searchParams.get('next');
  assert.ok(next?.startsWith('/dashboard'), `reauth names where to go back: ${next}`);
  await submit(s, s.page.getByTestId('reauth-push'));
  await approveShownNumber(s, dev);
  await waitPath(s, (p) => !p.startsWith('/dashboard/reauth'));
  assert.equal(path(s), next.split('?')[0], 'back where the admin was');
  return true;
}

// A dangerous button: click; when re-authentication is asked, do it and click again (`again` re-finds or
// re-fills). → whether re-authentication was asked
async function clickDangerous(s, dev, locator, again = async () => locator()) {
  await submit(s, locator());
  if (!(await reauthIfAsked(s, dev))) return false;
  const l = await again();
  await submit(s, l);
  return true;
}

// The next dangerous action must ask for re-authentication: the sessions are aged past the 5-minute window
// (sign-in itself counts as a re-authentication). → whether that could be arranged (sqlite3 present)
async function staleSession() {
  if (!canTimeTravel()) return false;
  await ageSessions(world, 600);
  return true;
}

async function signInByScan(s, dev) {
  await s.page.goto(`${world.url}/dashboard`);
  assert.equal(path(s), '/dashboard/signin', 'not signed in: the sign-in page');
  await s.shot('signin');
  const url = await readQrAt(s, 'signin-qr');
  await scanOk(dev, url);
  await waitPath(s, '/dashboard');
  await s.shot('overview');
}

// Switches the browser's own form checks off: the server's validation is under test.
function browserChecksOff(s) {
  return s.page.evaluate(() => document.querySelectorAll('form').forEach((f) => (f.noValidate = true)));
}

// What the last copy button put on the clipboard (waits for it).
async function clipboard(s) {
  const filled = () => navigator.clipboard.readText().then((t) => t.length > 0);
  await s.page.waitForFunction(filled, null, { timeout: 5000 });
  return s.page.evaluate(() => navigator.clipboard.readText());
}

async function bodyText(s) {
  return (await s.page.locator('body').innerText()).replace(/\s+/g, ' ');
}

// Checks the field's error is shown next to it and tied to it.
async function fieldError(s, field, inputTestId) {
  const err = s.page.locator(`#error-${field}`);
  await err.waitFor({ state: 'visible' });
  assert.ok((await err.textContent()).trim().length > 0, `#error-${field} says something`);
  const input = inputTestId ? s.page.getByTestId(inputTestId) : s.page.locator(`[name="${field}"]`);
  const described = (await input.getAttribute('aria-describedby')) ?? '';
  assert.ok(described.split(/\s+/).includes(`error-${field}`), `${field}: aria-describedby names #error-${field}`);
}

// ---- journeys ---------------------------------------------------------------------------------------------------

const J1 = '1. sign-up: org, name, email → scan the QR from a screenshot → the overview; then sign-up is closed';
test(J1, { skip }, async () => {
  const s = await open('owner');
  org.main = s;
  let other;
  await journey(() => [s, other].filter(Boolean), async () => {
    await s.page.goto(`${world.url}/dashboard`);
    assert.equal(path(s), '/dashboard/signin', 'signed out: /dashboard sends to sign-in');
    assert.ok(await s.page.getByTestId('signup-link').isVisible(), 'the sign-in page offers sign-up');
    await submit(s, s.page.getByTestId('signup-link'));
    assert.equal(path(s), '/dashboard/signup');
    await s.shot('signup');
    assert.ok(await s.page.getByLabel(/Email \(for contact\)/).isVisible(), 'email labelled "Email (for contact)"');

    // Validation next to the fields (the browser's own checks switched off: the server's are under test).
    const noValidate = () => browserChecksOff(s);
    await s.page.getByTestId('signup-org').fill('');
    await s.page.getByTestId('signup-name').fill(org.ownerName);
    await s.page.getByTestId('signup-email').fill(org.ownerEmail);
    await noValidate();
    await submit(s, s.page.getByTestId('signup-submit'));
    await s.shot('signup-error-org');
    await fieldError(s, 'org_name', 'signup-org');
    assert.equal(await s.page.getByTestId('signup-name').inputValue(), org.ownerName, 'the form is refilled');
    assert.equal(await s.page.getByTestId('signup-email').inputValue(), org.ownerEmail, 'the form is refilled');
    await s.page.getByTestId('signup-org').fill(org.name);
    await s.page.getByTestId('signup-email').fill('not-an-email');
    await noValidate();
    await submit(s, s.page.getByTestId('signup-submit'));
    await s.shot('signup-error-email');
    await fieldError(s, 'email', 'signup-email');
    assert.equal(await s.page.getByTestId('signup-org').inputValue(), org.name, 'the form is refilled');

    await s.page.getByTestId('signup-email').fill(org.ownerEmail);
    await submit(s, s.page.getByTestId('signup-submit'));
    const url = await readQrAt(s, 'scan-qr');
    await s.shot('scan-wait');
    org.owner = await world.device('grace-phone');
    await scanOk(org.owner, url);
    await waitPath(s, '/dashboard'); // the page moved on by itself
    await s.shot('overview');
    assert.ok((await bodyText(s)).includes(org.name), 'the overview names the org');
    assert.ok((await bodyText(s)).includes(org.ownerName), 'and the admin');
    assert.ok(await s.page.getByTestId('create-integration').isVisible(), 'the empty state says what to do next');

    // A second sign-up (another browser) finds sign-up closed.
    other = await open('signup-closed');
    await other.page.goto(`${world.url}/dashboard/signup`);
    await other.shot('signup-closed');
    assert.equal(await other.page.getByTestId('signup-org').count(), 0, 'no sign-up form');
    assert.match(await bodyText(other), /closed|not open|invit/i, 'the page says sign-up is closed');
    // And the server refuses the POST itself.
    const c = new DashClient(world, 'closed');
    await c.page('/dashboard/signin');
    const r = await c.post('/dashboard/signup', { org_name: 'Second', display_name: 'Eve', email: 'eve@example.com' });
    assert.ok(!/data-testid="?scan-qr/.test(r.body), `a closed sign-up issues no ScanCode (${r.status})`);
    await other.close();
  });
});

test('2. sign-in by scan and by push with number matching; sign-out; sign-out everywhere', { skip }, async () => {
  const byScan = await open('signin-scan');
  const byPush = await open('signin-push');
  const decoy = await open('signin-decoy');
  await journey(() => [byScan, byPush, decoy, org.main], async () => {
    await signInByScan(byScan, org.owner);
    assert.ok((await bodyText(byScan)).includes(org.name));

    await byPush.page.goto(`${world.url}/dashboard/signin`);
    await byPush.page.getByTestId('signin-email').fill(org.ownerEmail);
    await byPush.shot('signin-email');
    await submit(byPush, byPush.page.getByTestId('signin-push'));
    await approveShownNumber(byPush, org.owner);
    await waitPath(byPush, '/dashboard');
    await byPush.shot('overview');

    // An unknown address gets a number too (a decoy: the page does not tell who is an admin).
    await decoy.page.goto(`${world.url}/dashboard/signin`);
    await decoy.page.getByTestId('signin-email').fill('nobody@contoso.example');
    await submit(decoy, decoy.page.getByTestId('signin-push'));
    await decoy.page.getByTestId('push-number').waitFor({ state: 'visible' });
    assert.match(await text(decoy, 'push-number'), /\d{2,3}$/);
    await decoy.shot('decoy-number');
    await decoy.close();

    // Sign out: this window only.
    await submit(byPush, byPush.page.getByRole('button', { name: 'Sign out', exact: true }));
    assert.equal(path(byPush), '/dashboard/signin');
    await byPush.page.goto(`${world.url}/dashboard/integrations`);
    assert.equal(path(byPush), '/dashboard/signin', 'signed out');
    await byPush.shot('signed-out');
    await byScan.page.reload();
    assert.equal(path(byScan), '/dashboard', 'the other window is still signed in');

    // Sign out everywhere: the main window (signed in at sign-up) is signed out too.
    await submit(byScan, byScan.page.getByRole('button', { name: 'Sign out everywhere' }));
    assert.equal(path(byScan), '/dashboard/signin');
    await org.main.page.goto(`${world.url}/dashboard`);
    assert.equal(path(org.main), '/dashboard/signin', 'sign-out everywhere ended the other session');
    await org.main.shot('signed-out-everywhere');
    await signInByScan(org.main, org.owner);
    await byScan.close();
    await byPush.close();
  });
});

const J3 = '3. integrations: empty state, validation, detail, copy buttons, edit, disable/enable, delete (re-auth)';
test(J3, { skip }, async () => {
  const s = org.main;
  await journey(() => [s], async () => {
    await s.page.goto(`${world.url}/dashboard/integrations`);
    await s.shot('integrations-empty');
    assert.equal(await s.page.getByTestId('integration-row').count(), 0);
    await submit(s, s.page.getByTestId('new-integration'));
    assert.equal(path(s), '/dashboard/integrations/new');
    await s.shot('integration-new');
    const page = await bodyText(s);
    assert.ok(page.includes('Entra admin center → Identity → Overview → Tenant ID'), 'the Directory ID hint');

    const directoryId = randomUUID();
    const appId = randomUUID();
    await s.page.getByTestId('field-name').fill('Contoso Entra');
    await s.page.getByTestId('field-directory-id').fill('not-a-guid');
    await s.page.getByTestId('field-app-id').fill(appId);
    await browserChecksOff(s);
    await submit(s, s.page.getByTestId('save-integration'));
    await s.shot('integration-errors');
    await fieldError(s, 'directory_id', 'field-directory-id');
    assert.equal(await s.page.getByTestId('field-directory-id').inputValue(), 'not-a-guid', 'refilled');
    assert.equal(await s.page.getByTestId('field-name').inputValue(), 'Contoso Entra', 'refilled');

    await s.page.getByTestId('field-directory-id').fill(directoryId);
    await submit(s, s.page.getByTestId('save-integration'));
    assert.match(path(s), /^\/dashboard\/integrations\/[^/]+$/, 'the detail page');
    const id = path(s).split('/')[3];
    await s.shot('integration-detail');

    const clientId = await text(s, 'eam-client-id');
    assert.match(clientId, /^[0-9a-f-]{36}$/i, `a client id: ${clientId}`);
    const discovery = `${world.url}/entra/${clientId}/.well-known/openid-configuration`;
    assert.equal(await text(s, 'eam-discovery-url'), discovery);
    assert.equal(await text(s, 'eam-app-id'), appId);
    const cc = JSON.parse(await text(s, 'custom-control-json'));
    assert.equal(cc.ClientId, clientId);
    assert.equal(cc.DiscoveryUrl, discovery);
    assert.match(await text(s, 'success-status'), /No successful sign-in yet/);
    const all = await bodyText(s);
    assert.ok(all.includes(directoryId), 'the detail shows the Directory ID');

    // Copy buttons put the exact text on the clipboard.
    for (const testid of ['eam-client-id', 'eam-discovery-url', 'eam-app-id', 'custom-control-json']) {
      const el = s.page.getByTestId(testid);
      const elId = await el.getAttribute('id');
      assert.ok(elId, `[${testid}] has an id for its copy button`);
      const button = s.page.locator(`[data-copy-target="${elId}"]`);
      assert.equal(await button.count(), 1, `one copy button for #${elId}`);
      await s.page.evaluate(() => navigator.clipboard.writeText(''));
      await button.click();
      const copied = await clipboard(s);
      const shown = (await el.textContent()).trim();
      if (testid === 'custom-control-json') assert.deepEqual(JSON.parse(copied), JSON.parse(shown));
      else assert.equal(copied.trim(), shown, `copy [${testid}]`);
    }
    await s.shot('integration-copied');

    // Edit.
    await submit(s, s.page.getByTestId('edit-integration'));
    assert.equal(path(s), `/dashboard/integrations/${id}/edit`);
    assert.equal(await s.page.getByTestId('field-name').inputValue(), 'Contoso Entra');
    assert.equal(await s.page.getByTestId('field-directory-id').inputValue(), directoryId);
    await s.shot('integration-edit');
    await s.page.getByTestId('field-name').fill('Contoso Entra (prod)');
    await submit(s, s.page.getByTestId('save-integration'));
    assert.equal(path(s), `/dashboard/integrations/${id}`);
    assert.ok((await bodyText(s)).includes('Contoso Entra (prod)'));
    org.integration = {
      id,
      name: 'Contoso Entra (prod)',
      client_id: clientId,
      directory_id: directoryId,
      app_id: appId,
    };

    // Disable, enable.
    await submit(s, s.page.getByTestId('disable-integration'));
    await s.page.getByTestId('enable-integration').waitFor({ state: 'visible' });
    await s.shot('integration-disabled');
    await submit(s, s.page.getByTestId('enable-integration'));
    await s.page.getByTestId('disable-integration').waitFor({ state: 'visible' });

    // The list shows it.
    await s.page.goto(`${world.url}/dashboard/integrations`);
    assert.equal(await s.page.getByTestId('integration-row').count(), 1);
    assert.ok((await s.page.getByTestId('integration-row').textContent()).includes('Contoso Entra (prod)'));
    await s.shot('integrations');

    // Delete another one: re-authentication is the confirmation. A session counts as re-authenticated for
    // 5 minutes after its sign-in (there is no test clock to age it), so the re-auth page is walked through
    // first on its own: the push approved on the phone brings the admin back to `next`.
    await submit(s, s.page.getByTestId('new-integration'));
    await s.page.getByTestId('field-name').fill('Throwaway');
    await s.page.getByTestId('field-directory-id').fill(randomUUID());
    await submit(s, s.page.getByTestId('save-integration'));
    const throwaway = path(s);
    const stale = await staleSession();
    if (!stale) {
      console.log(`# ${SQLITE3_MISSING}: the re-auth page is walked on its own`);
      await s.page.goto(`${world.url}/dashboard/reauth?next=${encodeURIComponent(throwaway)}`);
      assert.ok(await reauthIfAsked(s, org.owner), 'the re-auth page');
      assert.equal(path(s), throwaway);
    }
    const asked = await clickDangerous(s, org.owner, () => s.page.getByTestId('delete-integration'));
    if (stale) assert.ok(asked, 'deleting asked for re-authentication');
    assert.equal(path(s), '/dashboard/integrations');
    assert.equal(await s.page.getByTestId('integration-row').count(), 1, 'deleted');
    assert.ok(!(await bodyText(s)).includes('Throwaway'));
    await s.shot('integration-deleted');
    const gone = await s.page.goto(`${world.url}${throwaway}`);
    assert.equal(gone.status(), 404);

    // A real sign-in through it (the simulator as Entra): the detail page says Avow saw it succeed.
    org.alice = await entraBind(world, org.integration, 'alice-phone');
    await s.page.goto(`${world.url}/dashboard/integrations/${id}`);
    assert.match(await text(s, 'success-status'), /seen a successful sign-in/i);
    await s.shot('integration-success-seen');
  });
});

test('4. users and devices: list, search, detail, lock/unlock, reset binding, rename, revoke', { skip }, async () => {
  const s = org.main;
  await journey(() => [s], async () => {
    assert.ok(org.alice, 'journey 3 bound a user');
    org.bob = await entraBind(world, org.integration, 'bob-phone');
    const { alice, bob } = org;
    await s.page.goto(`${world.url}/dashboard/users`);
    await s.shot('users');
    const rowsText = await s.page.getByTestId('user-row').allTextContents();
    assert.equal(rowsText.length, 2, 'two users');
    assert.ok(rowsText.some((t) => t.includes(alice.user.username)));
    assert.ok(rowsText.some((t) => t.includes(bob.user.username)));

    await s.page.getByTestId('user-search').fill(alice.user.username);
    await Promise.all([s.page.waitForNavigation(), s.page.getByTestId('user-search').press('Enter')]);
    assert.equal(new URL(s.page.url()).searchParams.get('q'), alice.user.username);
    await s.shot('users-search');
    const found = await s.page.getByTestId('user-row').allTextContents();
    assert.equal(found.length, 1, 'the search finds one');
    assert.ok(found[0].includes(alice.user.username));

    await submit(s, s.page.getByTestId('user-row').getByRole('link').first());
    assert.match(path(s), /^\/dashboard\/users\/[^/]+$/);
    const userPath = path(s);
    org.aliceId = userPath.split('/')[3];
    await s.shot('user-detail');
    let page = await bodyText(s);
    assert.ok(page.includes(alice.user.username));
    assert.ok(page.includes('alice-phone'), 'the device');
    assert.ok(page.includes(org.integration.name), 'the recent challenge names the integration');

    await submit(s, s.page.getByTestId('lock-user'));
    await s.page.getByTestId('unlock-user').waitFor({ state: 'visible' });
    assert.match(await bodyText(s), /locked/i);
    await s.shot('user-locked');
    await submit(s, s.page.getByTestId('unlock-user'));
    await s.page.getByTestId('lock-user').waitFor({ state: 'visible' });

    // Reset the binding (re-auth): the next sign-in shows a ScanCode; she binds again.
    let stale = await staleSession();
    let asked = await clickDangerous(s, org.owner, () => s.page.getByTestId('reset-binding'));
    if (stale) assert.ok(asked, 'resetting asked for re-authentication');
    assert.equal(path(s), userPath);
    await s.shot('user-reset');
    const w = world.entra(org.integration);
    const flow = await beginSignIn(w, alice.user);
    assert.equal(flow.status, 200);
    assert.ok(flow.page?.scanUrl, 'after a reset the sign-in shows a ScanCode');
    await approveWithCli(w, alice.dev, flow, alice.user);
    await finishApproved(w, flow);

    // Devices: rename Bob's, then revoke it.
    await s.page.goto(`${world.url}/dashboard/devices`);
    await s.shot('devices');
    page = await bodyText(s);
    assert.ok(page.includes(bob.user.username), 'a device lists its users');
    assert.ok((await s.page.getByTestId('rename-device').count()) > 0, '[rename-device] fields');
    const forms = s.page.locator('form[action$="/rename"]');
    let action = null;
    for (let i = 0; i < (await forms.count()); i++) {
      const input = forms.nth(i).locator('input[name="name"]');
      if ((await input.inputValue()) === 'bob-phone') {
        action = await forms.nth(i).getAttribute('action');
        await input.fill("Bob's work phone");
        await Promise.all([s.page.waitForNavigation(), input.press('Enter')]);
        break;
      }
    }
    assert.ok(action, 'a rename form for bob-phone');
    await s.shot('device-renamed');
    const names = await s.page.locator('input[name="name"]').evaluateAll((l) => l.map((e) => e.value));
    assert.ok(names.includes("Bob's work phone"), `renamed: ${names}`);
    const revoke = action.replace(/\/rename$/, '/revoke');
    const revokeButton = () => s.page.locator(`form[action="${revoke}"]`).locator('button, [type="submit"]').first();
    assert.equal(await s.page.getByTestId('revoke-device').count() > 0, true, '[revoke-device] buttons');
    stale = await staleSession();
    asked = await clickDangerous(s, org.owner, revokeButton, async () => {
      await s.page.goto(`${world.url}/dashboard/devices`);
      return revokeButton();
    });
    if (stale) assert.ok(asked, 'revoking asked for re-authentication');
    assert.equal(path(s), '/dashboard/devices');
    await s.shot('device-revoked');
    const stillActive = await s.page.locator(`form[action="${revoke}"]`).count();
    assert.ok(stillActive === 0 || /revoked/i.test(await bodyText(s)), 'the device is revoked');
    const next = await beginSignIn(w, bob.user);
    assert.ok(next.page?.scanUrl, "Bob's next sign-in shows a ScanCode");
  });
});

const J5 = '5. admins: invite by link, the invitee scans and lands on the dashboard, remove; the last owner stays';
test(J5, { skip }, async () => {
  const s = org.main;
  let invitee;
  await journey(() => [s, invitee].filter(Boolean), async () => {
    await s.page.goto(`${world.url}/dashboard/admins`);
    await s.shot('admins');
    assert.equal(await s.page.getByTestId('admin-row').count(), 1);
    const fill = async () => {
      await s.page.getByTestId('invite-name').fill('Ada Second');
      await s.page.getByTestId('invite-email').fill('ada@contoso.example');
      await s.page.getByTestId('invite-role').selectOption('owner');
      return s.page.getByTestId('invite-submit');
    };
    await fill();
    let stale = await staleSession();
    let asked = await clickDangerous(s, org.owner, () => s.page.getByTestId('invite-submit'), fill);
    if (stale) assert.ok(asked, 'inviting asked for re-authentication');
    const link = await s.page.getByTestId('invite-link').inputValue();
    assert.ok(link.startsWith(`${world.url}/dashboard/invite/`), `the link: ${link}`);
    await s.shot('invite-created');
    await s.page.evaluate(() => navigator.clipboard.writeText(''));
    await s.page.getByTestId('copy-invite').click();
    assert.equal((await clipboard(s)).trim(), link, 'copy-invite copies the link');

    invitee = await open('invitee');
    await invitee.page.goto(link);
    await invitee.shot('invite');
    const page = await bodyText(invitee);
    assert.ok(page.includes(org.name), 'the invite names the org');
    const url = await readQrAt(invitee, 'invite-qr');
    const ada = await world.device('ada-phone');
    await scanOk(ada, url);
    await waitPath(invitee, '/dashboard');
    await invitee.shot('invitee-overview');
    assert.ok((await bodyText(invitee)).includes(org.name));

    await s.page.goto(`${world.url}/dashboard/admins`);
    const rowsText = await s.page.getByTestId('admin-row').allTextContents();
    assert.equal(rowsText.length, 2, 'two admins');
    assert.ok(rowsText.some((t) => t.includes('Ada Second') && /active/i.test(t)), `Ada is active: ${rowsText}`);
    await s.shot('admins-two');

    // Ada (an owner) sees Grace's remove form: that names Grace's id, used below for the last-owner attempt.
    await invitee.page.goto(`${world.url}/dashboard/admins`);
    const graceRow = invitee.page.getByTestId('admin-row').filter({ hasText: org.ownerEmail });
    const graceRemove = await graceRow.locator('form[action$="/remove"]').getAttribute('action');
    assert.ok(graceRemove, "an owner may remove another owner: Grace's row has a remove form");

    // Grace removes Ada; Ada's session ends.
    const adaRow = () => s.page.getByTestId('admin-row').filter({ hasText: 'Ada Second' });
    stale = await staleSession();
    asked = await clickDangerous(s, org.owner, () => adaRow().getByTestId('remove-admin'), async () => {
      await s.page.goto(`${world.url}/dashboard/admins`);
      return adaRow().getByTestId('remove-admin');
    });
    if (stale) assert.ok(asked, 'removing an admin asked for re-authentication');
    assert.equal(path(s), '/dashboard/admins');
    await s.shot('admin-removed');
    const left = await s.page.getByTestId('admin-row').allTextContents();
    assert.ok(!left.some((t) => t.includes('Ada Second') && /active/i.test(t)), 'Ada is no longer an active admin');
    await invitee.page.goto(`${world.url}/dashboard`);
    assert.equal(path(invitee), '/dashboard/signin', "the removed admin's session ended");

    // Grace is the last owner now: removing her is refused with a message.
    const csrf = await s.page.locator('input[name="csrf"]').first().inputValue();
    const post = (action) =>
      s.page.evaluate(
        ({ action, csrf }) => {
          const f = document.createElement('form');
          f.method = 'post';
          f.action = action;
          const i = document.createElement('input');
          i.type = 'hidden';
          i.name = 'csrf';
          i.value = csrf;
          f.append(i);
          document.body.append(f);
          f.submit();
        },
        { action, csrf },
      );
    let nav = s.page.waitForNavigation();
    await post(graceRemove);
    await nav;
    if (await reauthIfAsked(s, org.owner)) {
      nav = s.page.waitForNavigation();
      await post(graceRemove);
      await nav;
    }
    await s.shot('last-owner-refused');
    assert.match(await bodyText(s), /last owner/i, 'the refusal says why');
    await s.page.goto(`${world.url}/dashboard/admins`);
    assert.equal(path(s), '/dashboard/admins', 'Grace is still signed in');
    await invitee.close();
  });
});

test('6. settings: bad values are refused next to the field; 3 digits reach the Entra page', { skip }, async () => {
  const s = org.main;
  await journey(() => [s], async () => {
    await s.page.goto(`${world.url}/dashboard/settings`);
    await s.shot('settings');
    assert.match(await bodyText(s), /Number matching is always on/);
    const field = (n) => s.page.locator(`[name="${n}"]`);
    await browserChecksOff(s);
    await field('number_digits').fill('5');
    await submit(s, s.page.getByTestId('settings-submit'));
    await s.shot('settings-error-digits');
    await fieldError(s, 'number_digits');
    assert.equal(await field('number_digits').inputValue(), '5', 'refilled');
    await browserChecksOff(s);
    await field('number_digits').fill('3');
    await field('challenge_ttl_seconds').fill('5');
    await submit(s, s.page.getByTestId('settings-submit'));
    await s.shot('settings-error-ttl');
    await fieldError(s, 'challenge_ttl_seconds');
    await browserChecksOff(s);

    await field('number_digits').fill('3');
    await field('challenge_ttl_seconds').fill('120');
    await submit(s, s.page.getByTestId('settings-submit'));
    await s.page.goto(`${world.url}/dashboard/settings`);
    assert.equal(await field('number_digits').inputValue(), '3', 'saved');
    await s.shot('settings-saved');

    const w = world.entra(org.integration);
    const flow = await beginSignIn(w, org.alice.user);
    assert.equal(flow.status, 200);
    assert.equal(flow.page?.scanUrl, null, 'Alice is bound');
    // A bound user's page shows the number at once.
    const shown = /data-testid="match-number"[^>]*>\s*(\d+)\s*</.exec(flow.body)?.[1];
    assert.match(shown ?? '(none)', /^\d{3}$/, `a 3-digit number on the Entra page: ${shown}`);
    await approveWithCli(w, org.alice.dev, flow, org.alice.user);
    await finishApproved(w, flow);
  });
});

test('7. audit log: the events above, filter by kind and integration, CSV and JSON export', { skip }, async () => {
  const s = org.main;
  await journey(() => [s], async () => {
    await s.page.goto(`${world.url}/dashboard/audit`);
    await s.shot('audit');
    const page = await s.page.getByTestId('audit-row').allTextContents();
    assert.ok(page.length >= 10 && page.length <= 50, `a page of events, newest first: ${page.length}`);
    assert.ok(page.join('\n').includes('settings.updated'), 'the settings change is among the latest');

    // By kind (the select offers families: "admin." = admin access).
    const filter = s.page.getByTestId('audit-filter');
    await filter.locator('select[name="kind"]').selectOption('admin.');
    await submit(s, filter.locator('button, [type="submit"]').first());
    assert.equal(new URL(s.page.url()).searchParams.get('kind'), 'admin.');
    await s.shot('audit-admin');
    const admin = (await s.page.getByTestId('audit-row').allTextContents()).join('\n');
    const adminKinds = ['admin.signup', 'admin.signin', 'admin.invited', 'admin.invite_accepted', 'admin.removed'];
    for (const k of [...adminKinds, 'admin.reauthenticated'])
      assert.ok(admin.includes(k), `the admin events show ${k}`);
    assert.ok(!/integration\.created|settings\.updated/.test(admin), 'only admin events');

    // By integration.
    await filter.locator('select[name="kind"]').selectOption('');
    await filter.locator('select[name="integration"]').selectOption(org.integration.id);
    await submit(s, filter.locator('button, [type="submit"]').first());
    await s.shot('audit-integration');
    const integ = await s.page.getByTestId('audit-row').allTextContents();
    // Rows name the integration (not its id).
    assert.ok(integ.length > 0 && integ.every((t) => t.includes(org.integration.name)), 'only that integration');
    assert.ok(integ.some((t) => t.includes('signin.finished')), "the users' sign-ins through it");

    // Exports: everything (up to 10000 rows), same columns.
    await s.page.goto(`${world.url}/dashboard/audit`);
    const [download] = await Promise.all([s.page.waitForEvent('download'), s.page.getByTestId('export-csv').click()]);
    const csv = await readFile(await download.path(), 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    assert.match(lines[0], /kind/i, 'a header line');
    assert.ok(lines.length > page.length, `the CSV holds every row (${lines.length} lines)`);
    const csvKinds = ['admin.signup', 'integration.created', 'integration.deleted', 'device.bound'];
    for (const k of [...csvKinds, 'user.binding_reset', 'device.renamed', 'settings.updated'])
      assert.ok(csv.includes(k), `the CSV has ${k}`);
    assert.ok(csv.includes(org.aliceId), "the CSV names Alice's user id");

    const jsonHref = await s.page.getByTestId('export-json').getAttribute('href');
    const r = await s.context.request.get(new URL(jsonHref, world.url).href);
    assert.equal(r.status(), 200);
    assert.match(r.headers()['content-type'], /application\/json/);
    const body = await r.json();
    const events = Array.isArray(body) ? body : body.events;
    assert.ok(Array.isArray(events), 'the JSON holds the rows');
    assert.equal(events.length, lines.length - 1, 'the same rows as the CSV');
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of ['admin.signup', 'admin.invited', 'integration.created', 'signin.finished'])
      assert.ok(kinds.has(k), `JSON has ${k}`);
  });
});
