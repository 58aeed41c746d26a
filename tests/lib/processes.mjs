// Child processes and temporary directories for the Node test suites (server, e2e, browser).
//
//   const dir = await makeTempDir('avowd-test-');
//   const r = await run(bin, ['version']);                 // { code, signal, stdout, stderr }
//   const child = track(spawn(bin, args, { env: cleanEnv({ AVOW_LISTEN: '127.0.0.1:0' }) }));
//   after(removeTempDirs);
//
// Every tracked process is killed when the test file's process exits, so a failed assertion never leaves a
// server running.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tempDirs = [];
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function makeTempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs() {
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

// The parent's environment without AVOW_* (a stray variable would change a process's configuration, and
// avowd refuses unknown ones), plus `extra`.
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AVOW_')) env[k] = v;
  return { ...env, ...extra };
}

// Runs a program to completion: { code, signal, stdout, stderr }. `input` is written to its stdin.
export function run(bin, args, { env = {}, timeoutMs = 30000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(bin, args, { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin.write(input);
    child.stdin.end();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
