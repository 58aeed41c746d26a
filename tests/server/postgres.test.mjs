// avowd on PostgreSQL: --database / AVOW_DATABASE_URL select it, /readyz follows the database going down and
// coming back, and `admin export` / `import` move everything SQLite → PostgreSQL → SQLite with equal counts and
// checksums. The PostgreSQL server is started here (tests/lib/postgres.mjs); without PostgreSQL the tests skip,
// unless AVOWTEST_REQUIRE_POSTGRES=1.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startPostgres } from '../lib/postgres.mjs';
import { makeDataDir, removeDataDirs, request, runAvowd, startAvowd } from './helpers.mjs';

let pg = null;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  if (pg) await pg.destroy();
  await removeDataDirs();
});

async function readyz(url) {
  const res = await request(url + '/readyz', { timeoutMs: 15000 });
  return res.status;
}

async function eventually(fn, want, tries = 50) {
  let got;
  for (let i = 0; i < tries; i++) {
    got = await fn();
    if (got === want) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
  return got;
}

test('serve on PostgreSQL: ready, not ready while the database is down, ready again after', async (t) => {
  if (!pg) return t.skip('PostgreSQL not installed');
  const url = await pg.createDatabase('serve_ready');
  const srv = await startAvowd({ args: ['--database', url] });
  try {
    assert.equal(await readyz(srv.url), 200);
    const jwks = await request(srv.url + '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.ok(JSON.parse(jwks.body).keys.length >= 1, 'the key ring lives in PostgreSQL');

    await pg.stop();
    assert.equal(await readyz(srv.url), 503);
    await pg.start();
    assert.equal(await eventually(() => readyz(srv.url), 200), 200, 'healed without a restart');
  } finally {
    await srv.stop();
  }
  assert.doesNotMatch(srv.stderr() + srv.stdout(), /not-a-real-secret/, 'the password is never logged');
});

test('AVOW_DATABASE_URL selects PostgreSQL for admin commands; a bad URL is refused without echoing it', async (t) => {
  if (!pg) return t.skip('PostgreSQL not installed');
  const url = await pg.createDatabase('env_url');
  const dataDir = await makeDataDir();
  const srv = await startAvowd({ dataDir, env: { AVOW_DATABASE_URL: url } });
  await srv.stop();
  const created = await runAvowd(['admin', 'org', 'create', '--name', 'Env Org', '--json', '--data-dir', dataDir], {
    env: { AVOW_DATABASE_URL: url },
  });
  assert.equal(created.code, 0, created.stderr);
  const listed = await runAvowd(['admin', 'org', 'list', '--json', '--data-dir', dataDir, '--database', url]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    JSON.parse(listed.stdout).orgs.map((o) => o.name),
    ['Env Org'],
  );
  // The SQLite file of that data directory was never created: everything went to PostgreSQL.
  await assert.rejects(readFile(join(dataDir, 'avow.db')));

  const bad = await runAvowd(['keys', 'list', '--data-dir', dataDir], {
    env: { AVOW_DATABASE_URL: 'mysql://root:hush-hush@db/avow' },
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /database\.url/);
  assert.doesNotMatch(bad.stderr, /hush-hush/);
});

function summary(result) {
  assert.equal(result.code, 0, result.stderr);
  const s = JSON.parse(result.stdout);
  assert.ok(s.tables.length >= 13);
  return s;
}

test('admin export / import: SQLite → PostgreSQL → SQLite keeps every row, with equal checksums', async (t) => {
  if (!pg) return t.skip('PostgreSQL not installed');
  // A SQLite install with a key ring, an org and an integration.
  const dataDir = await makeDataDir();
  const srv = await startAvowd({ dataDir });
  await srv.stop();
  const org = await runAvowd(['admin', 'org', 'create', '--name', 'Contoso ✓', '--data-dir', dataDir]);
  assert.equal(org.code, 0, org.stderr);
  const integ = await runAvowd([
    'admin', 'integration', 'create', '--org', 'Contoso ✓', '--name', 'Contoso Entra', '--directory-id',
    '11111111-1111-4111-8111-111111111111', '--app-id', '22222222-2222-4222-8222-222222222222', '--data-dir', dataDir,
  ]);
  assert.equal(integ.code, 0, integ.stderr);

  const file1 = join(dataDir, 'sqlite.jsonl');
  const fromSqlite = summary(await runAvowd(['admin', 'export', '--out', file1, '--json', '--data-dir', dataDir]));
  const rows = Object.fromEntries(fromSqlite.tables.map((x) => [x.table, x.rows]));
  assert.equal(rows.orgs, 1);
  assert.equal(rows.integrations, 1);
  assert.ok(rows.signing_keys >= 2);

  // Into PostgreSQL: the same figures, and again when exported from there.
  const url = await pg.createDatabase('moved');
  const intoPg = summary(await runAvowd(['admin', 'import', '--in', file1, '--json', '--database', url, '--data-dir', dataDir]));
  assert.deepEqual(intoPg.tables, fromSqlite.tables);
  const file2 = join(dataDir, 'pg.jsonl');
  const fromPg = summary(await runAvowd(['admin', 'export', '--out', file2, '--json', '--database', url, '--data-dir', dataDir]));
  assert.deepEqual(fromPg.tables, fromSqlite.tables);

  // Importing twice is refused: the target is not empty.
  const again = await runAvowd(['admin', 'import', '--in', file1, '--database', url, '--data-dir', dataDir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not empty/);

  // And back into a new SQLite file.
  const back = join(dataDir, 'back.db');
  const intoSqlite = summary(await runAvowd(['admin', 'import', '--in', file2, '--json', '--database', back, '--data-dir', dataDir]));
  assert.deepEqual(intoSqlite.tables, fromSqlite.tables);

  // The PostgreSQL copy serves: same signing keys published as the SQLite original had.
  const pgSrv = await startAvowd({ dataDir, args: ['--database', url] });
  try {
    assert.equal(await readyz(pgSrv.url), 200);
    const listed = await runAvowd(['admin', 'integration', 'list', '--json', '--database', url, '--data-dir', dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /Contoso Entra/);
  } finally {
    await pgSrv.stop();
  }
});
