// Many avowd nodes on one PostgreSQL, for the cluster suite: a throw-away PostgreSQL (tests/lib/postgres.mjs),
// N `avowd serve --dev` nodes sharing its database and one master key, a TCP balancer in front of them (the
// public URL every node advertises, as nginx or HAProxy would be), and the Entra simulator behind that URL.
//
//   const c = await startCluster({ nodes: 3 });       // null when PostgreSQL is not installed (skip)
//   const user = newUser();
//   await c.bind(user, device);                       // first sign-in: scan, approve, finish, delivered
//   const flow = await c.authorize(c.nodes[0], user); // Entra's browser POSTs to node 0
//   await c.wait(c.nodes[1], flow, seen);             // the page's long-poll, sent to node 1
//   await c.finish(c.nodes[2], flow);                 // the page's finish, sent to node 2
//   await c.killNode(0); await c.restartNode(0);
//   await c.stop();
//
// The test talks to each node directly where it matters which node answers (the balancer's choice made by
// hand); the simulator (discovery, JWKS, the id_token check) goes through the balancer, which skips nodes
// that are down. Every node serves the same dev TLS certificate (copied from the first), so one CA file
// trusts them all, as one certificate on a real balancer would.
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';

import {
  AVOWD,
  DirectDevice,
  closeAgents,
  cookieFrom,
  formEncode,
  makeTempDir,
  parseFormPost,
  parseMfaPage,
  request,
  requireBinaries,
  run,
  startAvowd,
  startSim,
} from '../e2e/helpers.mjs';
import { startPostgres } from '../lib/postgres.mjs';

// A TCP balancer: each new connection goes to the next live backend, round robin. No stickiness: every
// request of a flow may land anywhere, which is the point.
function startBalancer() {
  const backends = []; // { port, up }
  let next = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const live = backends.filter((b) => b.up);
    if (live.length === 0) return client.destroy();
    const b = live[next++ % live.length];
    const upstream = net.connect(b.port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        backends,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

// A free loopback port (the balancer's address must be known before the nodes start: it is their public URL).
export async function startCluster({ nodes: count = 3, env = {} } = {}) {
  requireBinaries('AVOWD_BIN', 'AVOW_BIN', 'AVOW_SIM_BIN');
  const pg = await startPostgres();
  if (!pg) return null;
  const root = await makeTempDir('avow-cluster-');
  const databaseUrl = await pg.createDatabase('avow_cluster');
  const balancer = await startBalancer();
  const publicUrl = `https://127.0.0.1:${balancer.port}`;
  // One master key for every node (it opens the signing keys and the sealed secrets in the shared database).
  const masterKey = randomBytes(32).toString('base64url');
  // The load tests sign the same few users in many times a minute: no per-user push limit here.
  const nodeEnv = { AVOW_KEYS_MASTER_KEY: masterKey, AVOW_PUBLIC_URL: publicUrl, AVOW_FLOW_MAX_PUSHES_PER_HOUR: '0', ...env };
  const caFile = join(root, 'node0', 'dev-tls', 'cert.pem');
  const sim = await startSim({ stateDir: join(root, 'sim'), caFile });

  const cluster = {
    pg,
    databaseUrl,
    masterKey,
    publicUrl,
    sim,
    root,
    nodes: [],
    directoryId: randomUUID(),
    appId: randomUUID(),
    statuses: [], // every HTTP status a client saw: { what, node, status }
  };

  async function launch(i) {
    const dataDir = join(root, `node${i}`);
    if (i > 0) {
      // The first node's certificate, so the simulator's one CA file trusts every node.
      await mkdir(join(dataDir, 'dev-tls'), { recursive: true, mode: 0o700 });
      for (const f of ['cert.pem', 'key.pem'])
        await copyFile(join(root, 'node0', 'dev-tls', f), join(dataDir, 'dev-tls', f));
    }
    const node = await startAvowd({ dataDir, sim, env: nodeEnv, args: ['--database', databaseUrl] });
    node.index = i;
    node.name = `node${i}`;
    return node;
  }

  for (let i = 0; i < count; i++) {
    const node = await launch(i);
    cluster.nodes.push(node);
    balancer.backends.push({ port: node.port, up: true });
  }

  const note = (what, node, status) => cluster.statuses.push({ what, node: node?.name, status });

  Object.assign(cluster, {
    // `avowd <args…> --json` on the shared database; resolves with the parsed output.
    async avowd(args, { json = true } = {}) {
      const r = await run(
        AVOWD,
        [...args, '--data-dir', join(root, 'cli'), '--database', databaseUrl, ...(json ? ['--json'] : [])],
        { env: { AVOW_KEYS_MASTER_KEY: masterKey, AVOW_PUBLIC_URL: publicUrl } },
      );
      if (r.code !== 0) throw new Error(`avowd ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
      return json ? JSON.parse(r.stdout) : r;
    },

    // SIGKILL: no graceful anything, as a crashed machine.
    async killNode(i) {
      balancer.backends[i].up = false;
      await cluster.nodes[i].stop('SIGKILL');
    },

    async restartNode(i) {
      await cluster.nodes[i].stop();
      const node = await launch(i);
      cluster.nodes[i] = node;
      balancer.backends[i] = { port: node.port, up: true };
      return node;
    },

    async readyz(node) {
      try {
        const r = await request(`${node.url}/readyz`, { ca: node.ca, timeoutMs: 15000 });
        return { status: r.status, json: JSON.parse(r.body) };
      } catch (e) {
        return { status: 0, error: e.message };
      }
    },

    async jwks(node, path = '/.well-known/jwks.json') {
      const r = await request(node.url + path, { ca: node.ca });
      if (r.status !== 200) throw new Error(`jwks on ${node.name}: ${r.status}`);
      return JSON.parse(r.body);
    },

    // The sim's /flows spec for a sign-in of `user`.
    flowSpec(user) {
      const i = cluster.integration;
      return {
        discovery_url: i.discovery_url,
        client_id: i.client_id,
        app_id: cluster.appId,
        directory_id: cluster.directoryId,
        tid: cluster.directoryId,
        oid: user.oid,
        sub: user.sub,
        name: user.name,
        username: user.username,
      };
    },

    // Entra starts a sign-in (the sim mints the hint) and the browser POSTs it to `node`.
    // → { state, nonce, sub, status, cookie, page, post, body }
    async authorize(node, user) {
      const flow = await sim.flow(cluster.flowSpec(user));
      const r = await request(`${node.url}/entra/${cluster.integration.client_id}/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'cluster-browser/1.0' },
        body: formEncode(flow.fields),
        ca: node.ca,
      });
      note('authorize', node, r.status);
      const out = { ...flow, status: r.status, body: r.body, cookie: cookieFrom(r.headers)?.value ?? null };
      out.page = r.status === 200 ? parseMfaPage(r.body) : null;
      out.post = r.status === 200 ? parseFormPost(r.body) : null;
      return out;
    },

    // The page's long-poll on `node`. → { status, json, ms }
    async wait(node, flow, seen = '') {
      const t0 = performance.now();
      const r = await request(`${node.url}${flow.page.waitUrl}?seen=${encodeURIComponent(seen)}`, {
        headers: { cookie: `avow_flow=${flow.cookie}`, accept: 'application/json' },
        ca: node.ca,
      });
      note('wait', node, r.status);
      return { status: r.status, json: r.status === 200 ? JSON.parse(r.body) : null, body: r.body, ms: performance.now() - t0 };
    },

    // Follows the page's views on `node` until the sign-in is no longer pending (or `until` holds).
    async waitUntil(node, flow, until = (j) => j.state !== 'pending', timeoutMs = 30000) {
      const end = Date.now() + timeoutMs;
      let seen = flow.page.view ?? '';
      for (;;) {
        const r = await cluster.wait(node, flow, seen);
        if (r.status !== 200) throw new Error(`wait on ${node.name}: ${r.status} ${r.body}`);
        if (until(r.json)) return r.json;
        if (Date.now() > end) throw new Error(`wait: still ${JSON.stringify(r.json)}`);
        seen = r.json.view;
      }
    },

    // The page's finish form, posted to `node`. → { status, body, post }
    async finish(node, flow) {
      const r = await request(`${node.url}${flow.page.finishUrl}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: publicUrl, // the page was served under the public URL
          cookie: `avow_flow=${flow.cookie}`,
        },
        body: '',
        ca: node.ca,
      });
      note('finish', node, r.status);
      return { ...r, post: r.status === 200 ? parseFormPost(r.body) : null };
    },

    // A device speaking the device API, enrolled through `node`. device.on(other) is the same device talking
    // to another node (a view: the device itself is unchanged, so two views can race).
    async directDevice(node, name = 'direct') {
      const d = new DirectDevice(node);
      d.call = async function call(...args) {
        const target = this.avowd;
        const r = await DirectDevice.prototype.call.apply(this, args);
        note(`device ${args[1].split('?')[0].split('/')[1]}`, target, r.status);
        return r;
      };
      d.on = (n) => {
        const view = Object.create(d);
        view.avowd = n;
        return view;
      };
      await d.enroll(name);
      return d;
    },

    // A first sign-in: the page shows a ScanCode, `device` scans it (binding it to `user`), approves the
    // push, the page finishes and Entra (the sim) accepts the answer. Spread over the nodes on purpose.
    async bind(user, device) {
      const [a, b, c] = [cluster.nodes[0], cluster.nodes[1 % count], cluster.nodes[2 % count]];
      const flow = await cluster.authorize(a, user);
      if (flow.status !== 200 || !flow.page?.scanUrl) throw new Error(`authorize: ${flow.status} ${flow.body}`);
      const scanned = await device.on(b).scan(flow.page.scanUrl);
      if (scanned.status !== 200) throw new Error(`scan: ${scanned.status} ${scanned.body}`);
      const j = await cluster.waitUntil(c, flow, (x) => x.state !== 'pending' || x.view.startsWith('number:'));
      const challenge = await cluster.pendingChallenge(device.on(c));
      const answered = await device.on(c).answer(challenge, 'approve', j.number);
      if (answered.status !== 200) throw new Error(`answer: ${answered.status} ${answered.body}`);
      await cluster.waitUntil(a, flow);
      const done = await cluster.finish(b, flow);
      if (done.status !== 200 || !done.post?.fields.id_token) throw new Error(`finish: ${done.status}`);
      const verdict = await sim.deliver(done.post);
      if (verdict.verdict?.outcome !== 'accepted') throw new Error(`sim: ${JSON.stringify(verdict.verdict)}`);
    },

    // The device's pending challenge (long-polls up to 10 s for it).
    async pendingChallenge(device) {
      const r = await device.challenges(10);
      if (r.status !== 200) throw new Error(`challenges: ${r.status} ${r.body}`);
      const c = r.json.challenges[0];
      if (!c) throw new Error('no pending challenge reached the device');
      return c;
    },

    // Stops everything; resolves with each node's exit ({ code, signal }) after SIGTERM.
    async stop() {
      closeAgents();
      const exits = [];
      for (const n of cluster.nodes) exits.push(await n.stop());
      await sim.stop();
      await balancer.close();
      await pg.destroy();
      return exits;
    },
  });

  try {
    cluster.org = await cluster.avowd(['admin', 'org', 'create', '--name', `Cluster ${randomBytes(3).toString('hex')}`]);
    const i = await cluster.avowd([
      'admin', 'integration', 'create', '--org', cluster.org.id, '--name', 'Cluster integration',
      '--directory-id', cluster.directoryId, '--app-id', cluster.appId,
    ]);
    const issuer = `${publicUrl}/entra/${i.client_id}`;
    cluster.integration = { ...i, issuer, discovery_url: `${issuer}/.well-known/openid-configuration` };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
