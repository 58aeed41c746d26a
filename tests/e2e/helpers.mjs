// End-to-end helpers: avowd, the Entra simulator and devices, wired together as in production — Entra's
// browser POSTs the authorize form, the MFA page long-polls, the phone answers, the page finishes and
// posts back to "Microsoft" (the simulator), which judges the answer the way Entra does.
//
//   const world = await startWorld();                       // sim + avowd --dev + org + integration
//   const user = newUser();
//   const flow = await world.sim.flow(world.flowSpec(user)); // Entra's authorize form, remembered by the sim
//   const page = await world.authorize(flow.fields);        // → { status, cookie, page: { scanUrl, number, … } }
//   const dev = await world.cliDevice('phone');             // the `avow` CLI in its own --home
//   await dev.scan(page.page.scanUrl);                      // binds; the push is pending
//   …
//   const done = await world.finish(page);                  // → { status, post: { action, fields } }
//   const verdict = await world.sim.deliver(done.post);     // the sim's verdict: outcome "accepted"
//   await world.stop();
//
// Binaries come from the environment (CTest sets them): AVOWD_BIN, AVOW_BIN (the `avow` authenticator),
// AVOW_SIM_BIN (avow-entra-sim). Every process listens on 127.0.0.1:0 and reports its port; every world
// has its own temporary directory, removed by `removeTempDirs()`.
//
// Wiring assumed on avowd's side (config keys, docs/configuration.md): entra.keys_url (AVOW_ENTRA_KEYS_URL)
// = the sim's JWKS, entra.allow_loopback_keys_url = true (the sim speaks plain http on loopback),
// entra.dev_redirect_uri = the sim's receiver (with --dev, which also makes avowd serve HTTPS with its
// self-signed certificate in <data-dir>/dev-tls/cert.pem), flow.challenge_ttl for expiry tests.
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign as cryptoSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import * as jose from 'jose';

import { cleanEnv, makeTempDir as makeTempDirIn, removeTempDirs, run, track } from '../lib/processes.mjs';

export const AVOWD = process.env.AVOWD_BIN;
export const AVOW = process.env.AVOW_BIN;
export const SIM = process.env.AVOW_SIM_BIN;

export const MS_EAM_REDIRECT = 'https://login.microsoftonline.com/common/federation/externalauthprovider';
export const MS_CC_REDIRECT = 'https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider';

// ---- processes -----------------------------------------------------------------------------------------

export function requireBinaries(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) throw new Error(`set ${missing.join(', ')} (CTest does)`);
}

export async function makeTempDir(prefix = 'avow-e2e-') {
  return makeTempDirIn(prefix);
}

export { cleanEnv, removeTempDirs, run, track };

// Starts a long-running process and resolves with `match` applied to its stdout once it matches.
function startProcess(bin, args, { env = {}, match, what }) {
  const child = track(spawn(bin, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in time\n${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = match(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before listening\n${stderr}`));
    });
  });
  const stop = async (signal = 'SIGTERM', timeoutMs = 20000) => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const r = await exited;
    clearTimeout(timer);
    return r;
  };
  return { child, ready, exited, stop, stdout: () => stdout, stderr: () => stderr };
}

// ---- HTTP ----------------------------------------------------------------------------------------------

// Connections are reused (as a browser and a phone would), with no cap: the concurrency test holds
// hundreds of long-polls open at once.
const agents = new Map();
function agentFor(url, ca) {
  const u = new URL(url);
  const key = `${u.protocol}//${u.host}`;
  let a = agents.get(key);
  if (!a) {
    a =
      u.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: Infinity, ca })
        : new http.Agent({ keepAlive: true, maxSockets: Infinity });
    agents.set(key, a);
  }
  return a;
}

export function closeAgents() {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

// One request: { status, headers, body }. `ca` is the PEM to trust for https (avowd's dev certificate).
export function request(url, { method = 'GET', headers = {}, body, ca, timeoutMs = 40000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers, agent: agentFor(url, ca), timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${u.pathname} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function formEncode(fields) {
  const p = new URLSearchParams();
  for (const [k, v] of Array.isArray(fields) ? fields : Object.entries(fields)) p.append(k, v);
  return p.toString();
}

export function htmlUnescape(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

// The auto-submitting form_post page: { action, fields } (fields: name → value), or null when the body is
// not one.
export function parseFormPost(html) {
  const form = /<form method="post" action="([^"]*)">/.exec(html);
  if (!form) return null;
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    fields[htmlUnescape(m[1])] = htmlUnescape(m[2]);
  return { action: htmlUnescape(form[1]), fields };
}

function attr(html, re) {
  const m = re.exec(html);
  return m ? htmlUnescape(m[1]) : null;
}

// The MFA page: where it waits and finishes, the ScanCode it shows (if any) and the number.
export function parseMfaPage(html) {
  const scan = /<section id="scan"[^>]*>/.exec(html)?.[0] ?? '';
  const numberText = attr(html, /data-testid="match-number"[^>]*>\s*(\d+)\s*</);
  return {
    waitUrl: attr(html, /data-wait-url="([^"]*)"/),
    finishUrl: attr(html, /<form id="finish" method="post" action="([^"]*)"/),
    view: attr(html, /data-view="([^"]*)"/),
    expiresIn: Number(attr(html, /data-expires-in="([^"]*)"/)),
    scanUrl: attr(scan, /data-url="([^"]*)"/) || null,
    scanHidden: /\shidden[\s>=]/.test(scan),
    number: numberText === null ? null : Number(numberText),
    userLabel: attr(html, /data-testid="user-label">([^<]*)</),
  };
}

export function cookieFrom(headers, name = 'avow_flow') {
  const list = headers['set-cookie'] ?? [];
  for (const c of list) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return { value: m[1], header: c };
  }
  return null;
}

// ---- the Entra simulator -------------------------------------------------------------------------------

export async function startSim({ stateDir, caFile, tlsDev = false, args = [] } = {}) {
  const dir = stateDir ?? (await makeTempDir('avow-sim-'));
  const argv = ['serve', '--listen', '127.0.0.1:0', '--state-dir', dir, ...args];
  if (caFile) argv.push('--ca-file', caFile);
  if (tlsDev) argv.push('--tls-dev');
  const p = startProcess(SIM, argv, {
    what: 'avow-entra-sim',
    match: (out) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      return line && out.includes('\n') ? JSON.parse(line) : null;
    },
  });
  const info = await p.ready;
  const ca = info.ca_file ? await readFile(info.ca_file, 'utf8') : undefined;
  const postJson = async (path, body) => {
    const r = await request(info.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ca,
    });
    if (r.status !== 200) throw new Error(`sim ${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  };
  const result = async (state) => {
    const r = await request(`${info.url}/results/${encodeURIComponent(state)}`, { ca });
    return r.status === 200 ? JSON.parse(r.body) : null;
  };
  return {
    ...info,
    stateDir: dir,
    ca,
    process: p,
    stop: p.stop,
    // A hint as Microsoft mints it (HintSpec JSON: directory_id, aud, tid, oid, sub, version, iat, kid, iss).
    mint: async (spec) => (await postJson('/mint', spec)).hint,
    // A sign-in Entra starts: { state, nonce, sub, hint, redirect_uri, fields, body }; remembered for the receiver.
    flow: (spec) => postJson('/flows', spec),
    // What the receiver concluded for `state`, or null before anything was posted.
    result,
    // Posts a form_post to its action (as the browser's auto-submit would; `to` overrides the target, e.g.
    // to hand a post meant for Microsoft to the simulator) and returns { status, body, verdict }.
    deliver: async (post, { to } = {}) => {
      const r = await request(to ?? post.action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: formEncode(post.fields),
        ca,
      });
      const state = post.fields.state;
      return { status: r.status, body: r.body, verdict: state ? await result(state) : null };
    },
    keys: async () => JSON.parse((await request(info.keys_url, { ca })).body),
  };
}

// ---- avowd ---------------------------------------------------------------------------------------------

// `avowd serve --dev` wired to `sim`; resolves once it listens. `env` adds AVOW_* settings.
export async function startAvowd({ dataDir, sim, dev = true, env = {}, args = [] } = {}) {
  const dir = dataDir ?? (await makeTempDir('avowd-'));
  const e = { ...env };
  if (sim) {
    e.AVOW_ENTRA_KEYS_URL ??= sim.keys_url;
    e.AVOW_ENTRA_ALLOW_LOOPBACK_KEYS_URL ??= 'true';
    if (dev) e.AVOW_ENTRA_DEV_REDIRECT_URI ??= sim.redirect_uri;
  }
  const argv = ['serve', '--data-dir', dir, '--listen', '127.0.0.1:0', ...(dev ? ['--dev'] : []), ...args];
  const p = startProcess(AVOWD, argv, {
    env: e,
    what: 'avowd',
    match: (out) => /avowd listening on (https?:\/\/\S+)/.exec(out)?.[1],
  });
  const url = await p.ready;
  const caFile = join(dir, 'dev-tls', 'cert.pem');
  const ca = dev ? await readFile(caFile, 'utf8') : undefined;
  return { url, port: Number(new URL(url).port), dataDir: dir, caFile, ca, process: p, stop: p.stop };
}

// `avowd admin … --json` on `avowd`'s data directory; resolves with the parsed output.
export async function admin(avowd, args) {
  const r = await run(AVOWD, ['admin', ...args, '--data-dir', avowd.dataDir, '--json']);
  if (r.code !== 0) throw new Error(`avowd admin ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

// ---- users and hints -----------------------------------------------------------------------------------

let userCounter = 0;
// An Entra user: object id, pairwise sub, UPN. `tid` set for a B2B guest's home tenant.
export function newUser({ tid } = {}) {
  userCounter += 1;
  const n = `${process.pid}-${userCounter}`;
  return {
    oid: randomUUID(),
    sub: randomBytes(24).toString('base64url'),
    username: `user-${n}@contoso.example`,
    name: `User ${n}`,
    tid,
  };
}

// ---- devices -------------------------------------------------------------------------------------------

// The `avow` CLI with its own home directory, trusting avowd's dev certificate.
export async function cliDevice(avowd, name = 'phone') {
  const home = await makeTempDir(`avow-home-${name}-`);
  const base = ['--home', home, '--ca-file', avowd.caFile];
  const avow = (args, opts) => run(AVOW, [...base, ...args], opts);
  const json = async (args) => {
    const r = await avow(args);
    if (r.code !== 0) throw new Error(`avow ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  };
  return {
    home,
    run: avow,
    enroll: () => avow(['enroll', '--server', avowd.url, '--name', name]),
    scan: (url) => json(['scan', url, '--json']),
    scanRaw: (url) => avow(['scan', url, '--json']),
    pending: (wait = 0) => json(['pending', '--wait', String(wait), '--json']),
    approve: (id, number) => avow(['approve', id, '--number', String(number)]),
    deny: (id, fraud = false) => avow(['deny', id, ...(fraud ? ['--fraud'] : [])]),
    accounts: () => json(['accounts', '--json']),
  };
}

// A device speaking the device API directly (docs/device-api.md): ES256-signed requests from node:crypto.
// Much cheaper than a process per call, for the concurrency test.
export class DirectDevice {
  constructor(avowd) {
    this.avowd = avowd;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
    this.deviceId = null;
  }

  sign(method, target, fields = {}) {
    const header = { alg: 'ES256', typ: 'avow-device+jwt' };
    if (this.deviceId) header.kid = this.deviceId;
    else header.jwk = this.publicJwk;
    const payload = {
      htm: method,
      htu: target,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(16).toString('base64url'),
      ...fields,
    };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(
      JSON.stringify(payload),
    ).toString('base64url')}`;
    const sig = cryptoSign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  }

  async call(method, path, fields) {
    const target = `/api/device/v1${path}`;
    const jws = this.sign(method, target, fields);
    const opts =
      method === 'GET'
        ? { method, headers: { authorization: `AvowDevice ${jws}` } }
        : { method, headers: { 'content-type': 'application/jose' }, body: jws };
    const r = await request(this.avowd.url + target, { ...opts, ca: this.avowd.ca });
    let json = null;
    try {
      json = JSON.parse(r.body);
    } catch {
      /* not JSON */
    }
    return { status: r.status, json, body: r.body };
  }

  async enroll(name = 'direct') {
    const r = await this.call('POST', '/enroll', { name, platform: 'builtin' });
    if (r.status !== 201) throw new Error(`enroll: ${r.status} ${r.body}`);
    this.deviceId = r.json.device_id;
    return this.deviceId;
  }

  // `url` is the ScanCode URL (…/s/<code>).
  scan(url) {
    return this.call('POST', '/scan', { code: url.slice(url.lastIndexOf('/') + 1) });
  }

  challenges(wait = 0) {
    return this.call('GET', `/challenges?wait=${wait}`);
  }

  answer(challenge, action, number) {
    const fields = { challenge: challenge.id, action, context_hash: challenge.context_hash };
    if (number !== undefined) fields.number = number;
    return this.call('POST', `/challenges/${encodeURIComponent(challenge.id)}/answer`, fields);
  }
}

// base64url(SHA-256(text)): the context hash a device signs.
export function contextHash(text) {
  return createHash('sha256').update(text).digest('base64url');
}

// ---- the world -----------------------------------------------------------------------------------------

// A simulator, an avowd wired to it, one org and one integration. Options: `avowdEnv` (AVOW_* settings),
// `integration` (extra `admin integration create` flags, e.g. ['--guests', 'list', '--guest-tenant', G]).
export async function startWorld({
  avowdEnv = {},
  integration = [],
  directoryId = randomUUID(),
  appId = randomUUID(),
} = {}) {
  requireBinaries('AVOWD_BIN', 'AVOW_SIM_BIN');
  const root = await makeTempDir('avow-world-');
  const dataDir = join(root, 'avowd');
  // The receiver fetches avowd's discovery document over https: it trusts avowd's dev certificate, which
  // avowd writes when it starts (the path is fixed beforehand).
  const sim = await startSim({ stateDir: join(root, 'sim'), caFile: join(dataDir, 'dev-tls', 'cert.pem') });
  let avowd;
  try {
    avowd = await startAvowd({ dataDir, sim, env: avowdEnv });
  } catch (e) {
    await sim.stop();
    throw e;
  }
  const world = {
    root,
    sim,
    avowd,
    directoryId,
    appId,
    async stop() {
      closeAgents();
      const a = await avowd.stop();
      await sim.stop();
      return a;
    },
  };
  Object.assign(world, worldMethods(world));
  try {
    world.org = await admin(avowd, ['org', 'create', '--name', `Contoso ${randomBytes(3).toString('hex')}`]);
    world.integration = await world.addIntegration({ extra: integration });
  } catch (e) {
    await world.stop();
    throw e;
  }
  return world;
}

function worldMethods(world) {
  const { avowd, sim } = world;
  return {
    // Another integration of the same org (its own client id and, unless given, the world's tenant).
    async addIntegration({
      name = `Integration ${randomBytes(3).toString('hex')}`,
      directoryId = world.directoryId,
      appId = world.appId,
      extra = [],
    } = {}) {
      const i = await admin(avowd, [
        'integration', 'create', '--org', world.org.id, '--name', name,
        '--directory-id', directoryId, '--app-id', appId, ...extra,
      ]);
      // URLs under the running server's public URL (the admin command derives its own from the config).
      const issuer = `${avowd.url}/entra/${i.client_id}`;
      return {
        ...i,
        issuer,
        discovery_url: `${issuer}/.well-known/openid-configuration`,
        authorize_url: `${issuer}/authorize`,
        jwks_url: `${issuer}/jwks`,
      };
    },

    // The JSON for the sim's /flows: a sign-in of `user` to `integration` (default: the world's).
    flowSpec(user, overrides = {}, integration = world.integration) {
      return {
        discovery_url: integration.discovery_url,
        client_id: integration.client_id,
        app_id: integration.app_id ?? world.appId,
        directory_id: integration.directory_id ?? world.directoryId,
        tid: user.tid ?? integration.directory_id ?? world.directoryId,
        oid: user.oid,
        sub: user.sub,
        name: user.name,
        username: user.username,
        ...overrides,
      };
    },

    // Entra's browser POSTs the authorize form. → { status, headers, body, json, cookie, page, post }
    async authorize(fields, { integration = world.integration, headers = {} } = {}) {
      const r = await request(integration.authorize_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'e2e-browser/1.0', ...headers },
        body: typeof fields === 'string' ? fields : formEncode(fields),
        ca: avowd.ca,
      });
      const out = { ...r, cookie: cookieFrom(r.headers)?.value ?? null, json: null, page: null, post: null };
      if ((r.headers['content-type'] ?? '').startsWith('application/json')) out.json = JSON.parse(r.body);
      else {
        out.post = parseFormPost(r.body);
        if (!out.post && r.status === 200) out.page = parseMfaPage(r.body);
      }
      return out;
    },

    // The page's long-poll: GET <waitUrl>?seen=<view> with the flow cookie. → { status, json }
    async wait(flow, seen = '') {
      const r = await request(`${avowd.url}${flow.page.waitUrl}?seen=${encodeURIComponent(seen)}`, {
        headers: { cookie: `avow_flow=${flow.cookie}`, accept: 'application/json' },
        ca: avowd.ca,
      });
      return { status: r.status, json: r.status === 200 ? JSON.parse(r.body) : null, body: r.body };
    },

    // Waits until the sign-in is no longer pending (or `until` holds), following the views like the page.
    async waitUntil(flow, until = (j) => j.state !== 'pending', timeoutMs = 30000) {
      const end = Date.now() + timeoutMs;
      let seen = flow.page.view ?? '';
      for (;;) {
        const r = await world.wait(flow, seen);
        if (r.status !== 200) throw new Error(`wait: ${r.status} ${r.body}`);
        if (until(r.json)) return r.json;
        if (Date.now() > end) throw new Error(`wait: still ${JSON.stringify(r.json)}`);
        seen = r.json.view;
      }
    },

    // The page submits its finish form. → { status, body, post }
    async finish(flow, { cookie = flow.cookie, headers = {} } = {}) {
      const r = await request(`${avowd.url}${flow.page.finishUrl}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: new URL(avowd.url).origin,  // as the page's own form post sends it
          ...(cookie ? { cookie: `avow_flow=${cookie}` } : {}),
          ...headers,
        },
        body: '',
        ca: avowd.ca,
      });
      return { ...r, post: parseFormPost(r.body) };
    },

    // avowd's published keys (the integration's jwks_uri), as JSON.
    async providerJwks(integration = world.integration) {
      return JSON.parse((await request(integration.jwks_url, { ca: avowd.ca })).body);
    },

    cliDevice: (name) => cliDevice(avowd, name),
    directDevice: async (name) => {
      const d = new DirectDevice(avowd);
      await d.enroll(name);
      return d;
    },
  };
}

// ---- flow steps shared by the suites --------------------------------------------------------------------

// Entra starts a sign-in of `user` (the sim remembers it) and the browser POSTs it to avowd. The result
// merges the sim's flow ({ state, nonce, sub, hint, fields }) with avowd's answer ({ status, headers, body,
// json, cookie, page, post }): what world.wait / world.finish take.
export async function beginSignIn(world, user, overrides = {}, integration = world.integration) {
  const flow = await world.sim.flow(world.flowSpec(user, overrides, integration));
  const res = await world.authorize(flow.fields, { integration });
  return { ...flow, ...res, authorizeBody: flow.body };
}

// Checks an id_token as a relying party would, with jose against avowd's published keys.
export async function verifyWithJose(world, token, flow, integration = world.integration) {
  let keys;
  try {
    // jose fetches the jwks_uri itself (https, trusting avowd's dev certificate).
    keys = jose.createRemoteJWKSet(new URL(integration.jwks_url), { agent: new https.Agent({ ca: world.avowd.ca }) });
    await keys({ alg: 'RS256', kid: decodeJwt(token).header.kid });
  } catch {
    keys = jose.createLocalJWKSet(await world.providerJwks(integration));
  }
  const { payload, protectedHeader } = await jose.jwtVerify(token, keys, {
    issuer: integration.issuer,
    audience: integration.client_id,
    algorithms: ['RS256'],
    clockTolerance: 5,
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.ok(protectedHeader.kid);
  assert.equal(payload.nonce, flow.nonce);
  assert.equal(payload.sub, flow.sub, 'sub is the hint\'s sub');
  assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 3600, 'short-lived');
  return payload;
}

// The page waits while the device binds and answers; resolves with the page's number once it shows one.
export async function pageNumber(world, flow) {
  if (!flow.page.scanUrl && Number.isInteger(flow.page.number)) return flow.page.number;
  const j = await world.waitUntil(flow, (x) => x.state !== 'pending' || x.view.startsWith('number:'));
  return j.number;
}

// Scans (when the page shows a ScanCode), finds the push, approves it with the page's number.
export async function approveWithCli(world, dev, flow, user) {
  let challengeId;
  if (flow.page.scanUrl) {
    const scanned = await dev.scan(flow.page.scanUrl);
    assert.equal(scanned.result, 'bound');
    assert.equal(scanned.account.user, user.username);
    challengeId = scanned.challenge_id;
  }
  const number = await pageNumber(world, flow);
  const pending = await dev.pending(10);
  const c = challengeId ? pending.challenges.find((x) => x.id === challengeId) : pending.challenges[0];
  assert.ok(c, `the push reached the device: ${JSON.stringify(pending)}`);
  assert.equal(c.context.user, user.username, 'the device shows who is signing in');
  assert.equal(c.context.integration, world.integration.name);
  assert.equal(c.context.user_agent, 'e2e-browser/1.0');
  assert.equal(c.choices.length, 3);
  assert.ok(c.choices.includes(number), `the page's number ${number} is among ${c.choices}`);
  const r = await dev.approve(c.id, number);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return c;
}

export async function finishApproved(world, flow) {
  const j = await world.waitUntil(flow);
  assert.equal(j.state, 'approved');
  const done = await world.finish(flow);
  assert.equal(done.status, 200);
  assert.ok(done.post, 'finish answers with the auto-submitting form_post');
  assert.equal(done.post.fields.error, undefined, JSON.stringify(done.post.fields));
  assert.equal(done.post.fields.state, flow.state);
  assert.ok(done.post.fields.id_token);
  assert.match(done.headers['content-security-policy'], /script-src 'nonce-/);
  assert.doesNotMatch(done.headers['content-security-policy'], /form-action/);
  return done;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
