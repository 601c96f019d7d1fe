// helpers.js — shared test plumbing: start a `confab` server on a free port with a
// fresh data dir (restartable on the same dir), launch the system Chromium through
// playwright-core, create users over the API, open signed-in pages, collect console
// errors and save screenshots.
//
// Environment:
//   CONFAB_BIN          the server binary (default ../../target/debug/confab)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   CONFAB_CLIENT_DIR   optional: serve the web client from this directory instead of
//                       the copy embedded in the binary (API and WebSocket are proxied
//                       to the server), so client edits can be tested without a rebuild.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.CONFAB_BIN || path.resolve(here, '../../target/debug/confab');
export const SHOTS = path.join(here, 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });

/** Starts `confab serve` on a free port. `dataDir` reuses a directory (for restarts). */
export async function startServer({ dataDir, port = 0, noProxy = false } = {}) {
  const dir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'confab-browser-'));
  const ownsDir = !dataDir;
  const proc = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir], {
    // Cheap password hashes, and room for every test file's sign-ups (all from 127.0.0.1)
    // within the sign-up throttle's burst.
    env: { ...process.env, CONFAB_AUTH_ARGON2_MEMORY_KIB: '256', CONFAB_AUTH_ARGON2_ITERATIONS: '1', CONFAB_AUTH_SIGNUPS_PER_ADDRESS: '100', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${log}`)), 20000);
    const onData = (chunk) => {
      log += chunk.toString();
      // Strip ANSI colour codes before matching.
      const m = /listening on http:\/\/([\d.]+:\d+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  proc.removeAllListeners('exit');
  const stopProc = async (p) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const server = {
    dir,
    addr,
    apiUrl: `http://${addr}`,
    url: `http://${addr}`,
    proc,
    proxy: null,
    async stop() {
      await stopProc(server.proc);
      if (server.proxy) {
        server.proxy.closeAllConnections();
        for (const s of server.proxy.upgraded) s.destroy();
        await new Promise((r) => server.proxy.close(() => r()));
        server.proxy = null;
      }
      // The data dir this call made goes with the server (a restart reuses it).
      if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    },
    /** Stops the server, runs `between` while it is down, then starts it again on the same data dir and port. */
    async restart({ between } = {}) {
      await stopProc(server.proc);
      if (between) await between();
      const port2 = Number(server.addr.split(':')[1]);
      let next;
      for (let i = 0; i < 50; i++) {
        try {
          next = await startServer({ dataDir: dir, port: port2, noProxy: true });
          break;
        } catch (e) {
          if (i === 49) throw e;
          await new Promise((r) => setTimeout(r, 100)); // the port may linger briefly
        }
      }
      Object.assign(server, { proc: next.proc, addr: next.addr, apiUrl: next.apiUrl });
      return server;
    },
  };
  if (process.env.CONFAB_CLIENT_DIR && !noProxy) {
    server.proxy = await startClientProxy(server, 0);
    server.url = `http://127.0.0.1:${server.proxy.address().port}`;
  }
  return server;
}

/** Dev mode: serves CONFAB_CLIENT_DIR and proxies /api (HTTP and WebSocket) to the server. */
function startClientProxy(server, port) {
  const root = path.resolve(process.env.CONFAB_CLIENT_DIR);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const target = () => server.addr.split(':');
  const srv = http.createServer((req, res) => {
    const [host, p] = target();
    if (req.url.startsWith('/api/')) {
      const up = http.request({ host, port: p, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(up);
      return;
    }
    const rel = decodeURIComponent(req.url.split('?')[0]).replace(/^\/+/, '') || 'index.html';
    const file = path.join(root, rel);
    if (!file.startsWith(root)) {
      res.writeHead(404);
      res.end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404);
        res.end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(data);
    });
  });
  srv.upgraded = new Set();
  srv.on('upgrade', (req, sock, head) => {
    srv.upgraded.add(sock);
    sock.on('close', () => srv.upgraded.delete(sock));
    const [host, p] = target();
    const up = net.connect(Number(p), host, () => {
      let s = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) s += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${s}\r\n`);
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

// ---- API helpers ---------------------------------------------------------------------

export async function api(server, method, p, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${server.apiUrl}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  return { status: res.status, data };
}

export async function apiOk(server, method, p, body, token) {
  const r = await api(server, method, p, body, token);
  if (r.status >= 400) throw new Error(`${method} ${p} -> ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

let userCounter = 0;
export async function signup(server, name, extra = {}) {
  const n = ++userCounter;
  const username = `${name.toLowerCase()}${n}`;
  const r = await apiOk(server, 'POST', '/auth/signup', { email: `${username}@example.test`, password: 'correct horse battery', display_name: name, username, ...extra });
  return { ...r.user, token: r.token };
}

/** An owner with a workspace and a member who joined it by invite. */
export async function teamOfTwo(server) {
  const alice = await signup(server, 'Alice');
  const ws = await apiOk(server, 'POST', '/workspaces', { name: 'Acme' }, alice.token);
  const inv = await apiOk(server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  const bob = await signup(server, 'Bob');
  await apiOk(server, 'POST', `/invites/${inv.code}/accept`, undefined, bob.token);
  const channels = (await apiOk(server, 'GET', `/workspaces/${ws.id}/channels`, undefined, alice.token)).channels;
  const general = channels.find((c) => c.name === 'general');
  return { alice, bob, ws, general };
}

// ---- Browser helpers -------------------------------------------------------------------

/** Starts one server and one browser for a test file (before its tests) and stops
 * them after; returns the object whose `server` and `browser` the tests use. */
export function serverAndBrowser() {
  const env = {};
  before(async () => {
    env.server = await startServer();
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// Endpoints the client probes and that may legitimately answer 404 on this server.
const OPTIONAL = /\/api\/v1\/(workspaces\/[^/]+\/(search|emoji\/suggest|channels\/suggested|consent)|consent\/)/;

/**
 * A new browser context + page. Collects console errors (except the expected 404s of
 * optional endpoints), page errors and dialogs in `page.problems`. `setup(context)`
 * runs before the page loads (e.g. to route its WebSocket).
 */
export async function openPage(browser, server, { user, viewport = { width: 1280, height: 800 }, hash = '', colorScheme = 'light', setup } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  if (setup) await setup(context);
  if (user) {
    await context.addInitScript(([token]) => {
      if (!sessionStorage.getItem('confab.test.init')) {
        localStorage.setItem('confab.token', token);
        sessionStorage.setItem('confab.test.init', '1');
      }
    }, [user.token]);
  }
  const page = await context.newPage();
  page.problems = [];
  const missing404 = new Set();
  page.on('response', (r) => {
    if (r.status() === 404 && OPTIONAL.test(r.url())) missing404.add(r.url());
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location() && msg.location().url;
    if (/Failed to load resource/.test(msg.text()) && loc && (OPTIONAL.test(loc) || missing404.has(loc))) return;
    page.problems.push(`console: ${msg.text()} ${loc || ''}`);
  });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    page.problems.push(`dialog: ${d.type()} ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(`${server.url}/${hash}`);
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** Whether an optional endpoint exists (anything but 404 `not_found`). */
export async function hasEndpoint(server, p, token) {
  const r = await api(server, 'GET', p, undefined, token);
  return !(r.status === 404 && r.data && r.data.error && r.data.error.code === 'not_found');
}

/** Signs in through the sign-in screen (switching to it from sign-up if needed). */
export async function signInThroughUi(page, user) {
  const signIn = page.getByRole('heading', { name: 'Sign in' });
  const signUp = page.getByRole('heading', { name: 'Create your account' });
  await signIn.or(signUp).first().waitFor();
  if (await signUp.isVisible()) await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signIn.waitFor();
  await page.getByLabel('Email').fill(user.email || `${user.username}@example.test`);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.locator('form').getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** The keys of this page's localStorage that start with `prefix`. */
export async function storageKeys(page, prefix) {
  return page.evaluate((p) => Object.keys(localStorage).filter((k) => k.startsWith(p)), prefix);
}

/** Waits until fn() is truthy (polling), for server-side assertions. */
export async function until(fn, { timeout = 10000, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${message}: ${last}`);
}
