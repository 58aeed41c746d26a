// Start-up checks, graceful shutdown, persistence across restarts and the keys subcommands.
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  getJson,
  makeDataDir,
  openSocket,
  removeDataDirs,
  request,
  runAvowd,
  sleep,
  startAvowd,
  waitFor,
} from './helpers.mjs';

after(removeDataDirs);

function connectError(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.on('error', (e) => resolve(e.code));
  });
}

test('graceful shutdown: the in-flight request completes, new connections are refused, exit 0', async () => {
  const srv = await startAvowd({
    env: { AVOW_TESTING_ENABLE_DEBUG_ROUTES: 'true', AVOW_LIMITS_SHUTDOWN_GRACE: '10s' },
  });
  const idle = await openSocket(srv.port);
  idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(await waitFor(() => idle.data().includes('{"status":"ok"}'), 3000));

  const started = Date.now();
  const inflight = request(`${srv.url}/debug/sleep?ms=1500`);
  await sleep(300);
  srv.child.kill('SIGTERM');

  // Idle keep-alive connections are closed at once; the listener stops accepting.
  assert.ok(await waitFor(() => idle.closed(), 1000), 'idle connection closed promptly');
  assert.equal(await waitFor(() => connectError(srv.port).then((c) => c === 'ECONNREFUSED'), 1000), true);

  const res = await inflight;
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { slept_ms: 1500 });
  assert.equal(res.headers['connection'], 'close');
  assert.ok(Date.now() - started >= 1500);

  const { code } = await srv.exited;
  assert.equal(code, 0);
  assert.equal(await connectError(srv.port), 'ECONNREFUSED');
  assert.match(srv.stderr(), /"msg":"shutting down"/);
  assert.match(srv.stderr(), /"msg":"stopped"/);
});

test('shutdown_grace bounds how long an in-flight request may delay the exit', async () => {
  const srv = await startAvowd({
    env: { AVOW_TESTING_ENABLE_DEBUG_ROUTES: 'true', AVOW_LIMITS_SHUTDOWN_GRACE: '500ms' },
  });
  const inflight = request(`${srv.url}/debug/sleep?ms=8000`).catch((e) => e);
  await sleep(200);
  const t0 = Date.now();
  const { code } = await srv.stop();
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 4000, `exited after ${Date.now() - t0} ms`);
  assert.ok((await inflight) instanceof Error, 'the cut-off request fails');
  assert.match(srv.stderr(), /shutdown grace expired/);
});

test('debug routes are off unless enabled', async () => {
  const srv = await startAvowd();
  try {
    assert.equal((await request(`${srv.url}/debug/sleep?ms=1`)).status, 404);
  } finally {
    await srv.stop();
  }
});

test('a bad config file fails with exit 2 and names the key', async () => {
  const dir = await makeDataDir();
  const file = join(dir, 'avowd.toml');
  writeFileSync(file, '[limits]\nmax_body_bytes = "abc"\n');
  const r = await runAvowd(['serve', '--config', file, '--data-dir', dir, '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /config: limits\.max_body_bytes: expected a positive integer, got "abc"/);

  writeFileSync(file, 'listen = "127.0.0.1:0"\nlisten_port = 1\n');
  const unknown = await runAvowd(['serve', '--config', file, '--data-dir', dir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /config: listen_port: unknown key/);
});

test('bad environment values and unknown AVOW_ variables fail with exit 2', async () => {
  const dir = await makeDataDir();
  const bad = await runAvowd(['serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], {
    env: { AVOW_LIMITS_HEADER_TIMEOUT: '10' },
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /config: limits\.header_timeout: .*\(from AVOW_LIMITS_HEADER_TIMEOUT\)/);
  const unknown = await runAvowd(['serve', '--data-dir', dir], { env: { AVOW_LISTEN_ADDR: '127.0.0.1:1' } });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /AVOW_LISTEN_ADDR: unknown environment variable/);
  const port = await runAvowd(['serve', '--data-dir', dir, '--listen', '127.0.0.1:99999']);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /config: listen: port must be between 0 and 65535/);
});

test('plain HTTP on a non-loopback address is refused', async () => {
  const dir = await makeDataDir();
  const r = await runAvowd(['serve', '--data-dir', dir, '--listen', '0.0.0.0:0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /config: listen: plain HTTP is served only on a loopback address/);
});

test('a port already in use fails start-up with exit 1', async () => {
  const first = await startAvowd();
  try {
    const r = await runAvowd(['serve', '--data-dir', await makeDataDir(), '--listen', `127.0.0.1:${first.port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  } finally {
    await first.stop();
  }
});

test('a restart reuses the data: same master key, same JWKS; only the first start migrates', async () => {
  const first = await startAvowd();
  const jwks1 = (await request(`${first.url}/.well-known/jwks.json`)).body;
  assert.equal((await first.stop()).code, 0);
  assert.match(first.stderr(), /"msg":"database migrated".*"from_version":"0".*"to_version":"[1-9]\d*"/);
  assert.equal(statSync(first.dataDir).mode & 0o777, 0o700, 'data dir is 0700');
  assert.equal(statSync(join(first.dataDir, 'master.key')).mode & 0o777, 0o600, 'master key is 0600');

  const second = await startAvowd({ dataDir: first.dataDir });
  try {
    const jwks2 = (await request(`${second.url}/.well-known/jwks.json`)).body;
    assert.equal(jwks2, jwks1);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  assert.doesNotMatch(second.stderr(), /database migrated/);
});

test('keys rotate moves next → active → retired; keys list shows it', async () => {
  const dir = await makeDataDir();
  const srv = await startAvowd({ dataDir: dir });
  const before = (await getJson(`${srv.url}/.well-known/jwks.json`)).json.keys.map((k) => k.kid);
  await srv.stop();

  const list1 = await runAvowd(['keys', 'list', '--json', '--data-dir', dir]);
  assert.equal(list1.code, 0, list1.stderr);
  const keys1 = JSON.parse(list1.stdout).keys;
  const active1 = keys1.find((k) => k.state === 'active');
  const next1 = keys1.find((k) => k.state === 'next');
  assert.equal(keys1.length, 2);
  assert.ok(active1 && next1);
  assert.deepEqual([...before].sort(), [active1.kid, next1.kid].sort());

  const rotated = await runAvowd(['keys', 'rotate', '--json', '--data-dir', dir]);
  assert.equal(rotated.code, 0, rotated.stderr);
  const keys2 = JSON.parse(rotated.stdout).keys;
  const state = (kid) => keys2.find((k) => k.kid === kid)?.state;
  assert.equal(state(active1.kid), 'retired');
  assert.equal(state(next1.kid), 'active');
  const fresh = keys2.filter((k) => k.kid !== active1.kid && k.kid !== next1.kid);
  assert.equal(fresh.length, 1);
  assert.equal(fresh[0].state, 'next');
  assert.ok(keys2.find((k) => k.kid === active1.kid).retired_at);

  const table = await runAvowd(['keys', 'list', '--data-dir', dir]);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^KID\s+STATE\s+CREATED\s+ACTIVATED\s+RETIRED\s+PUBLISHED/m);
  assert.match(table.stdout, new RegExp(`^${next1.kid.replace(/[-]/g, '\\-')}\\s+active\\s`, 'm'));
  assert.match(table.stdout, new RegExp(`^${active1.kid.replace(/[-]/g, '\\-')}\\s+retired\\s`, 'm'));

  // The server publishes the new state after a restart: active, next and the retired key (retention).
  const again = await startAvowd({ dataDir: dir });
  try {
    const kids = (await getJson(`${again.url}/.well-known/jwks.json`)).json.keys.map((k) => k.kid);
    assert.deepEqual(kids.sort(), keys2.map((k) => k.kid).sort());
  } finally {
    await again.stop();
  }
});

test('keys commands refuse a data directory without a database', async () => {
  const dir = await makeDataDir();
  const r = await runAvowd(['keys', 'list', '--data-dir', join(dir, 'typo')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /avowd keys list: database: .*avow\.db does not exist/);
});

test('version and usage errors', async () => {
  const v = await runAvowd(['version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^avowd \d+\.\d+\.\d+$/m);
  const none = await runAvowd([]);
  assert.equal(none.code, 2);
  const unknown = await runAvowd(['frobnicate']);
  assert.equal(unknown.code, 2);
  const badFlag = await runAvowd(['serve', '--no-such-flag']);
  assert.equal(badFlag.code, 2);
});
