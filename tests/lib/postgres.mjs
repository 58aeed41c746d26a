// A throw-away PostgreSQL server for the Node suites, run by tests/unit/store/pg_server.sh (initdb in a
// temporary directory, a free loopback port, the `postgres` user when root; fsync off).
//
//   const pg = await startPostgres();          // null when PostgreSQL is not installed (skip), unless
//   if (!pg) return t.skip('no PostgreSQL');   // AVOWTEST_REQUIRE_POSTGRES=1, which makes it throw
//   const url = await pg.createDatabase('avow_a');   // postgres://postgres@127.0.0.1:PORT/avow_a
//   await pg.stop(); await pg.start();         // a restart, same port
//   after(() => pg.destroy());
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { makeTempDir, run } from './processes.mjs';

const SCRIPT = fileURLToPath(new URL('../unit/store/pg_server.sh', import.meta.url));

export const postgresRequired = () => process.env.AVOWTEST_REQUIRE_POSTGRES === '1';

async function script(args) {
  // cleanEnv drops AVOW_* but keeps AVOWTEST_*, which pg_server.sh reads.
  const r = await run(SCRIPT, args, { timeoutMs: 60000 });
  return r;
}

export async function startPostgres() {
  const parent = await makeTempDir('avow-pg-');
  await chmod(parent, 0o755); // as root the cluster belongs to `postgres`, which must reach it
  const dir = join(parent, 'cluster');
  const first = await script(['start', dir]);
  if (first.code === 3) {
    if (postgresRequired()) throw new Error(`PostgreSQL is required but not installed: ${first.stderr}`);
    return null;
  }
  if (first.code !== 0) throw new Error(`pg_server.sh start failed (${first.code}): ${first.stderr}`);
  const baseUrl = first.stdout.trim();
  const port = Number(new URL(baseUrl).port);
  return {
    dir,
    port,
    baseUrl,
    // A new empty UTF-8 database; its URL (with a password that trust auth ignores, to test redaction).
    async createDatabase(name) {
      const r = await script(['createdb', dir, name]);
      if (r.code !== 0) throw new Error(`createdb ${name} failed: ${r.stderr}`);
      return `postgres://postgres:not-a-real-secret@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      const r = await script(['stop', dir]);
      if (r.code !== 0) throw new Error(`pg_server.sh stop failed: ${r.stderr}`);
    },
    async start() {
      const r = await script(['start', dir]);
      if (r.code !== 0) throw new Error(`pg_server.sh start failed: ${r.stderr}`);
    },
    async destroy() {
      await script(['destroy', dir]);
    },
  };
}
