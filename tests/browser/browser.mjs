// Real-browser helpers: headless Chromium driven by playwright-core, watched the way a person (and a
// security reviewer) would watch it — every console error, page error and CSP violation is recorded, no
// request may leave loopback, and each page state is saved as a screenshot.
//
//   const browser = await launchBrowser();          // null (and `skipReason()` says why) when absent
//   const s = await openSession(browser, 'first-sign-in');
//   s.interceptMicrosoft();                         // capture posts to login.microsoftonline.com
//   await s.page.goto(url);
//   await s.shot('mfa-scancode');                   // <artifacts>/first-sign-in-01-mfa-scancode.png
//   assert.deepEqual(s.problems(), []);             // no console errors, page errors, CSP violations
//   await s.close();
//
// The browser is /usr/bin/chromium (Debian's `chromium` package). Without it the suite skips, unless
// AVOW_REQUIRE_BROWSER is set (CI sets it), in which case the missing browser is a failure.
// Screenshots go to AVOW_ARTIFACTS_DIR (CTest: <build>/test-artifacts/browser), else a temporary directory.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

import jsQR from 'jsqr';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

// Flags for a quiet, hermetic headless Chromium: no sandbox (containers run as root), no GPU, no QUIC,
// and none of the background traffic (updates, sync, field trials) a fresh profile would start.
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Why the suite cannot run here, or null when it can. Throws when the browser is required but missing.
export function skipReason() {
  if (existsSync(CHROMIUM)) return null;
  if (process.env.AVOW_REQUIRE_BROWSER)
    throw new Error(`AVOW_REQUIRE_BROWSER is set but ${CHROMIUM} is missing (apt-get install chromium)`);
  return `${CHROMIUM} not found: install Debian's chromium package to run the browser tests`;
}

export async function launchBrowser() {
  if (skipReason()) return null;
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

let artifacts;
// The screenshot directory (created on first use).
export async function artifactsDir() {
  if (!artifacts) {
    artifacts = process.env.AVOW_ARTIFACTS_DIR || (await mkdtemp(join(tmpdir(), 'avow-browser-artifacts-')));
    await mkdir(artifacts, { recursive: true });
  }
  return artifacts;
}

export function isLoopbackUrl(url) {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol === 'about:' || u.protocol === 'data:' || u.protocol === 'blob:') return true;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

// Installed in every document before its own scripts: reports CSP violations to the test.
const CSP_WATCH = `document.addEventListener('securitypolicyviolation', function (e) {
  window.__avowCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, page: document.location.href,
                              sample: e.sample || '' });
});`;

// A fresh browser context (its own cookies and storage, like a new private window) with one page.
export async function openSession(browser, name) {
  const dir = await artifactsDir();
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // avowd --dev serves a self-signed certificate
    viewport: { width: 1024, height: 800 },
    locale: 'en-US',
  });
  const consoleErrors = [];
  const pageErrors = [];
  const cspViolations = [];
  const offLoopback = [];
  const microsoftPosts = [];
  let onMicrosoftPost = null;

  await context.exposeBinding('__avowCspViolation', (_source, v) => cspViolations.push(v));
  await context.addInitScript(CSP_WATCH);
  // Nothing may leave the machine: a request to any host but loopback is aborted and recorded — except
  // Microsoft's redirect URIs once `interceptMicrosoft()` is on, which are answered here.
  await context.route(
    (url) => !isLoopbackUrl(url),
    async (route) => {
      const req = route.request();
      const host = new URL(req.url()).hostname;
      if (onMicrosoftPost && host === 'login.microsoftonline.com' && req.method() === 'POST') {
        const post = { url: req.url(), body: req.postData() ?? '', headers: req.headers() };
        microsoftPosts.push(post);
        onMicrosoftPost(post);
        await route.fulfill({
          status: 200,
          contentType: 'text/html; charset=utf-8',
          body:
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Microsoft (intercepted)</title></head>' +
            '<body><h1 data-testid="intercepted">Microsoft received the answer</h1>' +
            '<p>This page stands in for login.microsoftonline.com; the test captured the form_post.</p></body></html>',
        });
        return;
      }
      offLoopback.push(`${req.method()} ${req.url()}`);
      await route.abort('blockedbyclient');
    },
  );

  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} @ ${msg.location()?.url ?? page.url()}`);
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  // A page the browser navigated to that answered with an error status: waits end at once on it.
  let refuseNavigation;
  const failedNavigation = new Promise((_, reject) => {
    refuseNavigation = reject;
  });
  failedNavigation.catch(() => {}); // observed only by those who wait on it
  page.on('response', (res) => {
    if (res.status() >= 400 && res.request().isNavigationRequest() && res.frame() === page.mainFrame())
      refuseNavigation(new Error(`${res.request().method()} ${res.url()} answered ${res.status()}`));
  });

  let shots = 0;
  const session = {
    name,
    context,
    page,
    microsoftPosts,
    // Resolves with the next POST the browser makes to login.microsoftonline.com: { url, body, headers }.
    interceptMicrosoft() {
      return new Promise((resolve) => {
        onMicrosoftPost = resolve;
      });
    },
    // Rejects once a page the browser navigated to answers 4xx/5xx (never resolves).
    failedNavigation,
    // A full-page screenshot: returns its path.
    async shot(step) {
      shots += 1;
      const path = join(dir, `${name}-${String(shots).padStart(2, '0')}-${step}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    // Everything a careful person would object to, as strings; [] when the pages behaved.
    problems() {
      return [
        ...consoleErrors.map((e) => `console error: ${e}`),
        ...pageErrors.map((e) => `page error: ${e}`),
        ...cspViolations.map((v) => `CSP violation: ${v.directive} blocked ${v.blocked || '(inline)'} on ${v.page}`),
        ...offLoopback.map((r) => `request left loopback: ${r}`),
      ];
    },
    close: () => context.close(),
  };
  return session;
}

// ---- PNG → RGBA, for reading the QR code back from a screenshot -------------------------------------------

// Decodes a non-interlaced 8-bit PNG (greyscale, grey+alpha, RGB or RGBA: what Chromium writes) to
// { width, height, data: Uint8ClampedArray RGBA }. Throws on anything else.
export function decodePng(buf) {
  const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = 0;
  let interlace = 0;
  const idat = [];
  for (let at = 8; at + 8 <= buf.length; ) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    at += 12 + length; // length, type, data, CRC
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8];
      colorType = data[9];
      interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (!width || !height || bitDepth !== 8 || !channels || interlace !== 0)
    throw new Error(
      `unsupported PNG: ${width}x${height} depth ${bitDepth} colour type ${colorType} interlace ${interlace}`,
    );
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error('truncated PNG image data');

  // Undo the per-row filters (PNG spec §9): each row starts with its filter type.
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[row + x - channels] : 0;
      const b = y > 0 ? pixels[prev + x] : 0;
      const c = x >= channels && y > 0 ? pixels[prev + x - channels] : 0;
      let v = raw[src + x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`bad PNG filter ${filter} on row ${y}`);
      }
      pixels[row + x] = v & 0xff;
    }
  }

  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    const o = i * 4;
    if (channels === 1 || channels === 2) {
      rgba[o] = rgba[o + 1] = rgba[o + 2] = pixels[j];
      rgba[o + 3] = channels === 2 ? pixels[j + 1] : 255;
    } else {
      rgba[o] = pixels[j];
      rgba[o + 1] = pixels[j + 1];
      rgba[o + 2] = pixels[j + 2];
      rgba[o + 3] = channels === 4 ? pixels[j + 3] : 255;
    }
  }
  return { width, height, data: rgba };
}

// The text of the QR code in a PNG image, or null when none is found.
export function readQr(png) {
  const { width, height, data } = decodePng(png);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data ?? null;
}
