// Size limits, timeouts, pipelining order and the connection limit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  openSocket,
  parseResponses,
  rawExchange,
  removeDataDirs,
  request,
  sleep,
  startAvowd,
  waitFor,
} from './helpers.mjs';

after(removeDataDirs);

describe('limits and timeouts', () => {
  let srv;
  before(async () => {
    srv = await startAvowd({
      env: {
        AVOW_LIMITS_MAX_HEADER_BYTES: '4096',
        AVOW_LIMITS_MAX_BODY_BYTES: '1024',
        AVOW_LIMITS_HEADER_TIMEOUT: '1s',
        AVOW_LIMITS_BODY_TIMEOUT: '1s',
        AVOW_LIMITS_IDLE_TIMEOUT: '1s',
        AVOW_TESTING_ENABLE_DEBUG_ROUTES: 'true',
      },
    });
  });
  after(async () => assert.equal((await srv.stop()).code, 0));

  test('a header over max_header_bytes → 431 and close', async () => {
    const r = await rawExchange(srv.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`]);
    assert.match(r.data, /^HTTP\/1\.1 431 /);
    assert.match(r.data, /\r\nConnection: close\r\n/i);
    assert.equal(r.closed, true);
  });

  test('a header just under the limit is served', async () => {
    const res = await request(`${srv.url}/healthz`, { headers: { 'X-Big': 'a'.repeat(3000) } });
    assert.equal(res.status, 200);
  });

  test('a declared body over max_body_bytes → 413 without reading it', async () => {
    const res = await request(`${srv.url}/healthz`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '5000' },
      body: Buffer.alloc(5000, 1),
    });
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).error, 'payload_too_large');
  });

  test('a chunked body that grows past the limit → 413', async () => {
    const chunk = 'x'.repeat(800);
    const size = chunk.length.toString(16);
    const r = await rawExchange(srv.port, [
      'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `${size}\r\n${chunk}\r\n`,
      `${size}\r\n${chunk}\r\n`,
      '0\r\n\r\n',
    ]);
    assert.match(r.data, /^HTTP\/1\.1 413 /);
  });

  test('a body within the limit reaches routing (405 here, not 413)', async () => {
    const declared = await request(`${srv.url}/healthz`, {
      method: 'POST',
      headers: { 'Content-Length': '1000' },
      body: 'x'.repeat(1000),
    });
    assert.equal(declared.status, 405);
    const chunked = await request(`${srv.url}/healthz`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(chunked.status, 405);
  });

  test('slowloris: half a header then silence → 408 and close within the header timeout', async () => {
    const r = await rawExchange(srv.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 5000 });
    assert.equal(r.closed, true, 'closed by the server');
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.ok(r.elapsedMs >= 900 && r.elapsedMs < 4000, `closed after ${r.elapsedMs} ms`);
  });

  test('trickling header bytes does not extend the header timeout', async () => {
    const chunks = ['GET /healthz HTTP/1.1\r\n'];
    for (let i = 0; i < 30; i++) chunks.push(() => sleep(100), `X-${i}: y\r\n`);
    const r = await rawExchange(srv.port, chunks, { timeoutMs: 6000 });
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.ok(r.elapsedMs < 2500, `closed after ${r.elapsedMs} ms`);
  });

  test('a body that stops arriving → 408 within the body timeout', async () => {
    const r = await rawExchange(srv.port, ['POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc'], {
      timeoutMs: 5000,
    });
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.equal(r.closed, true);
  });

  test('an idle keep-alive connection is closed after the idle timeout', async () => {
    const s = await openSocket(srv.port);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(await waitFor(() => s.data().includes('{"status":"ok"}'), 3000));
    const closed = await waitFor(() => s.closed(), 4000);
    s.close();
    assert.ok(closed, 'closed by the server');
  });

  test('pipelined requests are answered strictly in order, even when the first is slow', async () => {
    const r = await rawExchange(
      srv.port,
      [
        'GET /debug/sleep?ms=300 HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow\r\n\r\n' +
          'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: fast\r\n\r\n' +
          'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: last\r\nConnection: close\r\n\r\n',
      ],
      { timeoutMs: 5000 },
    );
    const ids = parseResponses(r.data).map((x) => `${x.status} ${x.headers['x-request-id']}`);
    assert.deepEqual(ids, ['200 slow', '200 fast', '200 last']);
  });

  test('keep-alive: sequential requests share one connection', async () => {
    const s = await openSocket(srv.port);
    for (const id of ['k1', 'k2', 'k3']) {
      s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\n\r\n`);
      assert.ok(await waitFor(() => s.data().includes(`X-Request-Id: ${id}`), 3000), id);
    }
    assert.equal(s.closed(), false);
    s.close();
  });
});

describe('connection limit', () => {
  let srv;
  before(async () => {
    srv = await startAvowd({ env: { AVOW_LIMITS_MAX_CONNECTIONS: '2', AVOW_LIMITS_IDLE_TIMEOUT: '30s' } });
  });
  after(async () => assert.equal((await srv.stop()).code, 0));

  test('over max_connections: refused with 503 until a slot frees', async () => {
    const held = [];
    for (let i = 0; i < 2; i++) {
      const s = await openSocket(srv.port);
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.ok(await waitFor(() => s.data().includes('{"status":"ok"}'), 3000), 'held connection served');
      held.push(s);
    }
    const refused = await rawExchange(srv.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 3000 });
    assert.equal(refused.closed, true, 'the extra connection is closed at once');
    assert.ok(!refused.data.includes('{"status":"ok"}'), 'and not served');
    if (refused.data) assert.match(refused.data, /^HTTP\/1\.1 503 /);

    held[0].close();
    const served = await waitFor(async () => {
      const r = await rawExchange(srv.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
      return r.data.includes('{"status":"ok"}');
    }, 5000);
    assert.ok(served, 'served again once a connection closed');
    held[1].close();

    const metrics = await waitFor(async () => {
      const r = await rawExchange(srv.port, ['GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
      return /avow_http_connections_rejected_total ([1-9]\d*)/.test(r.data) ? r.data : null;
    }, 5000);
    assert.ok(metrics, 'rejections are counted');
  });
});
