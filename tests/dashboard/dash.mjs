// Dashboard test helpers: an avowd (wired to the Entra simulator, like the e2e world, but with no org yet so
// the first sign-up creates one), a cookie-keeping HTTP client that speaks the dashboard's forms the way a
// browser would, and the journeys an admin makes with the `avow` authenticator (sign-up, sign-in by scan or
// push, re-authentication), plus Entra sign-ins of users through an integration made in the dashboard.
//
//   const world = await startDashWorld({ openSignup: true });
//   const owner = await world.device('owner-phone');               // `avow`, enrolled with that name
//   const admin = new DashClient(world);
//   await signUp(admin, owner, { org: 'Contoso', name: 'Grace', email: 'grace@contoso.example' });
//   const html = await admin.page('/dashboard/integrations');        // 200 + the page's csrf remembered
//   const r = await dangerous(admin, owner, '/dashboard/integrations/ID/delete');  // re-auth when asked
//   await world.stop();
//
// The contract these follow (URLs, fields, data-testid, JSON waits) is the dashboard's (docs/dashboard.md).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import {
  approveWithCli,
  beginSignIn,
  cliDevice,
  closeAgents,
  finishApproved,
  formEncode,
  makeTempDir,
  newUser,
  parseFormPost,
  parseMfaPage,
  request,
  requireBinaries,
  run,
  sleep,
  startAvowd,
  startSim,
} from '../e2e/helpers.mjs';

export { approveWithCli, beginSignIn, closeAgents, finishApproved, newUser, sleep };

// Hostile names: must only ever reach a page escaped.
export const XSS_SCRIPT = '<script>alert(1)</script>';
export const XSS_IMG = '"><img src=x onerror=alert(1)>';

// ---- HTML --------------------------------------------------------------------------------------------------

export function unescapeHtml(s) {
  return String(s)
    .replace(/&quot;/g, '"')
    .replace(/&#0*39;|&apos;|&#x0*27;/gi, "'")
    .replace(/&#x0*2f;|&#0*47;/gi, '/')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export function escapeHtml(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// Every opening tag in `html` carrying data-testid="<id>".
export function tagsByTestId(html, id) {
  const re = new RegExp(`<[a-zA-Z][^>]*\\sdata-testid=["']?${id}(?=["'\\s>])[^>]*>`, 'g');
  return [...html.matchAll(re)].map((m) => ({ tag: m[0], index: m.index }));
}

export function attr(tag, name) {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? unescapeHtml(m[1] ?? m[2] ?? m[3]) : null;
}

// The attribute of the first element with that data-testid, or null.
export function testIdAttr(html, id, name) {
  const t = tagsByTestId(html, id)[0];
  return t ? attr(t.tag, name) : null;
}

// The text of the first element with that data-testid (tags stripped, up to its closing tag; nested elements
// of the same tag name are not expected here), or null.
export function testIdText(html, id) {
  const t = tagsByTestId(html, id)[0];
  if (!t) return null;
  const name = /^<([a-zA-Z0-9]+)/.exec(t.tag)[1];
  const start = t.index + t.tag.length;
  const end = html.indexOf(`</${name}`, start);
  const inner = html.slice(start, end < 0 ? undefined : end);
  return unescapeHtml(inner.replace(/<[^>]*>/g, '')).trim();
}

// The hidden `csrf` field's value, or null.
export function csrfOf(html) {
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    if (attr(m[0], 'name') === 'csrf') return attr(m[0], 'value');
  }
  return null;
}

// Every form action in the page matching `re` (unescaped).
export function actions(html, re) {
  const out = [];
  for (const m of html.matchAll(/<form\b[^>]*>/gi)) {
    const a = attr(m[0], 'action');
    if (a && re.test(a)) out.push(a);
  }
  return out;
}

// The first URL path in the page matching `re` (anywhere: attributes, inline JSON), unescaped.
export function findPath(html, re) {
  const m = re.exec(unescapeHtml(html).replace(/\\\//g, '/'));
  return m ? m[0] : null;
}

// The wait/claim URLs and the QR of a scan_wait / signin / invite page. `testid`: the QR's container.
export function scanPage(html, testid) {
  return {
    url: testIdAttr(html, testid, 'data-url'),
    waitUrl: findPath(html, /\/dashboard\/scan\/[^"'\s?&<>\\]+\/wait/),
    claimUrl: findPath(html, /\/dashboard\/(?:scan|invite)\/[^"'\s?&<>\\]+\/claim/),
  };
}

// The number and URLs of a push_wait page.
export function pushPage(html) {
  const text = testIdText(html, 'push-number');
  const digits = /(\d+)\s*$/.exec(text ?? '')?.[1]; // the number, after any screen-reader prefix
  return {
    number: digits ? Number(digits) : null,
    numberText: text,
    waitUrl: findPath(html, /\/dashboard\/push\/[^"'\s?&<>\\]+\/wait/),
    claimUrl: findPath(html, /\/dashboard\/(?:push\/[^"'\s?&<>\\]+\/claim|reauth\/[^"'\s?&<>\\]+\/finish)/),
  };
}

// Fails when a raw payload reached the page; checks it is shown escaped when `shown`.
export function assertEscaped(html, payloads, where, { shown = true } = {}) {
  for (const p of payloads) {
    assert.ok(!html.includes(p), `${where}: the raw ${JSON.stringify(p)} is in the HTML`);
    if (shown) assert.ok(html.includes(escapeHtml(p)), `${where}: ${JSON.stringify(p)} is shown escaped`);
  }
  assert.doesNotMatch(html, /<img src=x/i, `${where}: an injected <img>`);
  assert.doesNotMatch(html, /<script>alert/i, `${where}: an injected <script>`);
}

// ---- the world ---------------------------------------------------------------------------------------------

// The simulator and an avowd wired to it, with no org. `openSignup`: dashboard.open_signup (multi-tenant).
export async function startDashWorld({ openSignup = false, env = {} } = {}) {
  requireBinaries('AVOWD_BIN', 'AVOW_BIN', 'AVOW_SIM_BIN');
  const root = await makeTempDir('avow-dash-');
  const dataDir = join(root, 'avowd');
  const sim = await startSim({ stateDir: join(root, 'sim'), caFile: join(dataDir, 'dev-tls', 'cert.pem') });
  const e = { ...env };
  if (openSignup) e.AVOW_DASHBOARD_OPEN_SIGNUP = 'true';
  let avowd;
  try {
    avowd = await startAvowd({ dataDir, sim, env: e });
  } catch (err) {
    await sim.stop();
    throw err;
  }
  const world = {
    root,
    sim,
    avowd,
    url: avowd.url,
    ca: avowd.ca,
    async stop() {
      closeAgents();
      await avowd.stop();
      await sim.stop();
    },
    // An `avow` authenticator in its own home, enrolled under `name` (what the server calls the device).
    async device(name) {
      const dev = await cliDevice(avowd, name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40));
      const r = await dev.run(['enroll', '--server', avowd.url, '--name', name]);
      assert.equal(r.code, 0, `avow enroll: ${r.stderr}${r.stdout}`);
      return dev;
    },
    // The e2e helpers' world, seen through one integration (beginSignIn, approveWithCli, finishApproved).
    entra(integration) {
      return entraWorld(world, integration);
    },
  };
  return world;
}

// What tests/e2e/helpers.mjs expects of a world, for an integration created in the dashboard:
// { id, name, client_id, directory_id, app_id }.
export function entraWorld(world, integration) {
  const { avowd, sim } = world;
  const issuer = `${avowd.url}/entra/${integration.client_id}`;
  const i = {
    ...integration,
    issuer,
    discovery_url: `${issuer}/.well-known/openid-configuration`,
    authorize_url: `${issuer}/authorize`,
    jwks_url: `${issuer}/jwks`,
  };
  const w = {
    sim,
    avowd,
    integration: i,
    directoryId: i.directory_id,
    appId: i.app_id,
    flowSpec(user, overrides = {}, integ = i) {
      return {
        discovery_url: integ.discovery_url,
        client_id: integ.client_id,
        app_id: integ.app_id,
        directory_id: integ.directory_id,
        tid: user.tid ?? integ.directory_id,
        oid: user.oid,
        sub: user.sub,
        name: user.name,
        username: user.username,
        ...overrides,
      };
    },
    async authorize(fields, { integration: integ = i, headers = {} } = {}) {
      const r = await request(integ.authorize_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'e2e-browser/1.0', ...headers },
        body: typeof fields === 'string' ? fields : formEncode(fields),
        ca: avowd.ca,
      });
      const set = (r.headers['set-cookie'] ?? []).map((c) => /^avow_flow=([^;]*)/.exec(c)).find(Boolean);
      const out = { ...r, cookie: set ? set[1] : null, json: null, page: null, post: null };
      if ((r.headers['content-type'] ?? '').startsWith('application/json')) out.json = JSON.parse(r.body);
      else {
        out.post = parseFormPost(r.body);
        if (!out.post && r.status === 200) out.page = parseMfaPage(r.body);
      }
      return out;
    },
    async wait(flow, seen = '') {
      const r = await request(`${avowd.url}${flow.page.waitUrl}?seen=${encodeURIComponent(seen)}`, {
        headers: { cookie: `avow_flow=${flow.cookie}`, accept: 'application/json' },
        ca: avowd.ca,
      });
      return { status: r.status, json: r.status === 200 ? JSON.parse(r.body) : null, body: r.body };
    },
    async waitUntil(flow, until = (j) => j.state !== 'pending', timeoutMs = 30000) {
      const end = Date.now() + timeoutMs;
      let seen = flow.page.view ?? '';
      for (;;) {
        const r = await w.wait(flow, seen);
        if (r.status !== 200) throw new Error(`wait: ${r.status} ${r.body}`);
        if (until(r.json)) return r.json;
        if (Date.now() > end) throw new Error(`wait: still ${JSON.stringify(r.json)}`);
        seen = r.json.view;
      }
    },
    async finish(flow, { cookie = flow.cookie, headers = {} } = {}) {
      const r = await request(`${avowd.url}${flow.page.finishUrl}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: new URL(avowd.url).origin,
          ...(cookie ? { cookie: `avow_flow=${cookie}` } : {}),
          ...headers,
        },
        body: '',
        ca: avowd.ca,
      });
      return { ...r, post: parseFormPost(r.body) };
    },
    cliDevice: (name) => world.device(name),
  };
  return w;
}

// A user signs in through `integration` for the first time: a new device (enrolled as `deviceName`) scans the
// ScanCode and approves. → { user, dev }
export async function entraBind(world, integration, deviceName, user = newUser()) {
  const w = world.entra(integration);
  const dev = await world.device(deviceName);
  const flow = await beginSignIn(w, user);
  assert.equal(flow.status, 200, `authorize: ${flow.status} ${flow.body.slice(0, 300)}`);
  assert.ok(flow.page?.scanUrl, 'a new user is shown a ScanCode');
  await approveWithCli(w, dev, flow, user);
  await finishApproved(w, flow);
  return { user, dev };
}

// A bound user signs in again and approves. → the page's number
export async function entraSignIn(world, integration, user, dev) {
  const w = world.entra(integration);
  const flow = await beginSignIn(w, user);
  assert.equal(flow.status, 200, `authorize: ${flow.status} ${flow.body.slice(0, 300)}`);
  await approveWithCli(w, dev, flow, user);
  await finishApproved(w, flow);
  return flow;
}

// ---- the dashboard over HTTP -------------------------------------------------------------------------------

// One browser's view of the dashboard: its cookies, the last page's csrf, no redirects followed.
export class DashClient {
  constructor(world, name = 'client') {
    this.world = world;
    this.name = name;
    this.jar = new Map();
    this.csrf = null;
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get session() {
    return this.jar.get('avow_session') ?? null;
  }

  absorb(r) {
    for (const c of r.headers['set-cookie'] ?? []) {
      const m = /^([^=;\s]+)=([^;]*)/.exec(c);
      if (!m) continue;
      const gone = /;\s*max-age=0\b/i.test(c) || /;\s*expires=Thu, 01 Jan 1970/i.test(c) || m[2] === '';
      if (gone) this.jar.delete(m[1]);
      else this.jar.set(m[1], m[2]);
    }
    if ((r.headers['content-type'] ?? '').startsWith('text/html')) {
      const t = csrfOf(r.body);
      if (t) this.csrf = t;
    }
    if (r.headers.location) r.location = locationPath(this.world, r.headers.location);
    return r;
  }

  async get(path, { headers = {} } = {}) {
    const r = await request(this.world.url + path, {
      headers: { accept: 'text/html', ...(this.jar.size ? { cookie: this.cookieHeader() } : {}), ...headers },
      ca: this.world.ca,
    });
    return this.absorb(r);
  }

  // A JSON wait (the page's long-poll).
  async json(path) {
    const r = await this.get(path, { headers: { accept: 'application/json' } });
    let json = null;
    try {
      json = JSON.parse(r.body);
    } catch {
      /* not JSON */
    }
    return { ...r, json };
  }

  // A form POST as the page would send it: with the page's csrf unless `csrf` is given (null: none at all).
  async post(path, fields = {}, { csrf, headers = {} } = {}) {
    const f = { ...fields };
    const token = csrf === undefined ? this.csrf : csrf;
    if (token !== null && !('csrf' in f)) f.csrf = token;
    const r = await request(this.world.url + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: new URL(this.world.url).origin,
        accept: 'text/html',
        ...(this.jar.size ? { cookie: this.cookieHeader() } : {}),
        ...headers,
      },
      body: formEncode(f),
      ca: this.world.ca,
    });
    return this.absorb(r);
  }

  // GET that must answer 200: the HTML.
  async page(path) {
    const r = await this.get(path);
    assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.location ?? ''} ${r.body.slice(0, 300)}`);
    return r.body;
  }
}

export function locationPath(world, location) {
  const u = new URL(location, world.url);
  return u.origin === new URL(world.url).origin ? u.pathname + u.search : u.href;
}

// Long-polls a scan wait until the state is `want`. → the last JSON
export async function waitScan(client, waitUrl, want = 'scanned', timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let seen = '';
  for (;;) {
    const r = await client.json(`${waitUrl}?seen=${encodeURIComponent(seen)}`);
    assert.equal(r.status, 200, `GET ${waitUrl}: ${r.status} ${r.body.slice(0, 200)}`);
    assert.ok(r.json && typeof r.json.state === 'string', `a JSON state: ${r.body.slice(0, 200)}`);
    if (r.json.state === want) return r.json;
    if (r.json.state === 'expired' || Date.now() > end) throw new Error(`scan wait: ${r.body}`);
    seen = r.json.state;
    if (seen === 'waiting') await sleep(50); // the server may answer at once with the same state
  }
}

export async function waitPush(client, waitUrl, want = 'approved', timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.json(waitUrl);
    assert.equal(r.status, 200, `GET ${waitUrl}: ${r.status} ${r.body.slice(0, 200)}`);
    if (r.json?.state === want) return r.json;
    if (r.json?.state !== 'pending' || Date.now() > end) throw new Error(`push wait: ${r.body}`);
    await sleep(50);
  }
}

// The device finds the push showing `number` among its choices and approves it with that number.
export async function approvePush(dev, number) {
  const pending = await dev.pending(10);
  const candidates = pending.challenges.filter((c) => (c.choices ?? []).includes(number));
  assert.ok(candidates.length > 0, `a push offering ${number} reached the device: ${JSON.stringify(pending)}`);
  const c = candidates[candidates.length - 1];
  const r = await dev.approve(c.id, number);
  assert.equal(r.code, 0, `avow approve: ${r.stderr}${r.stdout}`);
  return c;
}

// `avow scan <url>` must succeed. → the JSON answer
export async function scanOk(dev, url) {
  const r = await dev.scanRaw(url);
  assert.equal(r.code, 0, `avow scan ${url}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    return { raw: r.stdout };
  }
}

// Claims a scanned code: 303 /dashboard (a notice may follow in the query) with a fresh avow_session.
export async function claim(client, claimUrl, fields = {}) {
  const before = client.session;
  const r = await client.post(claimUrl, fields);
  assert.equal(r.status, 303, `POST ${claimUrl}: ${r.status} ${r.body.slice(0, 300)}`);
  assert.equal(r.location?.split('?')[0], '/dashboard', `POST ${claimUrl} → ${r.location}`);
  assert.ok(client.session, 'a session cookie was set');
  assert.notEqual(client.session, before, 'a fresh session token');
  await client.page('/dashboard'); // the session's csrf
  return r;
}

// Sign-up over HTTP: form → scan_wait → the device scans → claim. → { scan, html }
export async function signUp(client, dev, { org, name, email }) {
  await client.page('/dashboard/signup');
  const r = await client.post('/dashboard/signup', { org_name: org, display_name: name, email });
  assert.equal(r.status, 200, `POST /dashboard/signup: ${r.status} ${r.body.slice(0, 400)}`);
  const scan = scanPage(r.body, 'scan-qr');
  assert.ok(scan.url && scan.waitUrl && scan.claimUrl, `scan_wait page: ${JSON.stringify(scan)}`);
  await scanOk(dev, scan.url);
  await waitScan(client, scan.waitUrl);
  await claim(client, scan.claimUrl);
  return { scan, html: r.body };
}

// Sign-in by ScanCode over HTTP.
export async function signInScan(client, dev) {
  const html = await client.page('/dashboard/signin');
  const scan = scanPage(html, 'signin-qr');
  assert.ok(scan.url && scan.waitUrl && scan.claimUrl, `signin page: ${JSON.stringify(scan)}`);
  await scanOk(dev, scan.url);
  await waitScan(client, scan.waitUrl);
  await claim(client, scan.claimUrl);
  return scan;
}

// Sign-in by push with number matching over HTTP.
export async function signInPush(client, dev, email) {
  await client.page('/dashboard/signin');
  const r = await client.post('/dashboard/signin/push', { email });
  assert.equal(r.status, 200, `POST /dashboard/signin/push: ${r.status} ${r.body.slice(0, 300)}`);
  const push = pushPage(r.body);
  assert.ok(Number.isInteger(push.number) && push.waitUrl && push.claimUrl, `push_wait page: ${JSON.stringify(push)}`);
  await approvePush(dev, push.number);
  await waitPush(client, push.waitUrl);
  await claim(client, push.claimUrl);
  return push;
}

// Re-authentication over HTTP: the reauth page, a push approved with the number, finish → 303 next.
export async function reauth(client, dev, next) {
  await client.page(`/dashboard/reauth?next=${encodeURIComponent(next)}`);
  const r = await client.post('/dashboard/reauth', { next });
  assert.equal(r.status, 200, `POST /dashboard/reauth: ${r.status} ${r.body.slice(0, 300)}`);
  const push = pushPage(r.body);
  const ok = Number.isInteger(push.number) && push.waitUrl && push.claimUrl;
  assert.ok(ok, `push_wait (reauth): ${JSON.stringify(push)}`);
  await approvePush(dev, push.number);
  await waitPush(client, push.waitUrl);
  const done = await client.post(push.claimUrl, { next });
  assert.equal(done.status, 303, `POST ${push.claimUrl}: ${done.status} ${done.body.slice(0, 300)}`);
  assert.equal(done.location, next, 'back where the admin was');
  await client.page(next.split('#')[0]);
  return done;
}

// A dangerous POST: when the server asks for re-authentication, re-authenticate and post again.
export async function dangerous(client, dev, path, fields = {}) {
  let r = await client.post(path, fields);
  if (r.status === 303 && r.location?.startsWith('/dashboard/reauth')) {
    const next = new URL(r.location, 'http://x').searchParams.get('next') || '/dashboard';
    await reauth(client, dev, next);
    r = await client.post(path, fields);
  }
  return r;
}

// Creates an integration in the dashboard. → { id, name, directory_id, app_id, client_id, html }
export async function createIntegration(client, { name, directoryId = randomUUID(), appId = randomUUID() }) {
  await client.page('/dashboard/integrations/new');
  const r = await client.post('/dashboard/integrations', { name, directory_id: directoryId, app_id: appId });
  assert.equal(r.status, 303, `POST /dashboard/integrations: ${r.status} ${r.body.slice(0, 400)}`);
  const m = /^\/dashboard\/integrations\/([^/?#]+)(\?.*)?$/.exec(r.location ?? '');
  assert.ok(m, `→ the detail page: ${r.location}`);
  const html = await client.page(`/dashboard/integrations/${m[1]}`);
  const clientId = testIdText(html, 'eam-client-id');
  assert.ok(clientId, 'the detail page shows the Client ID [eam-client-id]');
  return { id: m[1], name, directory_id: directoryId, app_id: appId, client_id: clientId, html };
}

// Ids from list pages.
export function userIds(html) {
  const links = unescapeHtml(html).matchAll(/\/dashboard\/users\/([A-Za-z0-9_-]+)(?=["'?#])/g);
  return [...new Set([...links].map((m) => m[1]))];
}

// The device rows of the devices page: [{ id, name }] from the rename forms.
export function deviceRows(html) {
  const rows = [];
  for (const m of html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)) {
    const open = /<form\b[^>]*>/i.exec(m[0])[0];
    const a = attr(open, 'action');
    const id = /^\/dashboard\/devices\/([^/]+)\/rename$/.exec(a ?? '')?.[1];
    if (!id) continue;
    const input = [...m[0].matchAll(/<input\b[^>]*>/gi)].map((x) => x[0]).find((t) => attr(t, 'name') === 'name');
    rows.push({ id, name: input ? attr(input, 'value') : null });
  }
  return rows;
}

// The admin ids in an admins page, by the email shown in the same row: [{ id, email? }]
export function adminRemoveIds(html) {
  return actions(html, /^\/dashboard\/admins\/[^/]+\/remove$/).map((a) => a.split('/')[3]);
}

// The segments of a list page, one per element with that data-testid (from it to the next one).
export function rows(html, id) {
  const tags = tagsByTestId(html, id);
  return tags.map((t, i) => html.slice(t.index, i + 1 < tags.length ? tags[i + 1].index : undefined));
}

// The value of the form field named `name` (input value, selected option, or textarea), or null.
export function fieldValue(html, name) {
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) if (attr(m[0], 'name') === name) return attr(m[0], 'value');
  const sel = new RegExp(`<select\\b[^>]*\\sname=["']?${name}["'\\s>][\\s\\S]*?</select>`, 'i').exec(html);
  if (sel) {
    const opt = [...sel[0].matchAll(/<option\b[^>]*>/gi)].find((o) => /\sselected\b/i.test(o[0]));
    return opt ? attr(opt[0], 'value') : null;
  }
  const ta = new RegExp(`<textarea\\b[^>]*\\sname=["']?${name}["'\\s>][^>]*>([\\s\\S]*?)</textarea>`, 'i').exec(html);
  return ta ? unescapeHtml(ta[1]) : null;
}

// ---- time travel ---------------------------------------------------------------------------------------------
// avowd has no test clock. What needs time to pass (a session older than the re-auth window, an invite past its
// lifetime) is arranged by moving timestamps back in avowd's SQLite database with the sqlite3 command-line tool
// (Debian's `sqlite3`); without it those checks skip and say so.
export const SQLITE3 = '/usr/bin/sqlite3';
export const canTimeTravel = () => existsSync(SQLITE3);

export async function sql(world, statement) {
  const db = join(world.avowd.dataDir, 'avow.db');
  const r = await run(SQLITE3, ['-cmd', '.timeout 10000', db, statement]);
  assert.equal(r.code, 0, `sqlite3: ${r.stderr}`);
  return r.stdout;
}

// Every session (and its last re-authentication) becomes `seconds` older: past the 5-minute re-auth window
// for seconds > 300, still within the idle and absolute limits.
export function ageSessions(world, seconds = 600) {
  return sql(
    world,
    `UPDATE sessions SET created_at = created_at - ${seconds}, ` +
      `reauthenticated_at = CASE WHEN reauthenticated_at IS NULL THEN NULL ELSE reauthenticated_at - ${seconds} END;`,
  );
}

// Every open invite expires now.
export function expireInvites(world) {
  return sql(
    world,
    "UPDATE scan_codes SET expires_at = CAST(strftime('%s','now') AS INTEGER) - 1 " +
      "WHERE purpose = 'admin_invite' AND state = 'active';",
  );
}
