// The Entra sign-in in a real browser (headless Chromium): "Microsoft" sends the browser to avowd with the
// authorize POST, avowd's MFA page shows a ScanCode (read back from a screenshot and scanned by the `avow`
// authenticator) or the number to tap, long-polls while the phone answers, and posts the answer back —
// to Microsoft's real redirect URI (intercepted in the browser) or to the simulator's receiver, which
// judges it as Entra does. Every page must behave: no console errors, no CSP violations, nothing sent
// beyond loopback, the number and the QR plainly visible. Screenshots: AVOW_ARTIFACTS_DIR.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  MS_EAM_REDIRECT,
  approveWithCli,
  beginSignIn,
  closeAgents,
  decodeJwt,
  finishApproved,
  newUser,
  removeTempDirs,
  requireBinaries,
  startWorld,
  verifyWithJose,
} from '../e2e/helpers.mjs';
import { artifactsDir, launchBrowser, openSession, readQr, skipReason } from './browser.mjs';

const skip = skipReason() ?? false; // throws when AVOW_REQUIRE_BROWSER is set and the browser is missing
if (skip) console.log(`# skipping the browser tests: ${skip}`);

// Where the browser starts, standing in for Entra's sign-in page (answered inside the browser, never fetched).
const ENTRA_PAGE = 'https://login.microsoftonline.com/avow-browser-test/authorize';

let browser;
let world;
before(async () => {
  if (skip) return;
  requireBinaries('AVOWD_BIN', 'AVOW_BIN', 'AVOW_SIM_BIN');
  [browser, world] = await Promise.all([launchBrowser(), startWorld()]);
  console.log(`# screenshots: ${await artifactsDir()}`);
});
after(async () => {
  if (browser) await browser.close();
  if (world) await world.stop();
  closeAgents();
  await removeTempDirs();
});

// ---- steps ------------------------------------------------------------------------------------------------

function escapeHtml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Entra's part: the browser is on a login.microsoftonline.com page that auto-submits the authorize form to
// avowd — a real cross-site top-level POST, with the Origin and Sec-Fetch-* headers Entra's would carry.
// Resolves once avowd's MFA page has loaded.
async function entraSendsBrowser(s, action, fields) {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Entra (simulated)</title></head><body>' +
    `<form method="post" action="${escapeHtml(action)}">${inputs}</form>` +
    '<script>document.forms[0].submit();</script></body></html>';
  await s.context.route(ENTRA_PAGE, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }),
  );
  await s.page.goto(ENTRA_PAGE, { waitUntil: 'commit' });
  await s.page.waitForURL(action, { waitUntil: 'load' });
  await s.page.locator('main#flow').waitFor({ state: 'attached' });
}

// A sign-in of `user` that Entra (the simulator) starts and the browser carries to avowd.
async function startSignIn(s, user, overrides = {}, w = world) {
  const flow = await w.sim.flow(w.flowSpec(user, overrides));
  await entraSendsBrowser(s, w.integration.authorize_url, flow.fields);
  assert.equal(await s.page.getByTestId('user-label').textContent(), user.username, 'the page names the user');
  return flow;
}

// The ScanCode as the person sees it: visible, large enough, and the QR in a screenshot of the element
// decodes to the URL the element carries. Returns that URL.
async function readScanCode(s, w = world) {
  const scan = s.page.getByTestId('scancode');
  await scan.waitFor({ state: 'visible' });
  assert.equal(await s.page.getByTestId('match-number').isVisible(), false, 'no number before the phone is linked');
  const qr = await s.page.locator('#qr svg').boundingBox();
  assert.ok(qr && qr.width >= 150 && Math.abs(qr.width - qr.height) < 2, `a large square QR: ${JSON.stringify(qr)}`);
  const png = await scan.screenshot({ path: join(await artifactsDir(), `${s.name}-scancode-element.png`) });
  const decoded = readQr(png);
  const url = await scan.getAttribute('data-url');
  assert.ok(decoded, 'the QR in the screenshot decodes');
  assert.equal(decoded, url, 'the QR says what data-url says');
  assert.ok(url.startsWith(`${w.avowd.url}/s/`), url);
  assert.equal(await s.page.locator('#scan-link').getAttribute('href'), url);
  return url;
}

// The number to tap, once the page shows it; checks it is visible, large and on screen.
async function shownNumber(s) {
  const el = s.page.getByTestId('match-number');
  await el.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await s.page.getByTestId('scancode').isVisible(), false, 'the QR gives way to the number');
  const text = (await el.textContent()).trim();
  assert.match(text, /^\d{2}$/, 'a two-digit number');
  const { fontSize, color, background } = await el.evaluate((e) => {
    const cs = getComputedStyle(e);
    const card = getComputedStyle(e.closest('main'));
    return { fontSize: parseFloat(cs.fontSize), color: cs.color, background: card.backgroundColor };
  });
  assert.ok(fontSize >= 48, `the number is large: ${fontSize}px`);
  assert.notEqual(color, background, 'the number stands out from its background');
  const box = await el.boundingBox();
  const view = s.page.viewportSize();
  const onScreen = box && box.height >= 48 && box.y >= 0 && box.y + box.height <= view.height;
  assert.ok(onScreen, `the number is on screen: ${JSON.stringify(box)}`);
  assert.equal(await s.page.locator('#match-inline').textContent(), text, 'the sentence names the same number');
  return Number(text);
}

// The push as the `avow` authenticator lists it; the browser's own user agent reaches the phone.
async function pushFor(dev, user, challengeId) {
  const pending = await dev.pending(10);
  const c = challengeId
    ? pending.challenges.find((x) => x.id === challengeId)
    : pending.challenges.find((x) => x.context.user === user.username);
  assert.ok(c, `the push reached the device: ${JSON.stringify(pending)}`);
  assert.equal(c.context.user, user.username);
  assert.match(c.context.user_agent, /Chrome\//, 'the device sees the browser that signs in');
  assert.equal(c.choices.length, 3);
  return c;
}

// The page finished on its own and the browser landed on the simulator's receiver: { outcome, verdict }.
async function landedOnSimulator(s, flow, w = world, timeout = 20000) {
  await Promise.race([s.page.waitForURL(w.sim.redirect_uri, { timeout }), s.failedNavigation]);
  const result = s.page.getByTestId('sim-result');
  await result.waitFor({ state: 'attached' });
  assert.equal(await result.getAttribute('data-state'), flow.state);
  const verdict = await w.sim.result(flow.state);
  assert.ok(verdict, 'the receiver recorded an answer');
  return { outcome: await result.getAttribute('data-outcome'), verdict };
}

function assertAccessDenied({ outcome, verdict }, flow) {
  assert.equal(outcome, 'provider_error');
  assert.equal(verdict.outcome, 'provider_error');
  assert.equal(verdict.error, 'access_denied');
  assert.equal(verdict.fields.state, flow.state);
  assert.equal(verdict.fields.id_token, undefined, 'no token on a refusal');
}

async function assertVisibleText(s, text) {
  assert.ok(await s.page.getByText(text, { exact: true }).isVisible(), `"${text}" is shown`);
}

// A user bound to a fresh `avow` device through one approved sign-in (over plain HTTP, no browser).
async function boundUser(name, w = world) {
  const user = newUser();
  const dev = await w.cliDevice(name);
  const s = await beginSignIn(w, user);
  assert.equal(s.status, 200, s.body.slice(0, 300));
  await approveWithCli(w, dev, s, user);
  await finishApproved(w, s);
  return { user, dev };
}

// `promise`, or a failure naming `what` after `ms` milliseconds.
async function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Where the browser is and what it shows, for failure messages.
async function whereIs(s) {
  const text = await s.page
    .locator('body')
    .innerText({ timeout: 2000 })
    .catch(() => '(no body)');
  return `the browser is at ${s.page.url()} showing: ${text.replace(/\s+/g, ' ').trim().slice(0, 300)}`;
}

// Runs `fn` with a fresh browser session and fails on any problem the pages showed.
async function withSession(name, fn) {
  const s = await openSession(browser, name);
  try {
    await fn(s);
    assert.deepEqual(s.problems(), [], 'the pages behaved');
  } catch (e) {
    await s.shot('failure').catch(() => {});
    e.message += `\n${await whereIs(s)}\n${s.problems().join('\n')}`;
    throw e;
  } finally {
    await s.close();
  }
}

// ---- scenarios --------------------------------------------------------------------------------------------

test('first sign-in: the QR read from a screenshot, scan, approve → an id_token for Microsoft', { skip }, () =>
  withSession('first-sign-in', async (s) => {
    const user = newUser();
    const toMicrosoft = s.interceptMicrosoft();
    const flow = await startSignIn(s, user, { redirect_uri: MS_EAM_REDIRECT });
    const url = await readScanCode(s);
    await s.shot('mfa-scancode');

    const dev = await world.cliDevice('browser-first');
    const scanned = await dev.scan(url);
    assert.equal(scanned.result, 'bound');
    assert.equal(scanned.account.user, user.username);
    const number = await shownNumber(s);
    await s.shot('mfa-number');
    const c = await pushFor(dev, user, scanned.challenge_id);
    assert.ok(c.choices.includes(number), `the page's ${number} is among ${c.choices}`);
    const r = await dev.approve(c.id, number);
    assert.equal(r.code, 0, r.stderr + r.stdout);

    // The page finishes by itself and the answer page auto-posts to Microsoft's redirect URI.
    const post = await within(Promise.race([toMicrosoft, s.failedNavigation]), 20000, 'the answer posted to Microsoft');
    await s.page.getByTestId('intercepted').waitFor();
    await s.shot('posted-to-microsoft');
    assert.equal(post.url, MS_EAM_REDIRECT);
    assert.match(post.headers['content-type'], /^application\/x-www-form-urlencoded/);
    const fields = Object.fromEntries(new URLSearchParams(post.body));
    assert.equal(fields.state, flow.state);
    assert.equal(fields.error, undefined, JSON.stringify(fields));
    const claims = await verifyWithJose(world, fields.id_token, flow);
    assert.equal(claims.aud, world.integration.client_id);
    assert.equal(claims.acr, 'possessionorinherence');
    assert.deepEqual(claims.amr, ['swk']);
    // Entra's own checks, with the captured post handed to the simulator in Microsoft's place.
    const delivered = await world.sim.deliver({ action: MS_EAM_REDIRECT, fields }, { to: world.sim.redirect_uri });
    assert.equal(delivered.verdict.outcome, 'accepted', delivered.verdict.error_description);
    assert.equal(delivered.verdict.claims.sub, user.sub);
  }),
);

test('bound user: the number at once, no QR; approve → the simulator accepts', { skip }, () =>
  withSession('bound-push', async (s) => {
    const { user, dev } = await boundUser('browser-bound');
    const flow = await startSignIn(s, user);
    assert.equal(await s.page.getByTestId('scancode').isVisible(), false, 'no ScanCode for a bound user');
    const number = await shownNumber(s);
    await s.shot('mfa-number');
    const c = await pushFor(dev, user);
    assert.ok(c.choices.includes(number));
    const r = await dev.approve(c.id, number);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const landed = await landedOnSimulator(s, flow);
    await s.shot('simulator-verdict');
    assert.equal(landed.outcome, 'accepted', landed.verdict.error_description);
    await assertVisibleText(s, 'Signed in');
    assert.equal(landed.verdict.claims.sub, user.sub);
    assert.equal(landed.verdict.claims.nonce, flow.nonce);
    assert.deepEqual(landed.verdict.claims.amr, ['swk']);
    await verifyWithJose(world, landed.verdict.fields.id_token, flow);
  }),
);

test('phone offline: "Use a verification code instead", the code from `avow code` typed in → amr otp', { skip }, () =>
  withSession('fallback-code', async (s) => {
    const { user, dev } = await boundUser('browser-code');
    const flow = await startSignIn(s, user);
    await shownNumber(s);
    const use = s.page.getByTestId('use-code');
    await use.waitFor({ state: 'visible' });
    assert.equal(await s.page.getByTestId('code-form').isVisible(), false, 'the form waits behind the button');
    await use.click();
    const input = s.page.getByTestId('code-input');
    await input.waitFor({ state: 'visible' });
    assert.equal(await input.getAttribute('inputmode'), 'numeric');
    assert.equal(await input.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await s.page.getByLabel(/Code shown by/).getAttribute('data-testid'), 'code-input', 'labelled');
    assert.ok(await input.evaluate((e) => document.activeElement === e), 'the field has the focus');

    const r = await dev.run(['code', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const { code } = JSON.parse(r.stdout);
    // A wrong code first: the one message, and the sign-in still waits.
    await input.fill(String((Number(code) + 500000) % 1000000).padStart(6, '0'));
    await s.page.getByTestId('code-submit').click();
    const error = s.page.getByTestId('code-error');
    await s.page.waitForFunction(() => document.getElementById('code-error').textContent.length > 0);
    assert.equal(await error.textContent(), "That code didn't work.");
    await s.shot('mfa-code-refused');
    assert.equal(await s.page.getByTestId('match-number').isVisible(), true, 'still waiting');

    // The right one, typed as people do (a space in the middle) and sent with Enter.
    await input.fill(`${code.slice(0, 3)} ${code.slice(3)}`);
    await s.shot('mfa-code-typed');
    await input.press('Enter');
    const landed = await landedOnSimulator(s, flow);
    await s.shot('simulator-verdict');
    assert.equal(landed.outcome, 'accepted', landed.verdict.error_description);
    assert.deepEqual(landed.verdict.claims.amr, ['otp']);
    await verifyWithJose(world, landed.verdict.fields.id_token, flow);
  }),
);

test('deny on the phone → the page posts error=access_denied with the state', { skip }, () =>
  withSession('deny', async (s) => {
    const { user, dev } = await boundUser('browser-deny');
    const flow = await startSignIn(s, user);
    await shownNumber(s);
    await s.shot('mfa-number');
    const c = await pushFor(dev, user);
    const r = await dev.deny(c.id);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const landed = await landedOnSimulator(s, flow);
    await s.shot('simulator-verdict');
    assertAccessDenied(landed, flow);
    assert.match(landed.verdict.error_description, /denied/i);
    await assertVisibleText(s, 'Sign-in refused by the provider');
  }),
);

test('a wrong number → access_denied', { skip }, () =>
  withSession('wrong-number', async (s) => {
    const { user, dev } = await boundUser('browser-wrong');
    const flow = await startSignIn(s, user);
    const number = await shownNumber(s);
    await s.shot('mfa-number');
    const c = await pushFor(dev, user);
    const wrong = c.choices.find((n) => n !== number);
    const r = await dev.approve(c.id, wrong);
    assert.equal(r.code, 1, 'the authenticator reports the refusal');
    const landed = await landedOnSimulator(s, flow);
    await s.shot('simulator-verdict');
    assertAccessDenied(landed, flow);
  }),
);

test('no answer: the page gives up by itself when the sign-in expires → access_denied', { skip }, async () => {
  const TTL = 4;
  const short = await startWorld({ avowdEnv: { AVOW_FLOW_CHALLENGE_TTL: `${TTL}s` } });
  try {
    const { user: bound } = await boundUser('browser-timeout', short);
    // Two windows wait at once: a bound user's (number shown) and a new user's (QR shown).
    await Promise.all([
      withSession('timeout-number', async (s) => {
        const flow = await startSignIn(s, bound, {}, short);
        const started = Date.now();
        await shownNumber(s);
        await s.shot('mfa-number');
        const landed = await landedOnSimulator(s, flow, short, (TTL + 15) * 1000);
        await s.shot('simulator-verdict');
        assert.ok(Date.now() - started < (TTL + 6) * 1000, `the page gave up promptly (${Date.now() - started} ms)`);
        assertAccessDenied(landed, flow);
        assert.match(landed.verdict.error_description, /time/i);
      }),
      withSession('timeout-scancode', async (s) => {
        const flow = await startSignIn(s, newUser(), {}, short);
        await readScanCode(s, short);
        await s.shot('mfa-scancode');
        const landed = await landedOnSimulator(s, flow, short, (TTL + 15) * 1000);
        await s.shot('simulator-verdict');
        assertAccessDenied(landed, flow);
      }),
    ]);
  } finally {
    await short.stop();
  }
});

test('B2B guest through the simulator\'s demo page: QR → scan → approve → signed in', { skip }, () =>
  withSession('b2b-guest', async (s) => {
    const q = new URLSearchParams({
      discovery_url: world.integration.discovery_url,
      client_id: world.integration.client_id,
      app_id: world.appId,
      directory_id: world.directoryId,
    });
    await s.page.goto(`${world.sim.url}/?${q}`);
    await s.page.selectOption('#user', 'guest');
    await s.page.selectOption('#flavor', 'eam');
    await s.shot('simulator-demo');
    const authorize = s.page.waitForRequest(
      (r) => r.url() === world.integration.authorize_url && r.method() === 'POST',
    );
    await s.page.getByRole('button', { name: 'Next' }).click();
    const fields = Object.fromEntries(new URLSearchParams((await authorize).postData()));
    const hint = decodeJwt(fields.id_token_hint).payload;
    assert.notEqual(hint.tid, world.directoryId, 'a guest from another tenant');
    assert.equal(hint.iss, `https://login.microsoftonline.com/${world.directoryId}/v2.0`, 'signs in to the directory');
    await s.page.waitForURL(world.integration.authorize_url);
    await s.page.locator('main#flow').waitFor({ state: 'attached' });
    const user = { username: hint.preferred_username };
    assert.equal(await s.page.getByTestId('user-label').textContent(), user.username);

    const url = await readScanCode(s);
    await s.shot('mfa-scancode');
    const dev = await world.cliDevice('browser-guest');
    const scanned = await dev.scan(url);
    assert.equal(scanned.result, 'bound');
    const number = await shownNumber(s);
    await s.shot('mfa-number');
    const c = await pushFor(dev, user, scanned.challenge_id);
    const r = await dev.approve(c.id, number);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const flow = { state: fields.state, nonce: fields.nonce, sub: hint.sub };
    const landed = await landedOnSimulator(s, flow);
    await s.shot('simulator-verdict');
    assert.equal(landed.outcome, 'accepted', landed.verdict.error_description);
    await assertVisibleText(s, 'Signed in');
    assert.equal(landed.verdict.claims.sub, hint.sub);
    const claims = await verifyWithJose(world, landed.verdict.fields.id_token, flow);
    assert.deepEqual(claims.amr, ['swk']);
  }),
);

// Not a scenario of its own: the watchers are real. A request off loopback is stopped and reported, and a
// CSP violation on avowd's page is reported, so a page that misbehaved would fail its test.
test('the watchers: a request beyond loopback and a CSP violation are both reported', { skip }, async () => {
  const s = await openSession(browser, 'watchers');
  try {
    await s.page.goto(`${world.sim.url}/healthz`);
    await s.page.evaluate(() => fetch('https://example.com/').catch(() => null));
    // The bare GET on the authorize endpoint: avowd's message page, under `default-src 'none'`.
    const probe = await s.page.goto(world.integration.authorize_url);
    assert.equal(probe.status(), 200);
    assert.match((await probe.allHeaders())['content-security-policy'], /default-src 'none'/);
    await s.page.evaluate(() => {
      const img = document.createElement('img');
      img.src = '/not-allowed.png';
      document.body.append(img);
    });
    const deadline = Date.now() + 5000;
    while (!s.problems().some((p) => p.startsWith('CSP violation: img-src')) && Date.now() < deadline)
      await s.page.waitForTimeout(50);
    const problems = s.problems();
    assert.ok(problems.some((p) => p.includes('request left loopback: GET https://example.com/')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('CSP violation: img-src blocked')), problems.join('\n'));
  } finally {
    await s.close();
  }
});
