// --dev: a self-signed certificate for localhost, created once and reused; HTTPS only.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { X509Certificate } from 'node:crypto';

import { rawExchange, removeDataDirs, request, startAvowd } from './helpers.mjs';

after(removeDataDirs);

test('--dev serves HTTPS with a generated localhost certificate, reused after a restart', async () => {
  const srv = await startAvowd({ args: ['--dev'] });
  let certPem;
  try {
    assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await request(`${srv.url}/healthz`, { tls: { rejectUnauthorized: false } });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).status, 'ok');
    assert.match(res.headers['strict-transport-security'], /^max-age=\d+/);

    const dir = join(srv.dataDir, 'dev-tls');
    certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600, 'key file is 0600');
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'dev-tls directory is 0700');
    const cert = new X509Certificate(certPem);
    assert.match(cert.subjectAltName, /DNS:localhost/);
    assert.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
    assert.equal(res.peerCertificate.fingerprint256, cert.fingerprint256, 'the server presents that certificate');

    // Trusting exactly this certificate verifies the connection by name.
    const verified = await request(`https://localhost:${srv.port}/healthz`, {
      tls: { ca: certPem, rejectUnauthorized: true },
    });
    assert.equal(verified.status, 200);

    // Plain HTTP on the TLS port is not served.
    const plain = await rawExchange(srv.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 3000 });
    assert.ok(!plain.data.includes('{"status":"ok"}'));
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }

  const again = await startAvowd({ args: ['--dev'], dataDir: srv.dataDir });
  try {
    assert.equal(readFileSync(join(srv.dataDir, 'dev-tls', 'cert.pem'), 'utf8'), certPem, 'certificate reused');
    const res = await request(`${again.url}/healthz`, { tls: { ca: certPem, servername: 'localhost' } });
    assert.equal(res.status, 200);
  } finally {
    assert.equal((await again.stop()).code, 0);
  }
});

test('--dev may listen on a non-loopback address because it serves HTTPS', async () => {
  const srv = await startAvowd({ args: ['--dev'], listen: '0.0.0.0:0' });
  try {
    assert.match(srv.url, /^https:\/\/localhost:\d+$/);
    const res = await request(`https://127.0.0.1:${srv.port}/healthz`, { tls: { rejectUnauthorized: false } });
    assert.equal(res.status, 200);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
