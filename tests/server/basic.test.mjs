// Endpoints, response hygiene, routing errors, request ids, access log and metrics.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { getJson, logLines, parseResponses, rawExchange, removeDataDirs, request, startAvowd, waitFor } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startAvowd();
});
after(async () => {
  try {
    if (srv) {
      const { code, signal } = await srv.stop();
      assert.equal(code, 0, `exit ${code} / ${signal}\n${srv.stderr().slice(-3000)}`);
    }
  } finally {
    await removeDataDirs();
  }
});

test('prints where it listens on stdout', async () => {
  assert.match(srv.stdout(), /^avowd listening on http:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(srv.stdout(), /\/healthz$/m);
  assert.match(srv.stdout(), /\/readyz$/m);
  assert.match(srv.stdout(), /\/metrics$/m);
  const listening = await waitFor(() => logLines(srv.stderr()).find((l) => l.msg === 'listening'));
  assert.ok(listening, 'a JSON "listening" log line');
  assert.equal(listening.url, srv.url);
});

test('GET /healthz answers ok with the standard headers', async () => {
  const res = await getJson(`${srv.url}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: 'ok' });
  assert.equal(res.headers['server'], 'avow');
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.ok(!Number.isNaN(Date.parse(res.headers['date'])), 'a Date header');
  assert.match(res.headers['x-request-id'], /^[A-Za-z0-9_-]{22}$/);
  assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
});

test('GET /readyz is ready when the database answers', async () => {
  const res = await getJson(`${srv.url}/readyz`);
  assert.equal(res.status, 200);
  assert.equal(res.json.status, 'ready');
  assert.equal(res.json.checks.database, 'ok');
});

test('GET /.well-known/jwks.json publishes the active and next keys', async () => {
  const res = await getJson(`${srv.url}/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  assert.equal(res.json.keys.length, 2);
  for (const k of res.json.keys) {
    assert.equal(k.kty, 'RSA');
    assert.equal(k.alg, 'RS256');
    assert.equal(k.use, 'sig');
    assert.ok(k.kid && k.n && k.e && k.x5c?.length === 1 && k.x5t);
  }
  assert.match(res.headers['cache-control'], /max-age=\d+/);
});

test('HEAD sends the GET headers without a body', async () => {
  const res = await request(`${srv.url}/healthz`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], '15');
  assert.equal(res.body, '');
});

test('unknown path → 404, wrong method → 405 with Allow', async () => {
  const missing = await getJson(`${srv.url}/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, 'not_found');
  const wrong = await getJson(`${srv.url}/healthz`, { method: 'POST', body: 'x' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers['allow'], 'GET, HEAD');
  assert.equal(wrong.json.error, 'method_not_allowed');
});

test('a sane X-Request-Id is echoed, a bad one replaced', async () => {
  const good = await request(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'trace-abc.123:4' } });
  assert.equal(good.headers['x-request-id'], 'trace-abc.123:4');
  const bad = await request(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'has spaces "and quotes"' } });
  assert.match(bad.headers['x-request-id'], /^[A-Za-z0-9_-]{22}$/);
  const long = await request(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'a'.repeat(65) } });
  assert.notEqual(long.headers['x-request-id'], 'a'.repeat(65));
});

test('malformed requests get 400 and a closed connection', async () => {
  const r = await rawExchange(srv.port, ['GARBAGE\r\n\r\n']);
  assert.match(r.data, /^HTTP\/1\.1 400 /);
  assert.equal(r.closed, true);
  const badTarget = await rawExchange(srv.port, ['GET healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
  assert.match(badTarget.data, /^HTTP\/1\.1 400 /);
});

test('an over-long request target gets 414', async () => {
  const r = await rawExchange(srv.port, [`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
  assert.match(r.data, /^HTTP\/1\.1 414 /);
  assert.equal(r.closed, true);
});

test('one access-log line per request, without query strings or credentials', async () => {
  const id = 'log-check-1';
  await request(`${srv.url}/healthz?token=SECRET-QUERY`, {
    headers: { 'X-Request-Id': id, Authorization: 'Bearer SECRET-AUTH', Cookie: 'sid=SECRET-COOKIE' },
  });
  const line = await waitFor(() => logLines(srv.stderr()).find((l) => l.msg === 'request' && l.request_id === id));
  assert.ok(line, 'access log line');
  assert.equal(line.method, 'GET');
  assert.equal(line.route, '/healthz');
  assert.equal(line.status, 200);
  assert.equal(line.bytes, 15);
  assert.equal(line.remote, '127.0.0.1');
  assert.equal(typeof line.duration_ms, 'number');
  for (const secret of ['SECRET-QUERY', 'SECRET-AUTH', 'SECRET-COOKIE'])
    assert.ok(!srv.stderr().includes(secret), `${secret} must not be logged`);
});

test('GET /metrics exposes request counters, latency, connections and build info', async () => {
  await request(`${srv.url}/healthz`);
  await request(`${srv.url}/readyz`);
  await request(`${srv.url}/missing/path`);
  const res = await request(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const m = res.body;
  const count = (re) => Number((re.exec(m) ?? [, 'NaN'])[1]);
  assert.ok(count(/^avow_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)$/m) >= 2);
  assert.ok(count(/^avow_http_requests_total\{route="\/healthz",method="POST",status="405"\} (\d+)$/m) >= 1);
  assert.ok(count(/^avow_http_requests_total\{route="unmatched",method="GET",status="404"\} (\d+)$/m) >= 2);
  assert.ok(count(/^avow_http_requests_total\{route="invalid",method="OTHER",status="400"\} (\d+)$/m) >= 1);
  assert.ok(count(/^avow_http_request_duration_seconds_count\{route="\/healthz"\} (\d+)$/m) >= 2);
  assert.match(m, /^avow_http_request_duration_seconds_bucket\{route="\/healthz",le="\+Inf"\} \d+$/m);
  assert.match(m, /^# TYPE avow_http_request_duration_seconds histogram$/m);
  assert.ok(count(/^avow_http_open_connections (\d+)$/m) >= 1);
  assert.ok(count(/^avow_db_ping_seconds_count (\d+)$/m) >= 1);
  assert.match(m, /^avow_build_info\{version="\d+\.\d+\.\d+"\} 1$/m);
  // Raw paths never become labels.
  assert.ok(!m.includes('/missing/path'));
});

test('keep-alive: pipelined requests are answered in order on one connection', async () => {
  const r = await rawExchange(
    srv.port,
    [
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n' +
        'GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n' +
        'GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: three\r\nConnection: close\r\n\r\n',
    ],
    { timeoutMs: 5000 },
  );
  const responses = parseResponses(r.data);
  assert.deepEqual(
    responses.map((x) => [x.status, x.headers['x-request-id']]),
    [
      [200, 'one'],
      [404, 'two'],
      [200, 'three'],
    ],
  );
  assert.equal(responses[2].headers['connection'], 'close');
  assert.equal(r.closed, true, 'closed after Connection: close');
});
