// Shared helpers for the avowd server tests (node:test, no npm packages).
//
//   const srv = await startAvowd({ env: { AVOW_LIMITS_HEADER_TIMEOUT: '1s' } });
//   const res = await request(srv.url + '/healthz');
//   await srv.stop();               // SIGTERM, resolves with { code, signal }
//
// The binary comes from AVOWD_BIN (set by CTest). Every server listens on 127.0.0.1:0 and prints the
// port it bound; every server gets its own temporary data directory unless one is given.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

import { cleanEnv, makeTempDir, removeTempDirs, run, track } from '../lib/processes.mjs';

export const AVOWD = process.env.AVOWD_BIN;
if (!AVOWD) throw new Error('AVOWD_BIN must point at the avowd binary');

export const makeDataDir = () => makeTempDir('avowd-test-');
export const removeDataDirs = removeTempDirs;
export { cleanEnv };

// Runs avowd to completion: { code, signal, stdout, stderr }.
export function runAvowd(args, options = {}) {
  return run(AVOWD, args, options);
}

// Starts `avowd serve` and resolves once it prints the URL it listens on.
export async function startAvowd({ args = [], env = {}, dataDir, listen = '127.0.0.1:0' } = {}) {
  const dir = dataDir ?? (await makeDataDir());
  const child = track(
    spawn(AVOWD, ['serve', '--data-dir', dir, '--listen', listen, ...args], {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`avowd did not start in time\n${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /avowd listening on (https?:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`avowd exited (code ${code}, signal ${signal}) before listening\n${stderr}`));
    });
  });
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    dataDir: dir,
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    // Sends `signal` and waits for the exit; kills after `timeoutMs`.
    async stop(signal = 'SIGTERM', timeoutMs = 20000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

// One HTTP(S) request on a fresh connection: { status, headers, body, socket info }.
export function request(url, { method = 'GET', headers = {}, body, tls = {}, timeoutMs = 10000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method, headers, agent: false, timeout: timeoutMs, ...tls },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            peerCertificate: res.socket.getPeerCertificate ? res.socket.getPeerCertificate() : undefined,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export async function getJson(url, opts) {
  const res = await request(url, opts);
  return { ...res, json: JSON.parse(res.body) };
}

// A raw TCP conversation: connect, write `chunks` (strings/Buffers, or functions returning promises for
// pauses), and collect everything the server sends until it closes or `timeoutMs` passes.
// Resolves { data, closed, error, elapsedMs } — `closed` is true when the server ended the connection.
export function rawExchange(port, chunks, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const received = [];
    let settled = false;
    const finish = (closed, error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received).toString('latin1'), closed, error, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d) => received.push(d));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (e) => finish(true, e));
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (typeof c === 'function') await c();
        else if (!socket.destroyed) socket.write(c);
      }
    });
  });
}

// An open socket that stays connected until closed by the caller; `responses()` gives what arrived.
export function openSocket(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let closed = false;
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({
        socket,
        data: () => data,
        closed: () => closed,
        write: (s) => socket.write(s),
        close: () => socket.destroy(),
      }),
    );
    socket.once('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `predicate` every 20 ms until it is true or `timeoutMs` passes; returns its last value.
export async function waitFor(predicate, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v || Date.now() > end) return v;
    await sleep(20);
  }
}

// Splits raw HTTP/1.1 responses (Content-Length framed) into [{ status, headers, body }].
export function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
  return out;
}

// Parses the JSON log lines avowd wrote to stderr.
export function logLines(stderr) {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}
